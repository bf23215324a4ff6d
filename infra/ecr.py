"""The engine image repository: scan on push, a lifecycle policy keeping the last N images."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from infra.actions import Action, noop
from infra.clients import Clients
from infra.compare import differs
from infra.config import StackConfig


def lifecycle_policy(cfg: StackConfig) -> dict[str, Any]:
    """Keep the newest ``keep_images`` images, expire older ones."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {cfg.keep_images} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": cfg.keep_images,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def describe(ecr: Any, name: str) -> dict[str, Any] | None:
    """The repository description, or None when it does not exist."""
    try:
        return dict(ecr.describe_repositories(repositoryNames=[name])["repositories"][0])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "RepositoryNotFoundException":
            return None
        raise


def image_digest(ecr: Any, cfg: StackConfig) -> str | None:
    """The digest of the image tagged ``cfg.image_tag``, or None (no repository or image)."""
    try:
        found = ecr.describe_images(
            repositoryName=cfg.repository, imageIds=[{"imageTag": cfg.image_tag}]
        )["imageDetails"]
    except ClientError:
        return None
    return str(found[0]["imageDigest"]) if found else None


def image_reference(clients: Clients, cfg: StackConfig) -> str:
    """``URI@sha256:...`` when an image is pushed, else ``URI:tag``."""
    digest = image_digest(clients.ecr, cfg)
    return f"{cfg.repository_uri}@{digest}" if digest else f"{cfg.repository_uri}:{cfg.image_tag}"


def _current_policy(ecr: Any, name: str) -> dict[str, Any] | None:
    try:
        text = ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
    except ClientError:
        return None
    return dict(json.loads(text))


def _put_policy(ecr: Any, cfg: StackConfig) -> None:
    ecr.put_lifecycle_policy(
        repositoryName=cfg.repository, lifecyclePolicyText=json.dumps(lifecycle_policy(cfg))
    )


def _create(ecr: Any, cfg: StackConfig) -> None:
    ecr.create_repository(
        repositoryName=cfg.repository,
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="MUTABLE",
        encryptionConfiguration={"encryptionType": "AES256"},
    )
    _put_policy(ecr, cfg)


def _fix(ecr: Any, cfg: StackConfig, parts: list[str]) -> None:
    if "scan on push" in parts:
        ecr.put_image_scanning_configuration(
            repositoryName=cfg.repository, imageScanningConfiguration={"scanOnPush": True}
        )
    if "lifecycle policy" in parts:
        _put_policy(ecr, cfg)


def plan(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Create the repository or bring its scanning and lifecycle policy in line."""
    ecr = clients.ecr
    repo = describe(ecr, cfg.repository)
    if repo is None:
        return [
            Action(
                "create",
                "ecr repository",
                cfg.repository,
                "does not exist",
                lambda: _create(ecr, cfg),
            )
        ]
    parts = []
    if not repo.get("imageScanningConfiguration", {}).get("scanOnPush"):
        parts.append("scan on push")
    if differs(lifecycle_policy(cfg), _current_policy(ecr, cfg.repository)):
        parts.append("lifecycle policy")
    if not parts:
        return [noop("ecr repository", cfg.repository)]
    why = "set " + ", ".join(parts)
    return [Action("update", "ecr repository", cfg.repository, why, lambda: _fix(ecr, cfg, parts))]


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) of the repository."""
    repo = describe(clients.ecr, cfg.repository)
    if repo is None:
        return [("ecr repository", cfg.repository, "absent")]
    digest = image_digest(clients.ecr, cfg)
    image = f"{cfg.image_tag} = {digest}" if digest else f"no image tagged {cfg.image_tag} yet"
    scan = "scan on push" if repo.get("imageScanningConfiguration", {}).get("scanOnPush") else ""
    return [("ecr repository", repo["repositoryUri"], f"exists, {scan}, {image}")]


def teardown(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Delete the repository with its images."""
    ecr = clients.ecr
    if describe(ecr, cfg.repository) is None:
        return []

    def run() -> None:
        ecr.delete_repository(repositoryName=cfg.repository, force=True)

    return [Action("delete", "ecr repository", cfg.repository, "with its images", run)]
