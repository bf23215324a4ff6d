"""Run one CodeBuild build of an :class:`~infra.build_context.ImageBuild` and stream its log.

StartBuild with the uploaded source and the image's names as environment variables; the build's
CloudWatch log stream is printed while BatchGetBuilds answers IN_PROGRESS; a failed build is one
line naming the failed phase and its reason; the digest the buildspec exports is checked in ECR.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from engine.errors import InfraError
from infra.build_context import ImageBuild, Source
from infra.clients import Clients


@dataclass(frozen=True)
class Polling:
    """How a running build is watched (tests pass a recording ``sleep``)."""

    interval: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep)


POLLING = Polling()


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
    build: ImageBuild,
    source: Source,
    echo: Callable[[str], None],
    polling: Polling = POLLING,
) -> str:
    """Start the build of the uploaded ``source``, stream its log until it ends, return the
    pushed image digest."""
    codebuild = clients.codebuild
    env = [
        {"name": "REGISTRY", "value": build.registry, "type": "PLAINTEXT"},
        {"name": "IMAGE_URI", "value": build.repository_uri, "type": "PLAINTEXT"},
        {"name": "IMAGE_TAG", "value": build.image_tag, "type": "PLAINTEXT"},
        {"name": "SOURCE_TAG", "value": source.tag, "type": "PLAINTEXT"},
    ]
    started = codebuild.start_build(
        projectName=build.project,
        sourceTypeOverride="S3",
        sourceLocationOverride=source.location,
        environmentVariablesOverride=env,
    )["build"]
    build_id = str(started["id"])
    echo(f"CodeBuild build {build_id} started; its log follows")
    tail = LogTail(clients.logs, echo)
    while True:
        found = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
        logs = found.get("logs") or {}
        if logs.get("groupName") and logs.get("streamName"):
            tail.poll(str(logs["groupName"]), str(logs["streamName"]))
        if found.get("buildStatus") != "IN_PROGRESS":
            break
        polling.sleep(polling.interval)
    status = found.get("buildStatus")
    if status != "SUCCEEDED":
        raise InfraError(
            f"CodeBuild build {build_id} {status}: {_failure(found)}; see the log above"
        )
    return _digest(clients, build, found)


def _digest(clients: Clients, build: ImageBuild, found: dict[str, Any]) -> str:
    exported = {
        str(v.get("name")): str(v.get("value"))
        for v in found.get("exportedEnvironmentVariables", []) or []
    }
    digest = exported.get("IMAGE_DIGEST", "")
    if not digest.startswith("sha256:"):
        raise InfraError(
            f"CodeBuild build {found['id']} exported no image digest; see the log above"
        )
    try:
        clients.ecr.describe_images(
            repositoryName=build.repository, imageIds=[{"imageDigest": digest}]
        )
    except ClientError:
        raise InfraError(
            f"CodeBuild reported {digest} but ECR repository {build.repository} has no such image"
        ) from None
    return digest
