"""Make moto answer like real AWS where it matters: a small layer over moto (tests only).

Keep additions small and additive (other helpers extend this module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

# --- AWS Batch's service-linked role (H8) -----------------------------------------------------

BATCH_SLR_PATH = "/aws-service-role/batch.amazonaws.com/"


def _batch_service_linked_role(iam: Any) -> Any:
    for role in iam.get_roles():
        if role.path == BATCH_SLR_PATH:
            return role
    return iam.create_service_linked_role("batch.amazonaws.com", "", "")


def batch_uses_its_service_linked_role(monkeypatch: Any) -> None:
    """CreateComputeEnvironment without ``serviceRole``: real Batch uses AWSServiceRoleForBatch
    (creating it when the account has none); moto answers "ServiceRole is required". Patches
    moto's Batch backend in this process, so in-process mock_aws and the threaded moto server
    (and subprocesses talking to it) answer alike. ``monkeypatch`` undoes it after the test."""
    from moto.batch.models import BatchBackend

    original = BatchBackend.create_compute_environment

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("service_role"):
            kwargs["service_role"] = _batch_service_linked_role(self.iam_backend).arn
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BatchBackend, "create_compute_environment", create)


class InvalidBatchResources:
    """Batch resources that went INVALID (a subnet deleted, a role without permissions, ...):
    DescribeComputeEnvironments / DescribeJobQueues answer ``status: INVALID`` with a
    ``statusReason`` for the named ones, whatever their state, until they are deleted; moto
    makes everything VALID at once. ``names`` may be changed while the test runs."""

    def __init__(self, client: Any, names: Sequence[str], reason: str) -> None:
        self.names = set(names)
        self.reason = reason
        self.answers = 0
        events = client.meta.events
        events.register("after-call.batch.DescribeComputeEnvironments", self._envs)
        events.register("after-call.batch.DescribeJobQueues", self._queues)

    def _mark(self, items: list[dict[str, Any]], name_key: str) -> None:
        for item in items:
            gone = item.get("status") in ("DELETED", "DELETING")
            if item.get(name_key) in self.names and not gone:
                item["status"] = "INVALID"
                item["statusReason"] = self.reason
                self.answers += 1

    def _envs(self, parsed: dict[str, Any], **_: Any) -> None:
        self._mark(parsed.get("computeEnvironments", []), "computeEnvironmentName")

    def _queues(self, parsed: dict[str, Any], **_: Any) -> None:
        self._mark(parsed.get("jobQueues", []), "jobQueueName")


# --- Describe answers as real AWS shapes them (H8) ---------------------------------------------

JOB_DEFINITION_ADDED_LISTS = ("mountPoints", "volumes", "ulimits", "secrets")


def _real_job_definition(jd: dict[str, Any]) -> None:
    jd.setdefault("containerOrchestrationType", "ECS")
    props = jd.get("containerProperties")
    if isinstance(props, dict):
        for key in JOB_DEFINITION_ADDED_LISTS:
            props.setdefault(key, [])
        props.setdefault(
            "runtimePlatform", {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}
        )
        log = props.get("logConfiguration")
        if isinstance(log, dict):
            log.setdefault("secretOptions", [])
        props["environment"] = list(reversed(props.get("environment", [])))  # any order
    for rule in (jd.get("retryStrategy") or {}).get("evaluateOnExit", []):
        rule["action"] = str(rule.get("action", "")).lower()  # Batch answers "retry"/"exit"


def _real_log_group(group: dict[str, Any], account_retention: int | None) -> None:
    group.setdefault("inheritedProperties", ["ACCOUNT_DATA_PROTECTION"])
    group.setdefault("dataProtectionStatus", "ACTIVATED")
    group.setdefault("logGroupClass", "STANDARD")
    group.setdefault("deletionProtectionEnabled", False)
    group.setdefault("logGroupArn", str(group.get("arn", "")).removesuffix(":*"))
    if account_retention is not None and "retentionInDays" not in group:
        group["retentionInDays"] = account_retention


class RealDescribeShapes:
    """DescribeJobDefinitions and DescribeLogGroups answered with what real AWS adds to what was
    sent: empty lists (``mountPoints``, ``volumes``, ``ulimits``, ``secrets``,
    ``logConfiguration.secretOptions``), ``containerOrchestrationType``, ``runtimePlatform``,
    environment in another order, lowercase retry actions; log groups with
    ``inheritedProperties`` (account-level settings), ``logGroupClass`` and, with
    ``account_retention``, an account-level retention on groups that have none of their own."""

    def __init__(self, batch: Any, logs: Any, account_retention: int | None = None) -> None:
        self.account_retention = account_retention
        batch.meta.events.register("after-call.batch.DescribeJobDefinitions", self._defs)
        logs.meta.events.register("after-call.cloudwatch-logs.DescribeLogGroups", self._groups)

    def _defs(self, parsed: dict[str, Any], **_: Any) -> None:
        for jd in parsed.get("jobDefinitions", []):
            _real_job_definition(jd)

    def _groups(self, parsed: dict[str, Any], **_: Any) -> None:
        for group in parsed.get("logGroups", []):
            _real_log_group(group, self.account_retention)


class QueuedJobs:
    """Jobs that real Batch would still hold RUNNABLE (no capacity yet): DescribeJobs answers
    them so, while moto without docker finishes every job at once. ``ids`` may grow during a
    test; :meth:`describe` is the ``after-call.batch.DescribeJobs`` handler (register it on a
    client, or in botocore's built-in handlers for every client made afterwards)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def describe(self, parsed: dict[str, Any], **_: Any) -> None:
        for job in parsed.get("jobs", []):
            if job.get("jobId") in self.ids:
                job["status"] = "RUNNABLE"
                job["statusReason"] = "waiting for capacity"
                for key in ("startedAt", "stoppedAt", "attempts"):
                    job.pop(key, None)


class CodeBuildAsAws:
    """CodeBuild builds as real AWS reports them; moto's finish at once, with no log and no
    exported variables. BatchGetBuilds answers IN_PROGRESS for the first ``polls`` looks, then
    ``status`` (SUCCEEDED, or FAILED in the BUILD phase with ``failure`` as its context); the
    build's CloudWatch stream (``/aws/codebuild/<project>``, stream = the build id's UUID) gets
    ``lines`` a few at a time, as the build would write them; a SUCCEEDED build exports
    ``IMAGE_DIGEST`` (the digest the test pushed to ECR in the build's place)."""

    def __init__(
        self,
        codebuild: Any,
        logs: Any,
        *,
        digest: str,
        lines: Sequence[str],
        polls: int = 0,
        status: str = "SUCCEEDED",
        failure: str = "",
    ) -> None:
        self.logs = logs
        self.digest, self.lines, self.polls = digest, list(lines), polls
        self.status, self.failure = status, failure
        self.looks: dict[str, int] = {}
        codebuild.meta.events.register("after-call.codebuild.BatchGetBuilds", self._builds)

    def _write(self, group: str, stream: str, lines: list[str]) -> None:
        import time

        try:
            self.logs.create_log_group(logGroupName=group)
        except ClientError:
            pass
        try:
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except ClientError:
            pass
        if lines:
            now = int(time.time() * 1000)
            events = [{"timestamp": now + i, "message": m} for i, m in enumerate(lines)]
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def _builds(self, parsed: dict[str, Any], **_: Any) -> None:
        for build in parsed.get("builds", []):
            look = self.looks.get(build["id"], 0)
            self.looks[build["id"]] = look + 1
            group = f"/aws/codebuild/{build['projectName']}"
            stream = build["id"].split(":", 1)[1]
            build["logs"] = {"groupName": group, "streamName": stream}
            share = max(1, len(self.lines) // (self.polls + 1))
            done = look >= self.polls
            end = None if done else (look + 1) * share
            self._write(group, stream, self.lines[look * share : end])
            if not done:
                build["buildStatus"], build["currentPhase"] = "IN_PROGRESS", "BUILD"
                build.pop("endTime", None)
                build["phases"] = [{"phaseType": "BUILD", "phaseStatus": None}]
                continue
            build["buildStatus"] = self.status
            if self.status == "SUCCEEDED":
                build["exportedEnvironmentVariables"] = [
                    {"name": "IMAGE_DIGEST", "value": self.digest}
                ]
            else:
                build["phases"] = [
                    {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED"},
                    {
                        "phaseType": "BUILD",
                        "phaseStatus": self.status,
                        "contexts": [
                            {"statusCode": "COMMAND_EXECUTION_ERROR", "message": self.failure}
                        ],
                    },
                ]
