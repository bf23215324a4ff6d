"""push-image --remote: build an image in AWS CodeBuild (no local docker daemon needed).

Two images are built this way, by one code path: the engine's (engine/Dockerfile, the context
the root .dockerignore admits: engine/) into ``<prefix>-engine`` by the CodeBuild project
``<prefix>-image-build``, and the hosted dashboard's (infra/dashboard.Dockerfile, the context its
infra/dashboard.Dockerfile.dockerignore admits) into ``<prefix>-dashboard`` by
``<prefix>-dashboard-build``. An :class:`ImageBuild` names which. The build context goes to the
result bucket as a zip under ``builds/`` (expired by a lifecycle rule); the project builds it
for linux/amd64 (Fargate is X86_64 here) and pushes it tagged ``latest`` and ``src-<sha>`` (the
archive's hash, so ``up --dashboard --remote`` can tell that this source is already built). Its
role may only read ``builds/`` of the result bucket, write its own log group and push to that one
repository. The build log is streamed to the terminal from CloudWatch Logs while it runs; the
pushed digest (exported by the buildspec) is checked in ECR and returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from infra import build_context
from infra.actions import Action, apply, noop
from infra.build_context import REPO_ROOT, SOURCE_PREFIX, ImageBuild, Source
from infra.build_run import POLLING, Polling, run_build
from infra.clients import Clients
from infra.config import StackConfig
from infra.iam import as_dict, find_role, inline_policy

BUILD_IMAGE = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
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
KINDS = ("engine", "dashboard")


def project_name(cfg: StackConfig, kind: str = "engine") -> str:
    return ImageBuild.of(cfg, kind).project


def role_policy(cfg: StackConfig, build: ImageBuild) -> dict[str, Any]:
    """Read the uploaded source, write the build's log group, push to its one repository."""
    group = cfg.arn("logs", f"log-group:{build.log_group}")
    results = cfg.bucket_arn(cfg.result_bucket)
    sid = "PushEngineImage" if build.kind == "engine" else "PushDashboardImage"
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
                "Sid": sid,
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
                "Resource": cfg.arn("ecr", f"repository/{build.repository}"),
            },
        ],
    }


# --- the build context -------------------------------------------------------------------------


def source_archive(root: Path = REPO_ROOT, dockerignore: str = ".dockerignore") -> bytes:
    """The docker build context as a deterministic zip (``dockerignore`` applied)."""
    return build_context.archive(root, dockerignore)


def upload_source(clients: Clients, source: Source) -> None:
    """Put the archive in the result bucket (under builds/)."""
    clients.s3.put_object(Bucket=source.bucket, Key=source.key, Body=source.data)


# --- role and project --------------------------------------------------------------------------


def _project(codebuild: Any, name: str) -> dict[str, Any] | None:
    found = codebuild.batch_get_projects(names=[name]).get("projects", [])
    return dict(found[0]) if found else None


def project_settings(cfg: StackConfig, build: ImageBuild, source_location: str) -> dict[str, Any]:
    """CreateProject/UpdateProject arguments."""
    return {
        "name": build.project,
        "description": f"batch-backtest {cfg.prefix}: builds {build.dockerfile} for linux/amd64",
        "source": {"type": "S3", "location": source_location, "buildspec": build.buildspec},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": BUILD_IMAGE,
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": True,  # the docker daemon inside the build
        },
        "serviceRole": cfg.role_arn(build.project),
        "timeoutInMinutes": 30,
        "logsConfig": {"cloudWatchLogs": {"status": "ENABLED", "groupName": build.log_group}},
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


def _role_action(iam: Any, cfg: StackConfig, build: ImageBuild) -> Action:
    name = build.project
    policy = role_policy(cfg, build)

    def write_role(create: bool) -> None:
        if create:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(TRUST),
                Description=f"CodeBuild role for batch-backtest {build.kind} image builds",
            )
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))

    if find_role(iam, name) is None:
        why = f"CodeBuild: source, logs, push to {build.repository}"
        return Action("create", "iam role", name, why, lambda: write_role(True))
    if as_dict(inline_policy(iam, name)) != policy:
        return Action("update", "iam role", name, "set inline policy", lambda: write_role(False))
    return noop("iam role", name)


def plan(
    clients: Clients,
    cfg: StackConfig,
    build: ImageBuild,
    source_location: str,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Action]:
    """Create or fix the build's role and CodeBuild project."""
    codebuild = clients.codebuild
    name = build.project
    actions = [_role_action(clients.iam, cfg, build)]
    settings = project_settings(cfg, build, source_location)
    project = _project(codebuild, name)
    if project is None:
        why = f"{BUILD_IMAGE}, linux/amd64, {build.dockerfile}"
        actions.append(
            Action(
                "create",
                "codebuild project",
                name,
                why,
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


def _steps(
    clients: Clients,
    cfg: StackConfig,
    build: ImageBuild,
    source: Source,
    sleep: Callable[[float], None],
) -> list[Action]:
    """Upload the context, then create or fix the role and the project."""
    why = f"the build context, {len(source.data):,} bytes"
    upload = Action(
        "create",
        "build source",
        f"s3://{source.location}",
        why,
        lambda: upload_source(clients, source),
    )
    return [upload, *plan(clients, cfg, build, source.location, sleep)]


def build_and_push(
    clients: Clients,
    cfg: StackConfig,
    build: ImageBuild,
    echo: Callable[[str], None],
    polling: Polling = POLLING,
) -> str:
    """Upload the build context, make or fix the project, build and push; return the digest."""
    source = Source.of(build, cfg.result_bucket)
    apply(_steps(clients, cfg, build, source, polling.sleep), echo)
    return run_build(clients, build, source, echo, polling)


def _built(ecr: Any, build: ImageBuild, tag: str) -> bool:
    try:
        found = ecr.describe_images(repositoryName=build.repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        if exc.response["Error"]["Code"] in (
            "ImageNotFoundException",
            "RepositoryNotFoundException",
        ):
            return False
        raise
    return bool(found.get("imageDetails"))


def image_actions(
    clients: Clients,
    cfg: StackConfig,
    build: ImageBuild,
    echo: Callable[[str], None],
    polling: Polling = POLLING,
) -> list[Action]:
    """Build and push when ECR has no image of exactly this source (tag ``src-<sha>``): the
    upload, the role and project, the build; one no-op when it is already built."""
    source = Source.of(build, cfg.result_bucket)
    name = f"{build.repository}:{source.tag}"
    if _built(clients.ecr, build, source.tag):
        return [noop("image", name, "this source is built")]

    def run() -> None:
        run_build(clients, build, source, echo, polling)

    why = f"CodeBuild builds {build.dockerfile} for linux/amd64"
    return [
        *_steps(clients, cfg, build, source, polling.sleep),
        Action("create", "image", name, why, run),
    ]


# --- status and teardown -----------------------------------------------------------------------


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) of each CodeBuild project that a remote build made."""
    rows = []
    for kind in KINDS:
        build = ImageBuild.of(cfg, kind)
        project = _project(clients.codebuild, build.project)
        if project is None:
            continue
        image = (project.get("environment") or {}).get("image", "")
        rows.append(
            ("codebuild project", build.project, f"exists, {image}, builds {build.dockerfile}")
        )
    return rows


def _log_group_exists(logs: Any, name: str) -> bool:
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return any(g["logGroupName"] == name for g in found)


def teardown(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Delete each CodeBuild project, its role and the log group its builds wrote."""
    actions = []
    for kind in KINDS:
        build = ImageBuild.of(cfg, kind)
        name = build.project
        if _log_group_exists(clients.logs, build.log_group):

            def drop_logs(group: str = build.log_group) -> None:
                clients.logs.delete_log_group(logGroupName=group)

            actions.append(Action("delete", "log group", build.log_group, "build logs", drop_logs))
        if _project(clients.codebuild, name) is not None:

            def drop_project(name: str = name) -> None:
                clients.codebuild.delete_project(name=name)

            actions.append(
                Action("delete", "codebuild project", name, "image builds", drop_project)
            )
        if find_role(clients.iam, name) is not None:

            def drop_role(name: str = name) -> None:
                for policy in clients.iam.list_role_policies(RoleName=name)["PolicyNames"]:
                    clients.iam.delete_role_policy(RoleName=name, PolicyName=policy)
                clients.iam.delete_role(RoleName=name)

            actions.append(Action("delete", "iam role", name, "CodeBuild role", drop_role))
    return actions
