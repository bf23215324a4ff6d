"""python -m infra plan | up | status | down | policy | push-image | users  [--region R] ...

The parser (texts in infra/cli_help.py) and the dispatch of each command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from engine.errors import BacktestError, InfraError
from infra import dashboard_cli, stack
from infra.actions import Action, Waiter, apply
from infra.cli_help import DESCRIPTION, EPILOG, EXAMPLES
from infra.clients import Clients, make_clients
from infra.config import DEFAULT_SIZES, StackConfig, parse_size
from infra.outputs import config_path, write_settings
from infra.regions import partition_for
from jobs.settings import load_settings

COMMANDS = {
    "plan": "print every change `up` (same flags, --dashboard too) would make; read calls only",
    "up": "create or update the stack (and with --dashboard the hosted dashboard), then write "
    "its settings to the config file",
    "status": "show each resource and its state, the hosted dashboard's health included",
    "down": "delete the stack and the hosted dashboard (buckets and Cognito users only with "
    "--delete-data)",
    "policy": "print the IAM policy the dashboard's user or role needs",
    "push-image": "build the engine image (or with --dashboard the dashboard's) for linux/amd64, "
    "locally or --remote in CodeBuild, push it to ECR",
    "users": "invite a colleague to the hosted dashboard (Cognito): users add EMAIL",
}
STACK_OPTIONS = ("plan", "up", "push-image")  # commands that (re)register resources
DEFAULTS = {
    "max_vcpus": 16,
    "size": [],
    "subnets": "",
    "security_group": "",
    "versioning": False,
    "expire_days": 90,
    "log_retention_days": 30,
    "keep_images": 10,
    "attempts": None,
    "delete_data": False,
    "remote": False,
    "dashboard": False,
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--region", metavar="R", help="AWS region (default: the settings' region, else us-east-1)"
    )
    p.add_argument(
        "--prefix",
        default="backtest",
        metavar="NAME",
        help="names every resource, so several stacks fit in one account (default backtest)",
    )


def _stack_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-vcpus", type=int, default=16, metavar="N", help="per compute environment (16)"
    )
    p.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="KIND=VCPU:MEMORY",
        help="job size, KIND run|sweep|collect (defaults run=1:2048 sweep=1:2048 collect=1:4096)",
    )
    p.add_argument(
        "--subnets", default="", metavar="a,b", help="subnet ids (default: the default VPC's)"
    )
    p.add_argument(
        "--security-group",
        default="",
        metavar="sg-x",
        help="the jobs' security group (needs --subnets; default: one `up` creates)",
    )
    p.add_argument("--versioning", action="store_true", help="turn on bucket versioning")
    p.add_argument(
        "--expire-days",
        type=int,
        default=90,
        metavar="N",
        help="expire results under runs/ and sweeps/ after N days (90; 0: never)",
    )
    p.add_argument(
        "--log-retention-days",
        type=int,
        default=30,
        metavar="N",
        help="CloudWatch retention of the job logs (30)",
    )
    p.add_argument("--keep-images", type=int, default=10, metavar="N", help="ECR images kept (10)")
    p.add_argument(
        "--attempts",
        type=int,
        metavar="N",
        help="attempts per job before it fails (default: max(3, the attempts setting))",
    )


def build_parser() -> argparse.ArgumentParser:
    """The CLI: one subcommand each, with its own options and --help."""
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="python -m infra", description=DESCRIPTION, epilog=EPILOG, formatter_class=raw
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        cmd = sub.add_parser(
            name, help=text, description=text, epilog=EXAMPLES[name], formatter_class=raw
        )
        _common(cmd)
        if name in STACK_OPTIONS:
            _stack_options(cmd)
        if name in ("plan", "up"):
            dashboard_cli.add_up_flags(cmd)
        if name == "down":
            cmd.add_argument(
                "--delete-data",
                action="store_true",
                help="delete the buckets (and the dashboard's Cognito users) too",
            )
        if name == "users":
            cmd.add_argument("action", choices=["add"], metavar="add", help="invite by e-mail")
            cmd.add_argument("email", help="the colleague's e-mail address")
        if name == "push-image":
            cmd.add_argument(
                "--remote",
                action="store_true",
                help="build in AWS CodeBuild (project <prefix>-image-build, with --dashboard "
                "<prefix>-dashboard-build) instead of the local docker daemon",
            )
            cmd.add_argument(
                "--dashboard",
                action="store_true",
                help="build infra/dashboard.Dockerfile into <prefix>-dashboard instead (deploy it "
                "with up --dashboard ...)",
            )
    return p


def _opt(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, DEFAULTS.get(name))


def stack_config(args: argparse.Namespace, account: str, region: str) -> StackConfig:
    """Combine arguments and settings into a validated StackConfig for ``region``."""
    settings = load_settings()
    partition = partition_for(region)
    sizes = dict(DEFAULT_SIZES)
    sizes.update(parse_size(text) for text in _opt(args, "size"))
    group = _opt(args, "security_group")
    cfg = StackConfig(
        prefix=args.prefix,
        region=region,
        account=account,
        max_vcpus=_opt(args, "max_vcpus"),
        sizes=sizes,
        subnets=tuple(s for s in _opt(args, "subnets").split(",") if s),
        security_groups=(group,) if group else (),
        versioning=_opt(args, "versioning"),
        expire_days=_opt(args, "expire_days"),
        log_retention_days=_opt(args, "log_retention_days"),
        keep_images=_opt(args, "keep_images"),
        job_timeout=settings.job_timeout,
        attempts=_opt(args, "attempts") or max(3, settings.attempts),
        partition=partition.name,
        dns_suffix=partition.dns_suffix,
    )
    return cfg.validate()


def _summary(actions: list[Action]) -> str:
    counts = {v: sum(a.verb == v for a in actions) for v in ("create", "update", "delete", "noop")}
    return (
        f"{counts['create']} to create, {counts['update']} to update, "
        f"{counts['delete']} to delete, {counts['noop']} unchanged"
    )


def _outputs_text(cfg: StackConfig) -> str:
    return ", ".join(f"{k}={v}" for k, v in stack.outputs(cfg).items())


def _plan(args: argparse.Namespace, clients: Clients, cfg: StackConfig, waiter: Waiter) -> None:
    """Print what `up` (with the same flags) would do; only read calls are made."""
    oidc = dashboard_cli.prepare(clients, args) if args.dashboard else None
    actions = stack.plan(clients, cfg, waiter)
    for action in actions:
        print(action.line())
    print(_summary(actions))
    print(f"up would write {config_path()}: {_outputs_text(cfg)}")
    if oidc is not None:
        actions = dashboard_cli.plan(clients, cfg, args, oidc)
        for action in actions:
            print(action.line())
        print(f"dashboard: {_summary(actions)}")


def run_command(args: argparse.Namespace, clients: Clients, cfg: StackConfig) -> int:
    """Dispatch one command; return the exit code."""
    waiter = Waiter()
    if args.command == "plan":
        _plan(args, clients, cfg, waiter)
    elif args.command == "up":
        oidc = dashboard_cli.prepare(clients, args) if args.dashboard else dashboard_cli.OidcLogin()
        ran = stack.up(clients, cfg, waiter, print)
        write_settings(config_path(), stack.outputs(cfg))
        print("nothing to change" if ran == 0 else f"applied {ran} changes")
        print(f"wrote {config_path()}: {_outputs_text(cfg)}")
        print("point the dashboard at it: BACKTEST_BACKEND=aws (set in that file)")
        if args.dashboard:
            ran = dashboard_cli.up(clients, cfg, args, oidc, print)
            print("dashboard: nothing to change" if ran == 0 else f"dashboard: applied {ran}")
    elif args.command == "users":
        print(dashboard_cli.add_user(clients, cfg, args.email))
    elif args.command == "status":
        rows = stack.status(clients, cfg) + dashboard_cli.status(clients, cfg)
        width = max(len(r[0]) for r in rows)
        for kind, name, state in rows:
            print(f"{kind:<{width}}  {name}  {state}")
    elif args.command == "down":
        ran = dashboard_cli.down(clients, cfg, _opt(args, "delete_data"), print)
        actions = stack.teardown(clients, cfg, waiter, _opt(args, "delete_data"))
        ran += apply(actions, print)
        for action in actions:
            if not action.changes:
                print(action.line())
        print("nothing to delete" if ran == 0 else f"deleted {ran} resources")
    elif args.command == "policy":
        from infra.policy import check_created, dashboard_policy

        check_created(clients, cfg)
        print(json.dumps(dashboard_policy(cfg), indent=2))
    else:
        _push_image(args, clients, cfg)
    return 0


def _push_image(args: argparse.Namespace, clients: Clients, cfg: StackConfig) -> None:
    if args.dashboard:
        dashboard_cli.push_image(clients, cfg, print, remote=_opt(args, "remote"))
        return
    from infra.image import push

    push(clients, cfg, print, remote=_opt(args, "remote"))


def _aws_error(exc: Exception) -> InfraError:
    if isinstance(exc, NoCredentialsError):
        return InfraError(
            "no AWS credentials found; run `aws configure` or set AWS_PROFILE / AWS_ACCESS_KEY_ID"
        )
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        op = exc.operation_name
        return InfraError(f"AWS {op} failed: {err.get('Code')}: {err.get('Message')}")
    return InfraError(f"AWS call failed: {exc}")


def main(argv: Sequence[str] | None = None, clients: Clients | None = None) -> int:
    """Entry point; ``clients`` may be given (tests), else created here once."""
    args = build_parser().parse_args(argv)
    try:
        try:
            if args.command in ("plan", "up"):
                dashboard_cli.check_flags(args)  # before any AWS call
            region = clients.region if clients else args.region or load_settings().region
            partition_for(region)  # an unsupported region is refused before any AWS call
            if clients is None:
                clients = make_clients(region)
            account = str(clients.sts.get_caller_identity()["Account"])
            return run_command(args, clients, stack_config(args, account, region))
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(exc) from None
    except (BacktestError, InfraError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
