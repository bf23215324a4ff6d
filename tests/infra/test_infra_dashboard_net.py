"""The dashboard's security groups against moto: rules, idempotence, drift revoked, teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from infra import dashboard_net
from infra.actions import apply
from infra.network import find_group
from tests._infra_helpers import READ_PREFIXES, session


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = session().client("ec2")
        calls: list[str] = []
        client.meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(str(model.name))
        )
        yield client, client.describe_vpcs()["Vpcs"][0]["VpcId"], calls


def _up(client: Any, vpc: str, cidr: str = "0.0.0.0/0") -> int:
    actions = [
        dashboard_net.lb_group_actions(client, vpc, "bt-dash", cidr),
        dashboard_net.task_group_actions(client, vpc, "bt-dash", 8501),
    ]
    return apply(actions, lambda _: None)


def _inbound(client: Any, vpc: str, name: str) -> set[dashboard_net.Rule]:
    group = find_group(client, vpc, name)
    assert group is not None
    return dashboard_net.rules_of(group)


def test_groups_admit_the_web_to_the_lb_and_only_the_lb_to_the_tasks(
    ec2: tuple[Any, str, list[str]],
) -> None:
    client, vpc, calls = ec2
    assert _up(client, vpc, "203.0.113.0/24") == 2
    lb = find_group(client, vpc, "bt-dash-lb")
    assert lb is not None
    Rule = dashboard_net.Rule
    assert _inbound(client, vpc, "bt-dash-lb") == {
        Rule(443, cidr="203.0.113.0/24"),
        Rule(80, cidr="203.0.113.0/24"),
    }
    assert _inbound(client, vpc, "bt-dash-tasks") == {Rule(8501, group=lb["GroupId"])}
    calls.clear()
    assert _up(client, vpc, "203.0.113.0/24") == 0
    assert [c for c in calls if not c.startswith(READ_PREFIXES)] == []


def test_a_widened_rule_is_revoked_and_the_cidr_follows_the_option(
    ec2: tuple[Any, str, list[str]],
) -> None:
    client, vpc, _ = ec2
    _up(client, vpc)
    tasks = find_group(client, vpc, "bt-dash-tasks")
    assert tasks is not None
    client.authorize_security_group_ingress(
        GroupId=tasks["GroupId"],
        IpPermissions=[dashboard_net.Rule(8501, cidr="0.0.0.0/0").permission()],
    )
    assert _up(client, vpc, "198.51.100.7/32") == 2
    lb = find_group(client, vpc, "bt-dash-lb")
    assert lb is not None
    Rule = dashboard_net.Rule
    assert _inbound(client, vpc, "bt-dash-tasks") == {Rule(8501, group=lb["GroupId"])}
    assert _inbound(client, vpc, "bt-dash-lb") == {
        Rule(443, cidr="198.51.100.7/32"),
        Rule(80, cidr="198.51.100.7/32"),
    }
    assert apply(dashboard_net.teardown(client, vpc, "bt-dash"), lambda _: None) == 2
    assert find_group(client, vpc, "bt-dash-lb") is None
    assert find_group(client, vpc, "bt-dash-tasks") is None
