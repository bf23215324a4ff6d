"""The hosted dashboard, composed: roles, security groups, login, load balancer, ECS service.

:func:`up` applies in stages, each planned after the previous one is applied (a later stage
needs the ids an earlier one creates: the load balancer's security group, the target group,
the load balancer's ARN for the app's token check); :func:`down` removes it all (the Cognito
pool only with ``delete_data``). :func:`plan` lists the same stages without applying them
(``python -m infra plan --dashboard ...``). ``python -m infra up --dashboard ...`` reaches it
through infra/dashboard_cli.py (which checks the flags, the certificate and the login first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InfraError
from infra import cognito, dashboard_ecs, dashboard_iam, dashboard_lb, dashboard_net
from infra.actions import Action, apply
from infra.config import StackConfig
from infra.network import find_group

PORT = 8501


@dataclass(frozen=True)
class DashboardOptions:
    """The command line's choices."""

    domain: str
    certificate_arn: str
    image: str
    repository_arn: str
    vpc: str
    subnets: tuple[str, ...]
    allow_cidr: str = "0.0.0.0/0"
    cognito: bool = True
    oidc: Mapping[str, Any] = field(default_factory=dict)  # AuthenticateOidcConfig when not
    secret_version: str = ""  # the OIDC client secret's Secrets Manager version
    env: Mapping[str, str] = field(default_factory=dict)  # the app's BACKTEST_* settings


@dataclass(frozen=True)
class Clients:
    """The service clients the dashboard needs (one region)."""

    iam: Any
    ec2: Any
    idp: Any
    elbv2: Any
    ecs: Any
    logs: Any


def name_of(cfg: StackConfig) -> str:
    return f"{cfg.prefix}-dash"


def _auth_action(
    c: Clients, cfg: StackConfig, opts: DashboardOptions, planning: bool
) -> dict[str, Any]:
    if not opts.cognito:
        return {"Type": "authenticate-oidc", "AuthenticateOidcConfig": dict(opts.oidc)}
    try:
        return cognito.login(c.idp, name_of(cfg)).action()
    except InfraError:
        if not planning:
            raise
        # plan: the pool an earlier stage would create does not exist yet
        return cognito.Login("(the user pool up creates)", "(its app client)", "").action()


def _group_id(c: Clients, vpc: str, name: str) -> str:
    group = find_group(c.ec2, vpc, name)
    return str(group["GroupId"]) if group else ""


def _stages(
    c: Clients, cfg: StackConfig, opts: DashboardOptions, planning: bool = False
) -> list[Callable[[], list[Action]]]:
    name = name_of(cfg)
    log_group = f"/ecs/{name}"

    def first() -> list[Action]:
        actions = dashboard_iam.plan(c.iam, cfg, opts.repository_arn, log_group)
        actions.append(dashboard_net.lb_group_actions(c.ec2, opts.vpc, name, opts.allow_cidr))
        actions.append(dashboard_net.task_group_actions(c.ec2, opts.vpc, name, PORT))
        if opts.cognito:
            actions += cognito.plan(c.idp, name, opts.domain, f"{name}-{cfg.account}")
        return actions

    def second() -> list[Action]:
        spec = dashboard_lb.LbSpec(
            name,
            opts.vpc,
            opts.subnets,
            _group_id(c, opts.vpc, f"{name}-lb"),
            opts.certificate_arn,
            _auth_action(c, cfg, opts, planning),
            PORT,
            secret_version=opts.secret_version,
        )
        return dashboard_lb.plan(c.elbv2, spec)

    def third() -> list[Action]:
        lb = dashboard_lb.find_load_balancer(c.elbv2, name)
        tg = dashboard_lb.find_target_group(c.elbv2, name)
        role = f"arn:aws:iam::{cfg.account}:role/"
        env = {
            **opts.env,
            "BACKTEST_ALB_ARN": str(lb["LoadBalancerArn"]) if lb else "",
            "BACKTEST_STACK": cfg.prefix,
        }
        spec = dashboard_ecs.ServiceSpec(
            name=name,
            image=opts.image,
            task_role_arn=role + dashboard_iam.task_role(cfg),
            execution_role_arn=role + dashboard_iam.execution_role(cfg),
            subnets=opts.subnets,
            security_group=_group_id(c, opts.vpc, f"{name}-tasks"),
            target_group_arn=str(tg["TargetGroupArn"]) if tg else "",
            region=cfg.region,
            env=env,
            port=PORT,
        )
        return dashboard_ecs.plan(c.ecs, c.logs, spec)

    return [first, second, third]


def plan(c: Clients, cfg: StackConfig, opts: DashboardOptions) -> list[Action]:
    """What :func:`up` would do, read-only: every stage planned against what exists now (a
    resource an earlier stage would create is planned as created; its id is not known yet)."""
    return [action for stage in _stages(c, cfg, opts, planning=True) for action in stage()]


def up(
    c: Clients, cfg: StackConfig, opts: DashboardOptions, echo: Callable[[str], None]
) -> tuple[int, str, str]:
    """Apply every stage; return (changes made, the URL, the CNAME line to create)."""
    count = sum(apply(stage(), echo) for stage in _stages(c, cfg, opts))
    lb = dashboard_lb.find_load_balancer(c.elbv2, name_of(cfg))
    target = str(lb["DNSName"]) if lb else "(no load balancer)"
    return count, f"https://{opts.domain}/", f"{opts.domain}. CNAME {target}."


def down(
    c: Clients, cfg: StackConfig, vpc: str, delete_data: bool, echo: Callable[[str], None]
) -> int:
    """Remove the service, load balancer, groups and roles (the Cognito pool if asked)."""
    name = name_of(cfg)
    count = apply(dashboard_ecs.teardown(c.ecs, c.logs, name), echo)
    count += apply(dashboard_lb.teardown(c.elbv2, name), echo)
    count += apply(dashboard_net.teardown(c.ec2, vpc, name), echo)
    count += apply(dashboard_iam.teardown(c.iam, cfg), echo)
    return count + apply(cognito.teardown(c.idp, name, delete_data), echo)
