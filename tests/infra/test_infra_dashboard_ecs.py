"""The dashboard's ECS service against moto: settings, a second plan with no mutating call,
a new image is one new revision and a service update, teardown leaving nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws

from infra import dashboard_ecs
from infra.actions import apply
from tests._infra_helpers import ACCOUNT, READ_PREFIXES, REGION, session

ROLE = f"arn:aws:iam::{ACCOUNT}:role/"


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Any, Any, dashboard_ecs.ServiceSpec, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto = session()
        ec2, elbv2, ecs, logs = (boto.client(s) for s in ("ec2", "elbv2", "ecs", "logs"))
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnets = tuple(sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])[:2])
        group = ec2.create_security_group(GroupName="t", Description="t", VpcId=vpc)["GroupId"]
        tg = elbv2.create_target_group(
            Name="bt-dash", Protocol="HTTP", Port=8501, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        calls: list[str] = []
        for client in (ecs, logs):
            client.meta.events.register(
                "before-call.*.*", lambda model, **_: calls.append(str(model.name))
            )
        spec = dashboard_ecs.ServiceSpec(
            name="bt-dash",
            image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bt-dashboard@sha256:" + "a" * 64,
            task_role_arn=ROLE + "bt-dash-task",
            execution_role_arn=ROLE + "bt-dash-exec",
            subnets=subnets,
            security_group=group,
            target_group_arn=tg,
            region=REGION,
            env={"BACKTEST_STACK": "bt", "BACKTEST_ALB_ARN": "arn:aws:elasticloadbalancing:x"},
        )
        yield ecs, logs, spec, calls


def test_service_settings_idempotence_and_teardown(
    aws: tuple[Any, Any, dashboard_ecs.ServiceSpec, list[str]],
) -> None:
    ecs, logs, spec, calls = aws
    assert apply(dashboard_ecs.plan(ecs, logs, spec), lambda _: None) == 4
    service = ecs.describe_services(cluster="bt-dash", services=["bt-dash"])["services"][0]
    assert (service["desiredCount"], service["launchType"]) == (1, "FARGATE")
    net = service["networkConfiguration"]["awsvpcConfiguration"]
    assert net["securityGroups"] == [spec.security_group]
    assert service["loadBalancers"][0]["targetGroupArn"] == spec.target_group_arn
    assert service["loadBalancers"][0]["containerPort"] == 8501
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert (task["cpu"], task["memory"], task["networkMode"]) == ("1024", "2048", "awsvpc")
    assert task["taskRoleArn"] == spec.task_role_arn
    assert task["executionRoleArn"] == spec.execution_role_arn
    (container,) = task["containerDefinitions"]
    assert container["image"] == spec.image
    assert {e["name"]: e["value"] for e in container["environment"]} == dict(spec.env)
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/bt-dash"
    groups = logs.describe_log_groups(logGroupNamePrefix="/ecs/bt-dash")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [("/ecs/bt-dash", 30)]
    assert dashboard_ecs.status(ecs, "bt-dash")[0][2].endswith("/1 tasks running")

    calls.clear()
    assert apply(dashboard_ecs.plan(ecs, logs, spec), lambda _: None) == 0
    assert [c for c in calls if not c.startswith(READ_PREFIXES)] == []

    newer = replace(spec, image=spec.image.replace("a" * 64, "b" * 64))
    changed = [(a.verb, a.kind) for a in dashboard_ecs.plan(ecs, logs, newer) if a.changes]
    assert changed == [("update", "task definition"), ("update", "ECS service")]
    apply(dashboard_ecs.plan(ecs, logs, newer), lambda _: None)
    service = ecs.describe_services(cluster="bt-dash", services=["bt-dash"])["services"][0]
    assert service["taskDefinition"].endswith(":2")
    assert not [a for a in dashboard_ecs.plan(ecs, logs, newer) if a.changes]

    apply(dashboard_ecs.teardown(ecs, logs, "bt-dash"), lambda _: None)
    assert dashboard_ecs.teardown(ecs, logs, "bt-dash") == []
    assert dashboard_ecs.status(ecs, "bt-dash") == [("ECS service", "bt-dash", "absent")]
    assert logs.describe_log_groups(logGroupNamePrefix="/ecs/bt-dash")["logGroups"] == []
