"""The composed hosted dashboard against moto: one `up` creates it all wired together, a second
`up` makes no mutating call, `down` leaves nothing of it (the Cognito pool only on request)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from infra import cognito, dashboard, dashboard_lb
from infra.config import StackConfig
from tests._infra_helpers import ACCOUNT, READ_PREFIXES, session


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dashboard.Clients, Any, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto = session()
        made = {
            k: boto.client(s)
            for k, s in [
                ("iam", "iam"),
                ("ec2", "ec2"),
                ("idp", "cognito-idp"),
                ("elbv2", "elbv2"),
                ("ecs", "ecs"),
                ("logs", "logs"),
            ]
        }
        calls: list[str] = []
        for client in made.values():
            client.meta.events.register(
                "before-call.*.*", lambda model, **_: calls.append(str(model.name))
            )
        yield dashboard.Clients(**made), boto.client("acm"), calls


@pytest.mark.slow
def test_up_twice_then_down(aws: tuple[dashboard.Clients, Any, list[str]]) -> None:
    c, acm, calls = aws
    cfg = StackConfig(account=ACCOUNT)
    vpc = c.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = tuple(sorted(s["SubnetId"] for s in c.ec2.describe_subnets()["Subnets"])[:2])
    cert = acm.request_certificate(DomainName="backtest.example.com")["CertificateArn"]
    opts = dashboard.DashboardOptions(
        domain="backtest.example.com",
        certificate_arn=cert,
        image=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/backtest-dashboard:1",
        repository_arn=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/backtest-dashboard",
        vpc=vpc,
        subnets=subnets,
    )
    count, url, cname = dashboard.up(c, cfg, opts, lambda _: None)
    assert count == 2 + 2 + 3 + 4 + 4  # roles, groups, cognito, lb pieces, ecs pieces
    lb = dashboard_lb.find_load_balancer(c.elbv2, "backtest-dash")
    assert lb is not None
    assert url == "https://backtest.example.com/"
    assert cname == f"backtest.example.com. CNAME {lb['DNSName']}."
    listeners = c.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    https = next(item for item in listeners if item["Port"] == 443)
    auth = https["DefaultActions"][0]
    assert auth["Type"] == "authenticate-cognito"
    pool = cognito.find_pool(c.idp, "backtest-dash")
    assert pool is not None and pool["Id"] in auth["AuthenticateCognitoConfig"]["UserPoolArn"]
    service = c.ecs.describe_services(cluster="backtest-dash", services=["backtest-dash"])
    task = c.ecs.describe_task_definition(taskDefinition=service["services"][0]["taskDefinition"])[
        "taskDefinition"
    ]
    env = {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}
    assert env["BACKTEST_ALB_ARN"] == lb["LoadBalancerArn"]  # the app checks this signer
    assert env["BACKTEST_STACK"] == "backtest"
    assert task["taskRoleArn"].endswith(":role/backtest-dashboard-task")

    calls.clear()
    assert dashboard.up(c, cfg, opts, lambda _: None)[0] == 0
    assert [name for name in calls if not name.startswith(READ_PREFIXES)] == []

    assert dashboard.down(c, cfg, vpc, delete_data=False, echo=lambda _: None) > 0
    assert dashboard_lb.find_load_balancer(c.elbv2, "backtest-dash") is None
    assert cognito.find_pool(c.idp, "backtest-dash") is not None  # users are data
    groups = c.ec2.describe_security_groups()["SecurityGroups"]
    assert not [g for g in groups if g["GroupName"].startswith("backtest-dash")]
    assert c.iam.list_roles()["Roles"] == []
    assert c.ecs.describe_clusters(clusters=["backtest-dash"])["clusters"][0]["status"] != "ACTIVE"
    assert dashboard.down(c, cfg, vpc, delete_data=True, echo=lambda _: None) == 1
    assert cognito.find_pool(c.idp, "backtest-dash") is None
    assert dashboard.down(c, cfg, vpc, delete_data=True, echo=lambda _: None) == 0
