"""Where the Fargate tasks run: given subnets and security group, or the default VPC's.

Public IP rule: a Fargate task pulls its image from ECR and talks to S3 over the network. In a
subnet whose default route (0.0.0.0/0) goes to a NAT gateway it needs no public IP; in any
other subnet (the default VPC's are public, routed to an internet gateway) it needs one, so
``assignPublicIp`` is ENABLED unless every subnet routes through a NAT gateway. Only ec2
Describe calls are made here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import BacktestError
from infra.config import StackConfig


@dataclass(frozen=True)
class Network:
    """Subnets, security groups, the public-IP decision and where they came from."""

    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: str
    source: str


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


def discover(ec2: Any, cfg: StackConfig) -> Network:
    """Resolve the network for the compute environments and job definitions."""
    if cfg.subnets:
        found = ec2.describe_subnets(SubnetIds=list(cfg.subnets))["Subnets"]
        subnets, groups = cfg.subnets, cfg.security_groups
        vpc = str(found[0]["VpcId"])
        source = "given"
    else:
        vpc = _default_vpc(ec2, cfg.region)
        found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        if not found:
            raise BacktestError(f"default VPC {vpc} has no subnets; pass --subnets")
        subnets = tuple(sorted(s["SubnetId"] for s in found))
        flt = [
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "group-name", "Values": ["default"]},
        ]
        sgs = ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
        if not sgs:
            raise BacktestError(f"default VPC {vpc} has no default security group; pass one")
        groups = (str(sgs[0]["GroupId"]),)
        source = f"default VPC {vpc}"
    private = all(_routes_through_nat(ec2, s, vpc) for s in subnets)
    return Network(subnets, groups, "DISABLED" if private else "ENABLED", source)
