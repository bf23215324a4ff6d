"""python -m infra plan | up | status | down | policy | push-image  [--region R] [--prefix NAME]"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from engine.errors import BacktestError, InfraError
from infra import stack
from infra.actions import Action, Waiter, apply
from infra.clients import Clients, make_clients
from infra.config import DEFAULT_SIZES, StackConfig, parse_size
from infra.outputs import config_path, write_settings
from jobs.settings import load_settings

COMMANDS = ("plan", "up", "status", "down", "policy", "push-image")


def build_parser() -> argparse.ArgumentParser:
    """The CLI's arguments (shared by every command)."""
    p = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--region", help="AWS region (default: settings' region, us-east-1)")
    p.add_argument("--prefix", default="backtest", help="names every resource (default backtest)")
    p.add_argument("--max-vcpus", type=int, default=16, help="per compute environment")
    p.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="KIND=VCPU:MEMORY",
        help="job size, KIND run|sweep|collect (defaults run=1:2048 sweep=1:2048 collect=1:4096)",
    )
    p.add_argument("--subnets", default="", help="comma-separated subnet ids (default VPC's)")
    p.add_argument("--security-group", default="", help="security group id (default VPC's)")
    p.add_argument("--versioning", action="store_true", help="turn on bucket versioning")
    p.add_argument("--expire-days", type=int, default=90, help="expire runs/ sweeps/ (0: never)")
    p.add_argument("--log-retention-days", type=int, default=30)
    p.add_argument("--keep-images", type=int, default=10, help="ECR images kept")
    p.add_argument("--attempts", type=int, help="attempts per job (default: max(3, settings))")
    p.add_argument("--delete-data", action="store_true", help="down: delete the buckets too")
    return p


def stack_config(args: argparse.Namespace, account: str) -> StackConfig:
    """Combine arguments and settings into a validated StackConfig."""
    settings, _ = load_settings()
    sizes = dict(DEFAULT_SIZES)
    sizes.update(parse_size(text) for text in args.size)
    cfg = StackConfig(
        prefix=args.prefix,
        region=args.region or settings.region,
        account=account,
        max_vcpus=args.max_vcpus,
        sizes=sizes,
        subnets=tuple(s for s in args.subnets.split(",") if s),
        security_groups=(args.security_group,) if args.security_group else (),
        versioning=args.versioning,
        expire_days=args.expire_days,
        log_retention_days=args.log_retention_days,
        keep_images=args.keep_images,
        job_timeout=settings.job_timeout,
        attempts=args.attempts or max(3, settings.attempts),
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


def run_command(args: argparse.Namespace, clients: Clients, cfg: StackConfig) -> int:
    """Dispatch one command; return the exit code."""
    waiter = Waiter()
    if args.command == "plan":
        actions = stack.plan(clients, cfg, waiter)
        for action in actions:
            print(action.line())
        print(_summary(actions))
        print(f"up would write {config_path()}: {_outputs_text(cfg)}")
    elif args.command == "up":
        ran = stack.up(clients, cfg, waiter, print)
        write_settings(config_path(), stack.outputs(cfg))
        print("nothing to change" if ran == 0 else f"applied {ran} changes")
        print(f"wrote {config_path()}: {_outputs_text(cfg)}")
        print("point the dashboard at it: BACKTEST_BACKEND=aws (set in that file)")
    elif args.command == "status":
        rows = stack.status(clients, cfg)
        width = max(len(r[0]) for r in rows)
        for kind, name, state in rows:
            print(f"{kind:<{width}}  {name}  {state}")
    elif args.command == "down":
        actions = stack.teardown(clients, cfg, waiter, args.delete_data)
        ran = apply(actions, print)
        for action in actions:
            if not action.changes:
                print(action.line())
        print("nothing to delete" if ran == 0 else f"deleted {ran} resources")
    elif args.command == "policy":
        from infra.policy import check_created, dashboard_policy

        check_created(clients, cfg)
        print(json.dumps(dashboard_policy(cfg), indent=2))
    else:
        from infra.image import push

        push(clients, cfg, print)
    return 0


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
            if clients is None:
                region = args.region or load_settings()[0].region
                clients = make_clients(region)
            account = str(clients.sts.get_caller_identity()["Account"])
            cfg = replace(stack_config(args, account), region=clients.region)
            return run_command(args, clients, cfg)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(exc) from None
    except (BacktestError, InfraError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
