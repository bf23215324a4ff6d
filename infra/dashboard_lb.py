"""The hosted dashboard's Application Load Balancer: target group, load balancer, listeners.

HTTPS:443 on the given certificate runs the authenticate action (Cognito or OIDC) and then
forwards to the target group, for every path (the listener's default actions; no rules);
HTTP:80 answers 301 to HTTPS. The load balancer's idle timeout is 300 s (Streamlit holds a
WebSocket open); the target group checks ``/_stcore/health`` and keeps a user on one task with
load-balancer-cookie stickiness (an upload's chunks must reach the session that asked).

Idempotence: each resource is compared with what exists on the keys this module sets (AWS adds
defaults); only a difference is an action. AWS never returns an OIDC client secret, so the
HTTPS listener carries the tag ``backtest:oidc-secret-version`` = the Secrets Manager version
whose value it was given: a rotated secret (a new version) is pushed by the next ``up``, an
unchanged one is not. Reached through infra/dashboard.py (``python -m infra up --dashboard``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from infra.actions import Action, noop

HEALTH_PATH = "/_stcore/health"
TG_ATTRIBUTES = {
    "stickiness.enabled": "true",
    "stickiness.type": "lb_cookie",
    "stickiness.lb_cookie.duration_seconds": "86400",
}
WRITE_ONLY = ("ClientSecret",)
SECRET_TAG = "backtest:oidc-secret-version"
REDIRECT = {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}


@dataclass(frozen=True)
class LbSpec:
    """What the load balancer must look like."""

    name: str  # of the load balancer and the target group (<= 32 characters)
    vpc: str
    subnets: tuple[str, ...]
    security_group: str
    certificate_arn: str
    auth: Mapping[str, Any] = field(default_factory=dict)  # the authenticate action, no Order
    port: int = 8501
    idle_timeout: int = 300
    secret_version: str = ""  # the OIDC secret's Secrets Manager version ("" for Cognito)

    def tags(self) -> list[dict[str, str]]:
        """The HTTPS listener's tags: which secret version it holds (none for Cognito)."""
        return [{"Key": SECRET_TAG, "Value": self.secret_version}] if self.secret_version else []


def find_load_balancer(elbv2: Any, name: str) -> dict[str, Any] | None:
    """The load balancer named ``name``, or None."""
    try:
        found = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "LoadBalancerNotFound":
            return None
        raise
    return dict(found[0]) if found else None


def find_target_group(elbv2: Any, name: str) -> dict[str, Any] | None:
    """The target group named ``name``, or None."""
    try:
        found = elbv2.describe_target_groups(Names=[name])["TargetGroups"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TargetGroupNotFound":
            return None
        raise
    return dict(found[0]) if found else None


def _covers(have: Any, want: Any) -> bool:
    """True when every key ``want`` sets has that value in ``have`` (secrets not compared)."""
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return False
        return all(k in WRITE_ONLY or _covers(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return False
        return all(_covers(h, w) for h, w in zip(have, want, strict=True))
    return bool(have == want)


def https_actions(spec: LbSpec, target_group_arn: str) -> list[dict[str, Any]]:
    """Authenticate, then forward: the HTTPS listener's default actions."""
    forward = {"Type": "forward", "Order": 2, "TargetGroupArn": target_group_arn}
    return [{**spec.auth, "Order": 1}, forward]


def _attributes(items: list[dict[str, str]]) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in items}


def _target_group_actions(elbv2: Any, spec: LbSpec) -> list[Action]:
    def set_attributes() -> None:
        arn = find_target_group(elbv2, spec.name)
        attrs = [{"Key": k, "Value": v} for k, v in TG_ATTRIBUTES.items()]
        elbv2.modify_target_group_attributes(TargetGroupArn=_arn(arn), Attributes=attrs)

    def create() -> None:
        elbv2.create_target_group(
            Name=spec.name,
            Protocol="HTTP",
            Port=spec.port,
            VpcId=spec.vpc,
            TargetType="ip",
            HealthCheckProtocol="HTTP",
            HealthCheckPath=HEALTH_PATH,
            Matcher={"HttpCode": "200"},
        )
        set_attributes()

    group = find_target_group(elbv2, spec.name)
    if group is None:
        why = f"HTTP:{spec.port}, health {HEALTH_PATH}, lb_cookie stickiness"
        return [Action("create", "target group", spec.name, why, create)]
    if group.get("HealthCheckPath") != HEALTH_PATH or group.get("Port") != spec.port:
        why = "health check path or port differs: delete it with `down` and run `up` again"
        return [Action("update", "target group", spec.name, why, None)]
    have = _attributes(
        elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]
    )
    if any(have.get(k) != v for k, v in TG_ATTRIBUTES.items()):
        return [Action("update", "target group", spec.name, "stickiness", set_attributes)]
    return [noop("target group", spec.name)]


def _arn(found: Mapping[str, Any] | None) -> str:
    if found is None:
        raise LookupError("created moments ago, yet not found")
    return str(found.get("LoadBalancerArn") or found["TargetGroupArn"])


def _load_balancer_actions(elbv2: Any, spec: LbSpec) -> list[Action]:
    def idle() -> None:
        arn = _arn(find_load_balancer(elbv2, spec.name))
        value = str(spec.idle_timeout)
        attrs = [{"Key": "idle_timeout.timeout_seconds", "Value": value}]
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attrs)

    def create() -> None:
        elbv2.create_load_balancer(
            Name=spec.name,
            Subnets=list(spec.subnets),
            SecurityGroups=[spec.security_group],
            Scheme="internet-facing",
            Type="application",
            IpAddressType="ipv4",
        )
        idle()

    lb = find_load_balancer(elbv2, spec.name)
    if lb is None:
        why = f"internet-facing, idle timeout {spec.idle_timeout} s"
        return [Action("create", "load balancer", spec.name, why, create)]
    attrs = _attributes(
        elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
    )
    if attrs.get("idle_timeout.timeout_seconds") != str(spec.idle_timeout):
        why = f"idle timeout {attrs.get('idle_timeout.timeout_seconds')} -> {spec.idle_timeout} s"
        return [Action("update", "load balancer", spec.name, why, idle)]
    return [noop("load balancer", spec.name)]


def _listener_wants(spec: LbSpec, tg_arn: str) -> dict[int, dict[str, Any]]:
    https = {
        "Protocol": "HTTPS",
        "Port": 443,
        "Certificates": [{"CertificateArn": spec.certificate_arn}],
        "DefaultActions": https_actions(spec, tg_arn),
    }
    http = {
        "Protocol": "HTTP",
        "Port": 80,
        "DefaultActions": [{"Type": "redirect", "Order": 1, "RedirectConfig": REDIRECT}],
    }
    return {443: https, 80: http}


def _secret_version(elbv2: Any, listener_arn: str) -> str:
    found = elbv2.describe_tags(ResourceArns=[listener_arn])["TagDescriptions"]
    tags = {t["Key"]: t["Value"] for d in found for t in d.get("Tags", [])}
    return str(tags.get(SECRET_TAG, ""))


def _listener_actions(elbv2: Any, spec: LbSpec) -> list[Action]:
    lb, tg = find_load_balancer(elbv2, spec.name), find_target_group(elbv2, spec.name)
    have: dict[int, dict[str, Any]] = {}
    if lb is not None:
        found = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        have = {int(item["Port"]): item for item in found}
    tg_arn = tg["TargetGroupArn"] if tg is not None else ""
    actions = []
    for port, want in _listener_wants(spec, tg_arn).items():
        what = "authenticate, then forward" if port == 443 else "redirect to HTTPS"
        name = f"{spec.name}:{port}"
        tags = spec.tags() if port == 443 else []

        def put(port: int = port, tags: list[dict[str, str]] = tags) -> None:
            lb_arn = _arn(find_load_balancer(elbv2, spec.name))
            wanted = _listener_wants(spec, _arn(find_target_group(elbv2, spec.name)))[port]
            current = have.get(port)
            if current is None:
                elbv2.create_listener(
                    LoadBalancerArn=lb_arn, **wanted, **({"Tags": tags} if tags else {})
                )
                return
            elbv2.modify_listener(ListenerArn=current["ListenerArn"], **wanted)
            if tags:  # AddTags replaces the value of a key the listener already has
                elbv2.add_tags(ResourceArns=[current["ListenerArn"]], Tags=tags)

        current = have.get(port)
        if current is None:
            actions.append(Action("create", "listener", name, what, put))
        elif not _covers(current, want):
            actions.append(Action("update", "listener", name, what, put))
        elif tags and _secret_version(elbv2, current["ListenerArn"]) != spec.secret_version:
            why = f"OIDC client secret: version {spec.secret_version} from Secrets Manager"
            actions.append(Action("update", "listener", name, why, put))
        else:
            actions.append(noop("listener", name))
    return actions


def plan(elbv2: Any, spec: LbSpec) -> list[Action]:
    """Target group, load balancer, then its two listeners (created in that order)."""
    return [
        *_target_group_actions(elbv2, spec),
        *_load_balancer_actions(elbv2, spec),
        *_listener_actions(elbv2, spec),
    ]


def teardown(elbv2: Any, name: str) -> list[Action]:
    """Delete the load balancer (its listeners go with it), then the target group."""
    actions = []
    lb = find_load_balancer(elbv2, name)
    if lb is not None:

        def delete_lb(arn: str = lb["LoadBalancerArn"]) -> None:
            elbv2.delete_load_balancer(LoadBalancerArn=arn)

        actions.append(Action("delete", "load balancer", name, "and its listeners", delete_lb))
    tg = find_target_group(elbv2, name)
    if tg is not None:

        def delete_tg(arn: str = tg["TargetGroupArn"]) -> None:
            elbv2.delete_target_group(TargetGroupArn=arn)

        actions.append(Action("delete", "target group", name, "", delete_tg))
    return actions
