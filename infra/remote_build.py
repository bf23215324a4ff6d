"""push-image --remote: build the engine image in AWS CodeBuild (no local docker daemon needed).

The build context (what .dockerignore lets through: engine/) goes to the result bucket as a zip
under ``builds/`` (expired by a lifecycle rule); the CodeBuild project ``<prefix>-image-build``
builds engine/Dockerfile for linux/amd64 (Fargate Spot is X86_64 only) and pushes it to the
stack's repository. Its role may only read ``builds/`` of the result bucket, write its own log
group and push to that one repository. The build log is streamed to the terminal from CloudWatch
Logs while it runs; the pushed digest (exported by the buildspec, checked in ECR) is pinned in
the job definitions.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from engine.errors import InfraError
from infra.actions import Action, noop
from infra.clients import Clients
from infra.config import StackConfig
from infra.iam import as_dict, find_role, inline_policy

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_PREFIX = "builds/"
BUILD_IMAGE = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed: the same source gives the same archive and key
BUILDSPEC = """version: 0.2
env:
  exported-variables:
    - IMAGE_DIGEST
phases:
  pre_build:
    commands:
      - aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$REGISTRY"
  build:
    commands:
      - docker build --platform linux/amd64 -f engine/Dockerfile -t "$IMAGE_URI:$IMAGE_TAG" .
      - docker push "$IMAGE_URI:$IMAGE_TAG"
      - IMAGE_DIGEST=$(docker inspect --format='{{index .RepoDigests 0}}' "$IMAGE_URI:$IMAGE_TAG" | cut -d@ -f2)
      - echo "pushed $IMAGE_URI@$IMAGE_DIGEST"
"""  # noqa: E501  (shell lines)
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def project_name(cfg: StackConfig) -> str:
    return f"{cfg.prefix}-image-build"


def log_group(cfg: StackConfig) -> str:
    return f"/aws/codebuild/{project_name(cfg)}"


def role_policy(cfg: StackConfig) -> dict[str, Any]:
    """Read the uploaded source, write the build's log group, push to the engine repository."""
    group = cfg.arn("logs", f"log-group:{log_group(cfg)}")
    results = cfg.bucket_arn(cfg.result_bucket)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BuildLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [group, f"{group}:*"],
            },
            {
                "Sid": "ReadSource",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{results}/{SOURCE_PREFIX}*",
            },
            {
                "Sid": "EcrAuth",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "PushEngineImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                ],
                "Resource": cfg.arn("ecr", f"repository/{cfg.repository}"),
            },
        ],
    }


# --- the build context -------------------------------------------------------------------------


def _ignore_rules(root: Path) -> list[tuple[bool, str]]:
    path = root / ".dockerignore"
    rules = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        text = line.strip()
        if text and not text.startswith("#"):
            keep = text.startswith("!")
            rules.append((keep, text.lstrip("!").strip("/")))
    return rules


def _included(rel: str, rules: list[tuple[bool, str]]) -> bool:
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for keep, pattern in rules:  # the last matching rule wins, as in docker
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            included = keep
    return included


def source_archive(root: Path = REPO_ROOT) -> bytes:
    """The docker build context as a deterministic zip (.dockerignore applied)."""
    rules = _ignore_rules(root)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if "__pycache__" in rel or rel.endswith(".pyc") or not _included(rel, rules):
                continue
            info = zipfile.ZipInfo(rel, ZIP_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def upload_source(clients: Clients, cfg: StackConfig, data: bytes) -> str:
    """Put the archive in the result bucket; return its key."""
    key = f"{SOURCE_PREFIX}engine-{hashlib.sha256(data).hexdigest()[:16]}.zip"
    clients.s3.put_object(Bucket=cfg.result_bucket, Key=key, Body=data)
    return key


# --- role and project --------------------------------------------------------------------------


def _project(codebuild: Any, name: str) -> dict[str, Any] | None:
    found = codebuild.batch_get_projects(names=[name]).get("projects", [])
    return dict(found[0]) if found else None


def project_settings(cfg: StackConfig, source_location: str) -> dict[str, Any]:
    """CreateProject/UpdateProject arguments."""
    return {
        "name": project_name(cfg),
        "description": f"batch-backtest {cfg.prefix}: builds engine/Dockerfile for linux/amd64",
        "source": {"type": "S3", "location": source_location, "buildspec": BUILDSPEC},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": BUILD_IMAGE,
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": True,  # the docker daemon inside the build
        },
        "serviceRole": cfg.role_arn(project_name(cfg)),
        "timeoutInMinutes": 30,
        "logsConfig": {"cloudWatchLogs": {"status": "ENABLED", "groupName": log_group(cfg)}},
        "tags": [
            {"key": "project", "value": "batch-backtest"},
            {"key": "prefix", "value": cfg.prefix},
        ],
    }


def _create_project(
    codebuild: Any, settings: dict[str, Any], sleep: Callable[[float], None]
) -> None:
    """CreateProject; a role IAM has not yet made visible to CodeBuild is retried for ~2 min."""
    for attempt in range(25):
        try:
            codebuild.create_project(**settings)
            return
        except ClientError as exc:
            err = exc.response.get("Error", {})
            propagating = err.get("Code") == "InvalidInputException" and "AssumeRole" in str(
                err.get("Message", "")
            )
            if not propagating or attempt == 24:
                raise
            sleep(5)


def plan(
    clients: Clients, cfg: StackConfig, source_location: str, sleep: Callable[[float], None]
) -> list[Action]:
    """Create or fix the build role and the CodeBuild project."""
    iam, codebuild = clients.iam, clients.codebuild
    name = project_name(cfg)
    policy = role_policy(cfg)
    actions = []

    def write_role(create: bool) -> None:
        if create:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(TRUST),
                Description="CodeBuild role for batch-backtest image builds",
            )
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))

    if find_role(iam, name) is None:
        actions.append(
            Action(
                "create",
                "iam role",
                name,
                "CodeBuild: source, logs, push",
                lambda: write_role(True),
            )
        )
    elif as_dict(inline_policy(iam, name)) != policy:
        actions.append(
            Action("update", "iam role", name, "set inline policy", lambda: write_role(False))
        )
    else:
        actions.append(noop("iam role", name))
    settings = project_settings(cfg, source_location)
    project = _project(codebuild, name)
    if project is None:
        actions.append(
            Action(
                "create",
                "codebuild project",
                name,
                f"{BUILD_IMAGE}, linux/amd64",
                lambda: _create_project(codebuild, settings, sleep),
            )
        )
        return actions
    parts = _project_differences(settings, project)
    if not parts:
        actions.append(noop("codebuild project", name, "source given per build"))
        return actions
    update = {k: v for k, v in settings.items() if k != "tags"}
    update["source"] = {**settings["source"], "location": project["source"].get("location")}
    actions.append(
        Action(
            "update",
            "codebuild project",
            name,
            "set " + ", ".join(parts),
            lambda: codebuild.update_project(**update),
        )
    )
    return actions


def _project_differences(settings: dict[str, Any], project: dict[str, Any]) -> list[str]:
    """What differs on the keys this module sets (the source location changes per build)."""
    from infra.compare import differs

    sent = {
        "buildspec": settings["source"]["buildspec"],
        "environment": settings["environment"],
        "serviceRole": settings["serviceRole"],
        "logsConfig": settings["logsConfig"],
    }
    have = {
        "buildspec": (project.get("source") or {}).get("buildspec"),
        "environment": project.get("environment"),
        "serviceRole": project.get("serviceRole"),
        "logsConfig": project.get("logsConfig"),
    }
    return [k for k, v in sent.items() if differs(v, have.get(k), k)]


# --- run and stream ----------------------------------------------------------------------------


class LogTail:
    """Prints a CloudWatch log stream's new lines each time it is polled."""

    def __init__(self, logs: Any, echo: Callable[[str], None]) -> None:
        self.logs = logs
        self.echo = echo
        self.token: str | None = None

    def poll(self, group: str, stream: str) -> None:
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if self.token:
                kwargs["nextToken"] = self.token
            try:
                page = self.logs.get_log_events(**kwargs)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                    return  # the stream appears once the build starts
                raise
            for event in page.get("events", []):
                self.echo(str(event["message"]).rstrip("\n"))
            token = page.get("nextForwardToken")
            if not token or token == self.token:
                return
            self.token = token


def _failure(build: dict[str, Any]) -> str:
    for phase in build.get("phases", []):
        if phase.get("phaseStatus") not in (None, "SUCCEEDED"):
            contexts = "; ".join(
                str(c.get("message", "")) for c in phase.get("contexts", []) if c.get("message")
            )
            return f"phase {phase.get('phaseType')} {phase.get('phaseStatus')}: {contexts}".strip()
    return "no failed phase reported"


def run_build(
    clients: Clients,
    cfg: StackConfig,
    source_location: str,
    echo: Callable[[str], None],
    *,
    poll: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Start the build, stream its log until it ends, return the pushed image digest."""
    codebuild = clients.codebuild
    env = [
        {"name": "REGISTRY", "value": cfg.registry, "type": "PLAINTEXT"},
        {"name": "IMAGE_URI", "value": cfg.repository_uri, "type": "PLAINTEXT"},
        {"name": "IMAGE_TAG", "value": cfg.image_tag, "type": "PLAINTEXT"},
    ]
    started = codebuild.start_build(
        projectName=project_name(cfg),
        sourceTypeOverride="S3",
        sourceLocationOverride=source_location,
        environmentVariablesOverride=env,
    )["build"]
    build_id = str(started["id"])
    echo(f"CodeBuild build {build_id} started; its log follows")
    tail = LogTail(clients.logs, echo)
    while True:
        build = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
        logs = build.get("logs") or {}
        if logs.get("groupName") and logs.get("streamName"):
            tail.poll(str(logs["groupName"]), str(logs["streamName"]))
        if build.get("buildStatus") != "IN_PROGRESS":
            break
        sleep(poll)
    status = build.get("buildStatus")
    if status != "SUCCEEDED":
        raise InfraError(
            f"CodeBuild build {build_id} {status}: {_failure(build)}; see the log above"
        )
    return _digest(clients, cfg, build)


def _digest(clients: Clients, cfg: StackConfig, build: dict[str, Any]) -> str:
    exported = {
        str(v.get("name")): str(v.get("value"))
        for v in build.get("exportedEnvironmentVariables", []) or []
    }
    digest = exported.get("IMAGE_DIGEST", "")
    if not digest.startswith("sha256:"):
        raise InfraError(
            f"CodeBuild build {build['id']} exported no image digest; see the log above"
        )
    try:
        clients.ecr.describe_images(
            repositoryName=cfg.repository, imageIds=[{"imageDigest": digest}]
        )
    except ClientError:
        raise InfraError(
            f"CodeBuild reported {digest} but ECR repository {cfg.repository} has no such image"
        ) from None
    return digest


# --- status and teardown -----------------------------------------------------------------------


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) of the CodeBuild project, once push-image --remote made it."""
    project = _project(clients.codebuild, project_name(cfg))
    if project is None:
        return []
    image = (project.get("environment") or {}).get("image", "")
    return [("codebuild project", project_name(cfg), f"exists, {image}, for push-image --remote")]


def teardown(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Delete the CodeBuild project and its role, when push-image --remote made them."""
    name = project_name(cfg)
    actions = []
    if _project(clients.codebuild, name) is not None:
        actions.append(
            Action(
                "delete",
                "codebuild project",
                name,
                "image builds",
                lambda: clients.codebuild.delete_project(name=name),
            )
        )
    if find_role(clients.iam, name) is not None:

        def drop_role() -> None:
            for policy in clients.iam.list_role_policies(RoleName=name)["PolicyNames"]:
                clients.iam.delete_role_policy(RoleName=name, PolicyName=policy)
            clients.iam.delete_role(RoleName=name)

        actions.append(Action("delete", "iam role", name, "CodeBuild role", drop_role))
    return actions
