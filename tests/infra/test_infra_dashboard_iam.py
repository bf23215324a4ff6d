"""The dashboard's roles against moto: the task role holds exactly `infra policy`'s policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from infra import dashboard_iam
from infra.actions import apply
from infra.config import StackConfig
from infra.iam import as_dict
from infra.policy import dashboard_policy
from tests._infra_helpers import ACCOUNT, READ_PREFIXES, session

REPO_ARN = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/backtest-dashboard"


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = session().client("iam")
        calls: list[str] = []
        client.meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(str(model.name))
        )
        yield client, calls


def test_roles_policies_idempotence_drift_and_teardown(iam: tuple[Any, list[str]]) -> None:
    client, calls = iam
    cfg = StackConfig(account=ACCOUNT)
    assert apply(dashboard_iam.plan(client, cfg, REPO_ARN, "/ecs/bt"), lambda _: None) == 2
    task = client.get_role_policy(
        RoleName="backtest-dashboard-task", PolicyName="backtest-dashboard-task"
    )
    assert as_dict(task["PolicyDocument"]) == json.loads(json.dumps(dashboard_policy(cfg)))
    execution = client.get_role_policy(
        RoleName="backtest-dashboard-execution", PolicyName="backtest-dashboard-execution"
    )
    statements = as_dict(execution["PolicyDocument"])["Statement"]
    assert statements[1]["Resource"] == REPO_ARN
    assert statements[2]["Resource"].endswith(":log-group:/ecs/bt:*")

    calls.clear()
    assert apply(dashboard_iam.plan(client, cfg, REPO_ARN, "/ecs/bt"), lambda _: None) == 0
    assert [c for c in calls if not c.startswith(READ_PREFIXES)] == []

    client.put_role_policy(
        RoleName="backtest-dashboard-task",
        PolicyName="backtest-dashboard-task",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    drift = [a for a in dashboard_iam.plan(client, cfg, REPO_ARN, "/ecs/bt") if a.changes]
    assert [(a.verb, a.name, a.reason) for a in drift] == [
        ("update", "backtest-dashboard-task", "inline policy")
    ]
    apply(drift, lambda _: None)
    assert not [a for a in dashboard_iam.plan(client, cfg, REPO_ARN, "/ecs/bt") if a.changes]

    assert apply(dashboard_iam.teardown(client, cfg), lambda _: None) == 2
    assert client.list_roles()["Roles"] == []
