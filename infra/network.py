"""Where the Fargate tasks run: given subnets (default: the default VPC's) and a security group.

Security group: unless ``--security-group`` is given, `up` creates ``<prefix>-batch`` in the
subnets' VPC: no inbound rule, all outbound (image pulls, S3, CloudWatch Logs). The VPC's
default group is never used (hardened accounts strip its rules, so tasks could not start).

Public IP rule: a Fargate task pulls its image from ECR and talks to S3 over the network. In a
subnet whose default route (0.0.0.0/0) goes to a NAT gateway it needs no public IP; in any
other subnet (the default VPC's are public, routed to an internet gateway) it needs one, so
``assignPublicIp`` is ENABLED unless every subnet routes through a NAT gateway. Planning
makes only ec2 Describe calls; the group's create/repair is an action like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import BacktestError
from infra.actions import Action, Waiter, noop
from infra.clients import Clients
from infra.config import StackConfig

ALL_OUTBOUND = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


@dataclass(frozen=True)
class Network:
    """Subnets, security groups, the public-IP decision and where they came from.

    ``group_name`` is the group `up` manages (empty when one was given); ``security_groups`` is
    empty until that group exists, so apply-time code calls :func:`security_group_ids`.
    """

    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: str
    source: str
    vpc: str = ""
    group_name: str = ""


def _default_vpc(ec2: Any, region: str) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise BacktestError(
            f"region {region} has no default VPC; pass --subnets subnet-a,subnet-b "
            "--security-group sg-x"
        )
    return str(vpcs[0]["VpcId"])


def _routes_through_nat(ec2: Any, subnet: str, vpc: str) -> bool:
    """True if the subnet's route table sends 0.0.0.0/0 to a NAT gateway."""
    flt = [{"Name": "association.subnet-id", "Values": [subnet]}]
    tables = ec2.describe_route_tables(Filters=flt)["RouteTables"]
    if not tables:  # no explicit association: the VPC's main route table applies
        flt = [
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "association.main", "Values": ["true"]},
        ]
        tables = ec2.describe_route_tables(Filters=flt)["RouteTables"]
    for table in tables:
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") == "0.0.0.0/0" and route.get("NatGatewayId"):
                return True
    return False


def group_name(cfg: StackConfig) -> str:
    """The security group `up` creates for the Fargate tasks."""
    return f"{cfg.prefix}-batch"


def find_group(ec2: Any, vpc: str, name: str) -> dict[str, Any] | None:
    """The named security group in ``vpc``, or None."""
    flt = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [name]}]
    found = ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
    return dict(found[0]) if found else None


def discover(ec2: Any, cfg: StackConfig) -> Network:
    """Resolve the network for the compute environments and job definitions."""
    if cfg.subnets:
        found = ec2.describe_subnets(SubnetIds=list(cfg.subnets))["Subnets"]
        subnets = cfg.subnets
        vpc = str(found[0]["VpcId"])
        source = "given subnets"
    else:
        vpc = _default_vpc(ec2, cfg.region)
        found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        if not found:
            raise BacktestError(f"default VPC {vpc} has no subnets; pass --subnets")
        subnets = tuple(sorted(s["SubnetId"] for s in found))
        source = f"default VPC {vpc}"
    private = all(_routes_through_nat(ec2, s, vpc) for s in subnets)
    public_ip = "DISABLED" if private else "ENABLED"
    if cfg.security_groups:
        return Network(subnets, cfg.security_groups, public_ip, source, vpc)
    name = group_name(cfg)
    group = find_group(ec2, vpc, name)
    groups = (str(group["GroupId"]),) if group else ()
    return Network(subnets, groups, public_ip, source, vpc, name)


def security_group_ids(ec2: Any, net: Network) -> tuple[str, ...]:
    """The groups to use, looked up at apply time (the managed group may just have been made)."""
    if net.security_groups or not net.group_name:
        return net.security_groups
    group = find_group(ec2, net.vpc, net.group_name)
    if group is None:
        raise BacktestError(f"security group {net.group_name} is missing in {net.vpc}")
    return (str(group["GroupId"]),)


def _has_all_outbound(group: dict[str, Any]) -> bool:
    for rule in group.get("IpPermissionsEgress", []):
        cidrs = {r.get("CidrIp") for r in rule.get("IpRanges", [])}
        if rule.get("IpProtocol") == "-1" and "0.0.0.0/0" in cidrs:
            return True
    return False


def _repair(ec2: Any, group_id: str, group: dict[str, Any], parts: list[str]) -> None:
    if "outbound rule" in parts:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[ALL_OUTBOUND])
    if "inbound rules" in parts:
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=group["IpPermissions"])


def plan_security_group(clients: Clients, cfg: StackConfig, net: Network) -> list[Action]:
    """Create the managed group (egress only) or put its rules back; nothing for a given one."""
    ec2 = clients.ec2
    if not net.group_name:
        return []
    group = find_group(ec2, net.vpc, net.group_name) if net.security_groups else None
    if group is None:

        def create() -> None:
            made = ec2.create_security_group(
                GroupName=net.group_name,
                Description=f"batch-backtest {cfg.prefix}: Fargate tasks, outbound only",
                VpcId=net.vpc,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": [
                            {"Key": "project", "Value": "batch-backtest"},
                            {"Key": "prefix", "Value": cfg.prefix},
                        ],
                    }
                ],
            )
            got = find_group(ec2, net.vpc, net.group_name) or {}
            if not _has_all_outbound(got):
                _repair(ec2, str(made["GroupId"]), got, ["outbound rule"])

        why = f"in {net.vpc}: no inbound, all outbound"
        return [Action("create", "security group", net.group_name, why, create)]
    parts = []
    if not _has_all_outbound(group):
        parts.append("outbound rule")
    if group.get("IpPermissions"):
        parts.append("inbound rules")
    if not parts:
        return [noop("security group", net.group_name, f"{group['GroupId']}, outbound only")]
    gid = str(group["GroupId"])
    why = "restore outbound rule" if parts == ["outbound rule"] else "set " + ", ".join(parts)
    return [
        Action(
            "update", "security group", net.group_name, why, lambda: _repair(ec2, gid, group, parts)
        )
    ]


def _managed_groups(ec2: Any, cfg: StackConfig) -> list[dict[str, Any]]:
    flt = [
        {"Name": "group-name", "Values": [group_name(cfg)]},
        {"Name": "tag:project", "Values": ["batch-backtest"]},
    ]
    return list(ec2.describe_security_groups(Filters=flt)["SecurityGroups"])


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) of the managed security group(s)."""
    groups = _managed_groups(clients.ec2, cfg)
    if not groups:
        return [("security group", group_name(cfg), "absent (or --security-group given)")]
    return [
        ("security group", f"{group_name(cfg)} {g['GroupId']}", f"in {g.get('VpcId')}")
        for g in groups
    ]


def _deleted(ec2: Any, group_id: str) -> Callable[[], bool]:
    from botocore.exceptions import ClientError

    def check() -> bool:
        try:
            ec2.delete_security_group(GroupId=group_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "InvalidGroup.NotFound":
                return True
            if code == "DependencyViolation":  # task network interfaces not yet released
                return False
            raise
        return True

    return check


def teardown(clients: Clients, cfg: StackConfig, waiter: Waiter) -> list[Action]:
    """Delete the managed group once nothing uses it (after the compute environments)."""
    ec2 = clients.ec2
    actions = []
    for group in _managed_groups(ec2, cfg):
        gid = str(group["GroupId"])

        def run(g: str = gid) -> None:
            waiter.until(f"security group {g} to be released and deleted", _deleted(ec2, g))

        actions.append(
            Action(
                "delete",
                "security group",
                f"{group_name(cfg)} {gid}",
                "after the compute environments",
                run,
            )
        )
    return actions
