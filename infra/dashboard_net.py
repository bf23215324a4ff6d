"""The hosted dashboard's two security groups.

- ``<name>-lb``: the load balancer; 443 and 80 in from ``allow_cidr`` (default anywhere).
- ``<name>-tasks``: the Fargate task; only the app port, only from the load balancer's group.
Both keep the default all-outbound rule (image pulls, S3, Batch, CloudWatch Logs).

Idempotence: a group is created when absent; missing inbound rules are added and rules this
module did not ask for are revoked (a widened rule would bypass the load balancer's login).
Not yet wired into ``python -m infra up`` (see /work/notes/W5.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.actions import Action, noop
from infra.network import find_group


@dataclass(frozen=True)
class Rule:
    """One inbound TCP rule: a port from a CIDR or from another security group."""

    port: int
    cidr: str = ""
    group: str = ""

    def permission(self) -> dict[str, Any]:
        """The IpPermissions entry for authorize/revoke."""
        perm: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": self.port, "ToPort": self.port}
        if self.cidr:
            perm["IpRanges"] = [{"CidrIp": self.cidr}]
        else:
            perm["UserIdGroupPairs"] = [{"GroupId": self.group}]
        return perm


def rules_of(group: dict[str, Any]) -> set[Rule]:
    """The inbound rules a group has, one Rule per port and source."""
    found = set()
    for perm in group.get("IpPermissions", []):
        if perm.get("IpProtocol") != "tcp" or perm.get("FromPort") != perm.get("ToPort"):
            found.add(Rule(-1, cidr=str(perm)))  # anything else is revoked as a whole
            continue
        port = int(perm["FromPort"])
        found |= {Rule(port, cidr=r["CidrIp"]) for r in perm.get("IpRanges", [])}
        found |= {Rule(port, group=p["GroupId"]) for p in perm.get("UserIdGroupPairs", [])}
    return found


def _sync(ec2: Any, vpc: str, name: str, purpose: str, want: set[Rule]) -> Action:
    group = find_group(ec2, vpc, name)
    have = rules_of(group) if group else set()
    add, drop = want - have, have - want

    def run() -> None:
        found = find_group(ec2, vpc, name)
        gid = (
            found["GroupId"]
            if found
            else ec2.create_security_group(GroupName=name, Description=purpose, VpcId=vpc)[
                "GroupId"
            ]
        )
        if add:
            perms = [r.permission() for r in sorted(add, key=str)]
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
        stale = [r for r in drop if r.port >= 0]
        if stale:
            perms = [r.permission() for r in sorted(stale, key=str)]
            ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=perms)

    rules = ", ".join(f"{r.port} from {r.cidr or r.group}" for r in sorted(want, key=str))
    if group is None:
        return Action("create", "security group", name, rules, run)
    if add or drop:
        return Action("update", "security group", name, f"inbound -> {rules}", run)
    return noop("security group", name)


def lb_group_actions(ec2: Any, vpc: str, name: str, allow_cidr: str) -> Action:
    """The load balancer's group: 443 and 80 from ``allow_cidr``."""
    want = {Rule(443, cidr=allow_cidr), Rule(80, cidr=allow_cidr)}
    return _sync(ec2, vpc, f"{name}-lb", "batch-backtest dashboard load balancer", want)


def task_group_actions(ec2: Any, vpc: str, name: str, port: int) -> Action:
    """The task's group: ``port`` from the load balancer's group only (which must exist)."""
    lb = find_group(ec2, vpc, f"{name}-lb")
    want = {Rule(port, group=lb["GroupId"])} if lb else set()
    action = _sync(ec2, vpc, f"{name}-tasks", "batch-backtest dashboard tasks", want)
    if lb is not None:
        return action

    def later() -> None:  # the load balancer's group is created by an earlier action
        again = task_group_actions(ec2, vpc, name, port)
        if again.run is not None:
            again.run()

    return Action(action.verb, action.kind, action.name, f"{port} from {name}-lb", later)


def teardown(ec2: Any, vpc: str, name: str) -> list[Action]:
    """Delete the task group, then the load balancer's (after the LB and tasks are gone)."""
    actions = []
    for suffix in ("tasks", "lb"):
        group = find_group(ec2, vpc, f"{name}-{suffix}")
        if group is not None:

            def run(gid: str = group["GroupId"]) -> None:
                ec2.delete_security_group(GroupId=gid)

            actions.append(Action("delete", "security group", f"{name}-{suffix}", "", run))
    return actions
