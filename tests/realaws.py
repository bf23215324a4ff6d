"""Make moto answer like real AWS where it matters: a small layer of botocore event hooks.

Moto accepts much that real AWS refuses or does differently. Each helper here attaches to one
boto3 client (``client.meta.events``) and changes what that client sees, the way a real account
would answer; none touches the project's code. Written from the AWS API references:

- :func:`retry_decision`: what Batch does with a failed attempt under a retryStrategy
  (EvaluateOnExit: first matching entry wins; no match retries; ``*`` only at the end).
- :func:`limit_container_overrides`: ECS allows 8,192 characters for a task's overrides,
  JSON included; Batch adds its own ``AWS_BATCH_*`` variables to them. Moto runs anything.
- :class:`HiddenJobs`: DescribeJobs/ListJobs are eventually consistent; a new job can be
  missing for a few seconds after SubmitJob. Moto shows it at once.
- :func:`resolve_command` and :func:`submit_job_kwargs`: how Batch fills ``Ref::`` placeholders
  and what ``aws batch submit-job ...`` sends.
- :func:`batch_uses_its_service_linked_role`: CreateComputeEnvironment without serviceRole
  (real Batch uses its service-linked role; moto requires one). Patches moto's backend.
- :class:`InvalidBatchResources`, :class:`QueuedJobs`: environments/queues gone INVALID with a
  statusReason; jobs Batch still holds RUNNABLE (moto without docker finishes them at once).
- :class:`RealDescribeShapes`: the keys real DescribeJobDefinitions / DescribeLogGroups add.
- :class:`CodeBuildAsAws`: CodeBuild builds' phases, CloudWatch log and exported digest (with
  ``ecr``: the image the build's ``docker push`` leaves, tagged as the buildspec tags it).
- :class:`CodeBuildProjectsAsAws`: BatchGetProjects with the keys real CodeBuild adds, and
  ``projectsNotFound``.
- :class:`ListenersAsAws`: DescribeListeners never returns an OIDC ``ClientSecret``, and fills
  the authenticate actions' defaults.
- :func:`codebuild_updates_projects`: CodeBuild UpdateProject (moto has none). Patches moto.

Keep additions small and additive (other helpers extend this module).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

ECS_OVERRIDE_LIMIT = 8192
# What Batch itself adds to the ECS container overrides of every attempt (names and value sizes
# as a real job shows them: ids are UUIDs, array children add index and size).
BATCH_ADDED_ENV = {
    "AWS_BATCH_JOB_ID": "0" * 36 + ":9999",
    "AWS_BATCH_JOB_ATTEMPT": "10",
    "AWS_BATCH_JQ_NAME": "q" * 128,
    "AWS_BATCH_CE_NAME": "c" * 128,
    "AWS_BATCH_JOB_ARRAY_INDEX": "9999",
    "AWS_BATCH_JOB_ARRAY_SIZE": "10000",
}


# --- retry strategies (Batch's EvaluateOnExit semantics) --------------------------------------


def glob_match(pattern: str, value: str | None, *, absent_matches_star: bool) -> bool:
    """Batch's glob: exact, or a prefix when the pattern ends with ``*`` (nowhere else)."""
    if value is None:
        return absent_matches_star and pattern == "*"
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def retry_decision(
    strategy: Mapping[str, Any], attempt: Mapping[str, Any], *, absent_matches_star: bool
) -> str:
    """RETRY or EXIT for one failed attempt (``statusReason``, ``container.reason/exitCode``).

    ``absent_matches_star``: whether ``*`` matches a field the attempt lacks (the reference does
    not say; tests check both). Refuses strategies AWS refuses (more than 5 entries, bad globs).
    """
    rules = list(strategy.get("evaluateOnExit") or [])
    if len(rules) > 5:
        raise ValueError(f"AWS Batch refuses {len(rules)} evaluateOnExit entries (at most 5)")
    container = attempt.get("container") or {}
    exit_code = container.get("exitCode")
    fields = {
        "onStatusReason": attempt.get("statusReason"),
        "onReason": container.get("reason"),
        "onExitCode": None if exit_code is None else str(exit_code),
    }
    for rule in rules:
        conditions = {k: v for k, v in rule.items() if k != "action"}
        for key, pattern in conditions.items():
            if "*" in pattern[:-1] or len(pattern) > 512:
                raise ValueError(f"AWS Batch refuses the pattern {pattern!r}")
            if key == "onExitCode" and not re.fullmatch(r"[0-9]*\*?", pattern):
                raise ValueError(f"AWS Batch refuses the exit code pattern {pattern!r}")
        if all(
            glob_match(p, fields[k], absent_matches_star=absent_matches_star)
            for k, p in conditions.items()
        ):
            return str(rule["action"]).upper()
    return "RETRY"


# --- ECS's limit on container overrides -------------------------------------------------------


def ecs_overrides_length(params: Mapping[str, Any]) -> int:
    """Characters of the ECS overrides Batch would send for these SubmitJob parameters."""
    ours = params.get("containerOverrides") or {}
    env = [
        *ours.get("environment", []),
        *({"name": k, "value": v} for k, v in BATCH_ADDED_ENV.items()),
    ]
    override: dict[str, Any] = {"name": "default", "environment": env}
    if ours.get("command"):
        override["command"] = list(ours["command"])
    return len(json.dumps({"containerOverrides": [override]}, separators=(",", ":")))


class SubmitLog:
    """Every SubmitJob's parameters (as sent) and its ECS overrides length; refuses oversize
    overrides with ECS's error, as a real task start would fail."""

    def __init__(self, client: Any, limit: int = ECS_OVERRIDE_LIMIT) -> None:
        self.limit = limit
        self.params: list[dict[str, Any]] = []
        self.lengths: list[int] = []
        client.meta.events.register("provide-client-params.batch.SubmitJob", self._check)

    def _check(self, params: dict[str, Any], **_: Any) -> None:
        length = ecs_overrides_length(params)
        self.params.append(copy.deepcopy(params))
        self.lengths.append(length)
        if length > self.limit:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ClientException",
                        "Message": f"Container Overrides length must be at most {self.limit}",
                    }
                },
                "SubmitJob",
            )


def limit_container_overrides(client: Any, limit: int = ECS_OVERRIDE_LIMIT) -> SubmitLog:
    """Attach a :class:`SubmitLog` to ``client``."""
    return SubmitLog(client, limit)


# --- eventual consistency ---------------------------------------------------------------------


class HiddenJobs:
    """New jobs stay invisible to the first ``describes`` DescribeJobs (and ListJobs) calls that
    would show them, as real Batch can answer for a few seconds after SubmitJob."""

    def __init__(self, client: Any, describes: int = 3) -> None:
        self.describes = describes
        self.left: dict[str, int] = {}
        self.hidden_answers = 0
        events = client.meta.events
        events.register("after-call.batch.SubmitJob", self._submitted)
        events.register("after-call.batch.DescribeJobs", self._describe)
        events.register("after-call.batch.ListJobs", self._list)

    def _submitted(self, parsed: dict[str, Any], **_: Any) -> None:
        if "jobId" in parsed:
            self.left[parsed["jobId"]] = self.describes

    def _hidden(self, job_id: str) -> bool:
        parent = job_id.split(":", 1)[0]  # array children appear with their parent
        return self.left.get(parent, 0) > 0

    def _describe(self, parsed: dict[str, Any], **_: Any) -> None:
        jobs = parsed.get("jobs", [])
        hidden = {j["jobId"].split(":", 1)[0] for j in jobs if self._hidden(j["jobId"])}
        if hidden:
            self.hidden_answers += 1
        parsed["jobs"] = [j for j in jobs if not self._hidden(j["jobId"])]
        for job_id in hidden:
            self.left[job_id] -= 1

    def _list(self, parsed: dict[str, Any], **_: Any) -> None:
        summaries = parsed.get("jobSummaryList", [])
        parsed["jobSummaryList"] = [s for s in summaries if not self._hidden(s["jobId"])]


# --- console / CLI submits --------------------------------------------------------------------


def resolve_command(
    command: Sequence[str], defaults: Mapping[str, str], given: Mapping[str, str]
) -> list[str]:
    """The command Batch runs: each ``Ref::NAME`` replaced by the SubmitJob parameter, else the
    job definition's default (an unmatched placeholder stays literal, as on Batch)."""
    values = {**defaults, **given}
    out = []
    for part in command:
        filled = part
        for name, value in values.items():
            filled = filled.replace(f"Ref::{name}", value)
        out.append(filled)
    return out


_CLI_OPTIONS = {
    "--job-name": "jobName",
    "--job-queue": "jobQueue",
    "--job-definition": "jobDefinition",
    "--parameters": "parameters",
}


def submit_job_kwargs(text: str) -> dict[str, Any]:
    """SubmitJob parameters of one ``aws batch submit-job ...`` command line (the options used
    in this project's docs; ``--parameters`` in the CLI's ``k=v,k2=v2`` shorthand)."""
    argv = shlex.split(text.replace("\\\n", " "))
    if argv[:3] != ["aws", "batch", "submit-job"]:
        raise ValueError(f"not an `aws batch submit-job` command: {text!r}")
    out: dict[str, Any] = {}
    rest = argv[3:]
    while rest:
        flag, value, rest = rest[0], rest[1], rest[2:]
        if flag not in _CLI_OPTIONS:
            raise ValueError(f"option {flag} is not handled here")
        key = _CLI_OPTIONS[flag]
        out[key] = (
            dict(kv.split("=", 1) for kv in value.split(",")) if key == "parameters" else value
        )
    missing = {"jobName", "jobQueue", "jobDefinition"} - set(out)
    if missing:  # the AWS CLI refuses the command before sending it
        raise ValueError(f"aws batch submit-job: missing required {sorted(missing)}")
    return out


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
        ecr: Any = None,
    ) -> None:
        self.logs = logs
        self.digest, self.lines, self.polls = digest, list(lines), polls
        self.status, self.failure = status, failure
        self.looks: dict[str, int] = {}
        self.ecr = ecr  # when given, a SUCCEEDED build pushes (see _push)
        self.env: dict[str, dict[str, str]] = {}  # build id -> its StartBuild variables
        self._next_env: dict[str, str] = {}
        self.pushed: list[tuple[str, list[str]]] = []  # (repository, tags) per push
        self.digests: dict[str, str] = {}  # build id -> the digest its push left
        codebuild.meta.events.register("after-call.codebuild.BatchGetBuilds", self._builds)
        codebuild.meta.events.register("provide-client-params.codebuild.StartBuild", self._start)
        codebuild.meta.events.register("after-call.codebuild.StartBuild", self._started)

    def _start(self, params: dict[str, Any], **_: Any) -> None:
        items = params.get("environmentVariablesOverride") or []
        self._next_env = {str(v["name"]): str(v["value"]) for v in items}

    def _started(self, parsed: dict[str, Any], **_: Any) -> None:
        build = parsed.get("build") or {}
        if "id" in build:
            self.env[build["id"]] = self._next_env

    def _push(self, build_id: str) -> str:
        """What the buildspec's ``docker push`` of IMAGE_URI:IMAGE_TAG and :SOURCE_TAG leaves in
        ECR (once per build): one image, both tags; its manifest differs per source."""
        env = self.env.get(build_id, {})
        repository = env["IMAGE_URI"].split("/", 1)[1]
        tags = [t for t in (env.get("IMAGE_TAG"), env.get("SOURCE_TAG")) if t]
        config = hashlib.sha256(env.get("SOURCE_TAG", build_id).encode()).hexdigest()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + config},
            }
        )
        digest = ""
        for tag in tags:
            try:
                image = self.ecr.put_image(
                    repositoryName=repository, imageManifest=manifest, imageTag=tag
                )
                digest = str(image["image"]["imageId"]["imageDigest"])
            except ClientError as exc:  # docker push of an image ECR already holds: no error
                if exc.response["Error"]["Code"] != "ImageAlreadyExistsException":
                    raise
                found = self.ecr.describe_images(
                    repositoryName=repository, imageIds=[{"imageTag": tag}]
                )
                digest = str(found["imageDetails"][0]["imageDigest"])
        self.pushed.append((repository, tags))
        return digest

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
                digest = self.digest
                if self.ecr is not None:
                    if build["id"] not in self.digests:
                        self.digests[build["id"]] = self._push(build["id"])
                    digest = self.digests[build["id"]]
                build["exportedEnvironmentVariables"] = [{"name": "IMAGE_DIGEST", "value": digest}]
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


# --- CodeBuild projects as real AWS describes them (HB) ---------------------------------------


class CodeBuildProjectsAsAws:
    """BatchGetProjects as real CodeBuild answers: the keys it adds to what CreateProject sent
    (``environment.imagePullCredentialsType`` and ``environmentVariables``, ``logsConfig.s3Logs``,
    ``source.insecureSsl``, ``queuedTimeoutInMinutes``, ``projectVisibility``, ``badge``, the
    default ``encryptionKey``), and the names it does not know in ``projectsNotFound`` (moto leaves
    that list out)."""

    def __init__(self, codebuild: Any) -> None:
        self.names: list[str] = []
        events = codebuild.meta.events
        events.register("provide-client-params.codebuild.BatchGetProjects", self._asked)
        events.register("after-call.codebuild.BatchGetProjects", self._projects)

    def _asked(self, params: dict[str, Any], **_: Any) -> None:
        self.names = list(params.get("names") or [])

    def _projects(self, parsed: dict[str, Any], **_: Any) -> None:
        found = parsed.get("projects", [])
        for project in found:
            env = project.setdefault("environment", {})
            env.setdefault("imagePullCredentialsType", "CODEBUILD")
            env.setdefault("environmentVariables", [])
            logs = project.setdefault("logsConfig", {})
            logs.setdefault("s3Logs", {"status": "DISABLED", "encryptionDisabled": False})
            project.setdefault("source", {}).setdefault("insecureSsl", False)
            project.setdefault("queuedTimeoutInMinutes", 480)
            project.setdefault("projectVisibility", "PRIVATE")
            project.setdefault("badge", {"badgeEnabled": False})
            arn = str(project.get("arn", ""))
            head = arn.split(":project/", 1)[0].replace(":codebuild:", ":kms:")
            project.setdefault("encryptionKey", f"{head}:alias/aws/s3")
        known = {p.get("name") for p in found} | {p.get("arn") for p in found}
        parsed["projectsNotFound"] = [n for n in self.names if n not in known]


# --- ELBv2 listeners as real AWS describes them (HB) ------------------------------------------

OIDC_DEFAULTS = {
    "SessionCookieName": "AWSELBAuthSessionCookie",
    "Scope": "openid",
    "SessionTimeout": 604800,
    "OnUnauthenticatedRequest": "authenticate",
}


class ListenersAsAws:
    """DescribeListeners as a real account answers: an authenticate-oidc action never carries
    its ``ClientSecret`` (moto echoes it), and authenticate actions report the defaults of what
    was left out (cookie name, scope, session timeout)."""

    def __init__(self, elbv2: Any) -> None:
        self.stripped = 0
        elbv2.meta.events.register(
            "after-call.elastic-load-balancing-v2.DescribeListeners", self._l
        )

    def _l(self, parsed: dict[str, Any], **_: Any) -> None:
        for listener in parsed.get("Listeners", []):
            for action in listener.get("DefaultActions", []):
                for key in ("AuthenticateOidcConfig", "AuthenticateCognitoConfig"):
                    config = action.get(key)
                    if isinstance(config, dict):
                        for name, value in OIDC_DEFAULTS.items():
                            config.setdefault(name, value)
                        if config.pop("ClientSecret", None) is not None:
                            self.stripped += 1


# --- CodeBuild UpdateProject, which moto does not implement (HB) ------------------------------

UPDATABLE_PROJECT_KEYS = (
    "description", "source", "artifacts", "environment", "serviceRole", "timeoutInMinutes",
    "queuedTimeoutInMinutes", "logsConfig", "tags", "cache", "vpcConfig",
)  # fmt: skip


def codebuild_updates_projects(monkeypatch: Any) -> None:
    """UpdateProject as the CodeBuild API reference describes it: the named project must exist
    (else ResourceNotFoundException); each setting given replaces the project's (the name cannot
    change); the answer is the updated project. moto answers NotImplementedError. Patches moto's
    CodeBuild responses in this process; ``monkeypatch`` undoes it after the test."""
    import datetime

    from moto.codebuild.exceptions import ResourceNotFoundException
    from moto.codebuild.responses import CodeBuildResponse
    from moto.core.responses import ActionResult

    def update_project(self: Any) -> Any:
        name = self._get_param("name")
        project = self.codebuild_backend.codebuild_projects.get(name)
        if project is None:
            raise ResourceNotFoundException(f"Project cannot be found: {name}")
        for key in UPDATABLE_PROJECT_KEYS:
            value = self._get_param(key)
            if value is not None:
                project.project_metadata[key] = value
        now = datetime.datetime.now(datetime.UTC).isoformat()
        project.project_metadata["lastModifiedDate"] = now
        return ActionResult({"project": project.project_metadata})

    monkeypatch.setattr(CodeBuildResponse, "update_project", update_project, raising=False)
