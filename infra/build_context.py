"""What an image build is made of: which Dockerfile, which build context, which repository.

:class:`ImageBuild` names one image (the engine's or the hosted dashboard's) and
:class:`Source` is its build context as a deterministic zip, filtered by its dockerignore file.

The rules follow docker's: one pattern a line, ``#`` comments, ``!`` re-admits, the last matching
rule wins, a pattern matching a folder covers everything under it, ``**/`` matches any depth
(none included). Folders that are excluded and that no ``!`` rule can reach are not walked (the
checkout's ``.venv`` and ``.git`` are large). ``__pycache__`` and ``*.pyc`` never go in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.config import StackConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_PREFIX = "builds/"
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
      - docker build --platform linux/amd64 -f {dockerfile} -t "$IMAGE_URI:$IMAGE_TAG" -t "$IMAGE_URI:$SOURCE_TAG" .
      - docker push "$IMAGE_URI:$IMAGE_TAG"
      - docker push "$IMAGE_URI:$SOURCE_TAG"
      - IMAGE_DIGEST=$(docker inspect --format='{{{{index .RepoDigests 0}}}}' "$IMAGE_URI:$IMAGE_TAG" | cut -d@ -f2)
      - echo "pushed $IMAGE_URI@$IMAGE_DIGEST"
"""  # noqa: E501  (shell lines)
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed: the same files give the same archive and key
Rules = list[tuple[bool, str]]


def ignore_rules(path: Path) -> Rules:
    """(keep, pattern) per line of a dockerignore file; none when the file is absent."""
    rules = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        text = line.strip()
        if text and not text.startswith("#"):
            keep = text.startswith("!")
            rules.append((keep, text.lstrip("!").strip().strip("/")))
    return rules


def _matches(rel: str, pattern: str) -> bool:
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    patterns = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
    return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns)


def included(rel: str, rules: Rules) -> bool:
    """Whether the context holds ``rel`` (a path relative to the context's root)."""
    keep_it = True
    for keep, pattern in rules:  # the last matching rule wins, as in docker
        if _matches(rel, pattern):
            keep_it = keep
    return keep_it


def _reachable(folder: str, rules: Rules) -> bool:
    """True when some ``!`` rule could admit a path under an excluded ``folder``."""
    depth = folder.count("/") + 1
    for keep, pattern in rules:
        if not keep:
            continue
        if pattern.startswith("**"):
            return True
        head = pattern.split("/")
        if len(head) > depth and _matches(folder, "/".join(head[:depth])):
            return True
    return False


def files(root: Path, rules: Rules) -> list[str]:
    """The context's files, relative to ``root``, sorted."""
    found = []
    for here, folders, names in os.walk(root):
        base = Path(here).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        folders[:] = [
            f
            for f in folders
            if f != "__pycache__" and (included(prefix + f, rules) or _reachable(prefix + f, rules))
        ]
        for name in names:
            rel = prefix + name
            if not name.endswith(".pyc") and included(rel, rules):
                found.append(rel)
    return sorted(found)


def archive(root: Path, dockerignore: str = ".dockerignore") -> bytes:
    """The build context of ``root`` as a zip (``dockerignore`` is relative to ``root``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files(root, ignore_rules(root / dockerignore)):
            info = zipfile.ZipInfo(rel, ZIP_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, (root / rel).read_bytes(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


@dataclass(frozen=True)
class ImageBuild:
    """Which image a CodeBuild build makes: its Dockerfile and build context, where it goes."""

    kind: str  # "engine" or "dashboard": names the project, its role and the source archive
    dockerfile: str  # relative to the build context's root (the repository root)
    dockerignore: str  # the context's filter, relative to the same root
    repository: str  # the ECR repository pushed to
    project: str  # the CodeBuild project (and its role)
    registry: str  # the account's ECR registry host
    image_tag: str = "latest"
    root: Path = REPO_ROOT

    @classmethod
    def of(cls, cfg: StackConfig, kind: str = "engine") -> ImageBuild:
        """The engine's or the dashboard's build in ``cfg``'s stack."""
        if kind == "dashboard":
            return cls(
                kind,
                "infra/dashboard.Dockerfile",
                "infra/dashboard.Dockerfile.dockerignore",
                f"{cfg.prefix}-dashboard",
                f"{cfg.prefix}-dashboard-build",
                cfg.registry,
                cfg.image_tag,
                REPO_ROOT,  # read at call time: the checkout the command runs from
            )
        return cls(
            "engine",
            "engine/Dockerfile",
            ".dockerignore",
            cfg.repository,
            f"{cfg.prefix}-image-build",
            cfg.registry,
            cfg.image_tag,
            REPO_ROOT,
        )

    @property
    def repository_uri(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def log_group(self) -> str:
        return f"/aws/codebuild/{self.project}"

    @property
    def buildspec(self) -> str:
        return BUILDSPEC.format(dockerfile=self.dockerfile)


@dataclass(frozen=True)
class Source:
    """One build context, archived: its bytes and where it goes in the result bucket."""

    data: bytes
    bucket: str
    key: str  # builds/<kind>-<sha16>.zip
    tag: str  # src-<sha16>: the image tag a build of exactly this source carries

    @classmethod
    def of(cls, build: ImageBuild, bucket: str) -> Source:
        data = archive(build.root, build.dockerignore)
        sha = hashlib.sha256(data).hexdigest()[:16]
        return cls(data, bucket, f"{SOURCE_PREFIX}{build.kind}-{sha}.zip", f"src-{sha}")

    @property
    def location(self) -> str:
        """CodeBuild's S3 source location: bucket/key."""
        return f"{self.bucket}/{self.key}"
