"""The hosted dashboard's ECS pieces: log group, cluster, task definition, Fargate service.

One task (1 vCPU / 2 GB by default) of the dashboard image behind the load balancer's target
group, logging to CloudWatch. Idempotence: the task definition's latest ACTIVE revision is
compared on the keys this module sets (a new revision only on a difference); the service is
updated only when its task definition or desired count differs.
Not yet wired into ``python -m infra up`` (see /work/notes/W5.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from infra.actions import Action, noop

CONTAINER = "dashboard"


@dataclass(frozen=True)
class ServiceSpec:
    """What the service must run."""

    name: str  # cluster, task definition family and service
    image: str
    task_role_arn: str
    execution_role_arn: str
    subnets: tuple[str, ...]
    security_group: str
    target_group_arn: str
    region: str
    env: Mapping[str, str] = field(default_factory=dict)
    cpu: int = 1024
    memory: int = 2048
    port: int = 8501
    public_ip: bool = True
    log_retention_days: int = 30

    @property
    def log_group(self) -> str:
        """The CloudWatch log group of the dashboard's container."""
        return f"/ecs/{self.name}"


def task_definition(spec: ServiceSpec) -> dict[str, Any]:
    """register_task_definition's arguments."""
    logs = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": spec.log_group,
            "awslogs-region": spec.region,
            "awslogs-stream-prefix": CONTAINER,
        },
    }
    container = {
        "name": CONTAINER,
        "image": spec.image,
        "essential": True,
        "portMappings": [{"containerPort": spec.port, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(spec.env.items())],
        "logConfiguration": logs,
    }
    return {
        "family": spec.name,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": str(spec.cpu),
        "memory": str(spec.memory),
        "taskRoleArn": spec.task_role_arn,
        "executionRoleArn": spec.execution_role_arn,
        "containerDefinitions": [container],
    }


def _covers(have: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(_covers(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return False
        return all(_covers(h, w) for h, w in zip(have, want, strict=True))
    return bool(have == want)


def _revisions(ecs: Any, family: str) -> list[str]:
    """ARNs of the ACTIVE revisions of exactly ``family`` (not of families it prefixes)."""
    pages = ecs.get_paginator("list_task_definitions").paginate(
        familyPrefix=family, status="ACTIVE"
    )
    return [a for page in pages for a in page["taskDefinitionArns"] if f"/{family}:" in a]


def latest_task_definition(ecs: Any, family: str) -> dict[str, Any] | None:
    """The newest ACTIVE revision of ``family``, or None."""
    mine = _revisions(ecs, family)
    if not mine:
        return None
    newest = max(mine, key=lambda arn: int(arn.rsplit(":", 1)[1]))
    return dict(ecs.describe_task_definition(taskDefinition=newest)["taskDefinition"])


def _service(ecs: Any, name: str) -> dict[str, Any] | None:
    try:
        found = ecs.describe_services(cluster=name, services=[name]).get("services", [])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ClusterNotFoundException":
            return None
        raise
    active = [s for s in found if s.get("status") == "ACTIVE"]
    return dict(active[0]) if active else None


def _cluster_active(ecs: Any, name: str) -> bool:
    found = ecs.describe_clusters(clusters=[name]).get("clusters", [])
    return any(c.get("status") == "ACTIVE" for c in found)


def _log_group_exists(logs: Any, name: str) -> bool:
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return any(g["logGroupName"] == name for g in found)


def _base_actions(ecs: Any, logs: Any, spec: ServiceSpec) -> list[Action]:
    def make_logs() -> None:
        logs.create_log_group(logGroupName=spec.log_group)
        logs.put_retention_policy(
            logGroupName=spec.log_group, retentionInDays=spec.log_retention_days
        )

    def make_cluster() -> None:
        ecs.create_cluster(clusterName=spec.name)

    actions = []
    if _log_group_exists(logs, spec.log_group):
        actions.append(noop("log group", spec.log_group))
    else:
        why = f"retention {spec.log_retention_days} days"
        actions.append(Action("create", "log group", spec.log_group, why, make_logs))
    if _cluster_active(ecs, spec.name):
        actions.append(noop("ECS cluster", spec.name))
    else:
        actions.append(Action("create", "ECS cluster", spec.name, "Fargate", make_cluster))
    return actions


def _service_args(spec: ServiceSpec, task_arn: str) -> dict[str, Any]:
    network = {
        "awsvpcConfiguration": {
            "subnets": list(spec.subnets),
            "securityGroups": [spec.security_group],
            "assignPublicIp": "ENABLED" if spec.public_ip else "DISABLED",
        }
    }
    target = {
        "targetGroupArn": spec.target_group_arn,
        "containerName": CONTAINER,
        "containerPort": spec.port,
    }
    return {
        "cluster": spec.name,
        "serviceName": spec.name,
        "taskDefinition": task_arn,
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": network,
        "loadBalancers": [target],
        "healthCheckGracePeriodSeconds": 60,
    }


def plan(ecs: Any, logs: Any, spec: ServiceSpec) -> list[Action]:
    """Log group, cluster, task definition revision, then the service."""
    actions = _base_actions(ecs, logs, spec)
    want = task_definition(spec)
    have = latest_task_definition(ecs, spec.name)
    fresh = have is None or not _covers(have, want)

    def register() -> None:
        ecs.register_task_definition(**want)

    if have is None or fresh:
        verb = "create" if have is None else "update"
        why = f"{spec.cpu / 1024:g} vCPU / {spec.memory} MiB, image {spec.image}"
        actions.append(Action(verb, "task definition", spec.name, why, register))
    else:
        actions.append(noop("task definition", spec.name, f"revision {have['revision']}"))

    def put_service() -> None:
        latest = latest_task_definition(ecs, spec.name)
        arn = str(latest["taskDefinitionArn"]) if latest else spec.name
        if _service(ecs, spec.name) is None:
            ecs.create_service(**_service_args(spec, arn))
        else:
            ecs.update_service(
                cluster=spec.name, service=spec.name, taskDefinition=arn, desiredCount=1
            )

    service = _service(ecs, spec.name)
    if service is None:
        actions.append(Action("create", "ECS service", spec.name, "1 Fargate task", put_service))
    elif fresh or have is None or service.get("taskDefinition") != have["taskDefinitionArn"]:
        actions.append(Action("update", "ECS service", spec.name, "new revision", put_service))
    elif service.get("desiredCount") != 1:
        actions.append(Action("update", "ECS service", spec.name, "1 task", put_service))
    else:
        actions.append(noop("ECS service", spec.name))
    return actions


def status(ecs: Any, name: str) -> list[tuple[str, str, str]]:
    """(kind, name, state) of the service: running / desired tasks, or absent."""
    service = _service(ecs, name) if _cluster_active(ecs, name) else None
    if service is None:
        return [("ECS service", name, "absent")]
    state = f"{service.get('runningCount', 0)}/{service.get('desiredCount', 0)} tasks running"
    return [("ECS service", name, state)]


def teardown(ecs: Any, logs: Any, name: str) -> list[Action]:
    """Delete the service, every task definition revision, the cluster and the log group."""
    actions = []
    if _cluster_active(ecs, name) and _service(ecs, name) is not None:

        def stop() -> None:
            ecs.delete_service(cluster=name, service=name, force=True)

        actions.append(Action("delete", "ECS service", name, "its task stops", stop))
    arns = _revisions(ecs, name)
    if arns:

        def deregister(items: list[str] = arns) -> None:
            for arn in items:
                ecs.deregister_task_definition(taskDefinition=arn)

        why = f"{len(arns)} revision(s)"
        actions.append(Action("delete", "task definition", name, why, deregister))
    if _cluster_active(ecs, name):

        def drop_cluster() -> None:
            ecs.delete_cluster(cluster=name)

        actions.append(Action("delete", "ECS cluster", name, "", drop_cluster))
    group = f"/ecs/{name}"
    if _log_group_exists(logs, group):

        def drop_logs() -> None:
            logs.delete_log_group(logGroupName=group)

        actions.append(Action("delete", "log group", group, "dashboard logs go with it", drop_logs))
    return actions
