"""push-image: build engine/Dockerfile for linux/amd64, push it to ECR, pin the digest.

Fargate Spot runs X86_64 only, so the image is always built for linux/amd64 (``docker buildx
build --platform linux/amd64``; on an arm64 laptop buildx emulates). Where no docker daemon
answers, ``--remote`` builds in AWS CodeBuild instead (infra/remote_build.py); without it the
command exits 1 naming both ways.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.errors import BacktestError, InfraError
from infra import ecr, jobdef_sync, remote_build
from infra.actions import apply
from infra.build_run import POLLING, Polling
from infra.clients import Clients
from infra.config import StackConfig
from infra.network import discover

REPO_ROOT = Path(__file__).resolve().parents[1]


def docker_answers() -> bool:
    """True when `docker info` reaches a daemon."""
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


PLATFORM = "linux/amd64"  # Fargate Spot is X86_64 only


def build_args(image: str, dockerfile: str = "engine/Dockerfile") -> list[str]:
    """docker arguments that build ``dockerfile`` (relative to the repository root) for
    linux/amd64 and push (a single-platform manifest)."""
    dockerfile = str(REPO_ROOT / dockerfile)
    return [
        "buildx", "build", "--platform", PLATFORM, "--provenance=false",
        "-f", dockerfile, "-t", image, "--push", str(REPO_ROOT),
    ]  # fmt: skip


def manual_commands(cfg: StackConfig) -> str:
    """The one line a user runs where docker works (from the repository root)."""
    image = f"{cfg.repository_uri}:{cfg.image_tag}"
    return (
        f"aws ecr get-login-password --region {cfg.region} | "
        f"docker login --username AWS --password-stdin {cfg.registry} && "
        f"docker buildx build --platform {PLATFORM} --provenance=false -f engine/Dockerfile "
        f"-t {image} --push . && "
        f"python -m infra up --region {cfg.region} --prefix {cfg.prefix}"
    )


def _docker(args: Sequence[str], stdin: str | None = None) -> None:
    done = subprocess.run(["docker", *args], input=stdin, text=True, check=False)
    if done.returncode != 0:
        shown = " ".join(shlex.quote(a) for a in args if a)
        raise InfraError(f"docker {shown} failed with exit code {done.returncode}; see above")


def docker_push(clients: Clients, image: str, dockerfile: str, echo: Callable[[str], None]) -> None:
    """Log docker in to the account's registry, build ``dockerfile`` and push ``image``."""
    auth = clients.ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    registry = str(auth["proxyEndpoint"]).removeprefix("https://")
    _docker(["login", "--username", user, "--password-stdin", registry], stdin=password)
    echo(f"building {image} for {PLATFORM} and pushing it")
    _docker(build_args(image, dockerfile))


def _repository(clients: Clients, cfg: StackConfig) -> dict[str, object]:
    repo = ecr.describe(clients.ecr, cfg.repository)
    if repo is None:
        raise BacktestError(
            f"ECR repository {cfg.repository} does not exist in {cfg.region}; "
            f"run python -m infra up --region {cfg.region} --prefix {cfg.prefix} first"
        )
    return repo


def _pin(clients: Clients, cfg: StackConfig, digest: str, echo: Callable[[str], None]) -> str:
    echo(f"pushed {cfg.repository_uri}@{digest}")
    net = discover(clients.ec2, cfg)
    apply(jobdef_sync.plan(clients, cfg, f"{cfg.repository_uri}@{digest}", net), echo)
    return digest


def push(
    clients: Clients, cfg: StackConfig, echo: Callable[[str], None], *, remote: bool = False
) -> str:
    """Build for linux/amd64 and push (locally or in CodeBuild); re-register the job
    definitions by digest; return the digest."""
    _repository(clients, cfg)
    if remote:
        return push_remote(clients, cfg, echo)
    if not docker_answers():
        raise InfraError(
            "no docker daemon answers here; build in AWS CodeBuild with "
            f"python -m infra push-image --remote --region {cfg.region} --prefix {cfg.prefix}, "
            f"or where docker runs: {manual_commands(cfg)}"
        )
    image = f"{cfg.repository_uri}:{cfg.image_tag}"
    docker_push(clients, image, "engine/Dockerfile", echo)
    digest = ecr.image_digest(clients.ecr, cfg)
    if digest is None:
        raise InfraError(f"pushed {image} but ECR lists no image tagged {cfg.image_tag}; retry")
    return _pin(clients, cfg, digest, echo)


def push_remote(
    clients: Clients,
    cfg: StackConfig,
    echo: Callable[[str], None],
    *,
    polling: Polling = POLLING,
) -> str:
    """Upload the build context, build and push in CodeBuild (log streamed), pin the digest."""
    build = remote_build.ImageBuild.of(cfg, "engine")
    digest = remote_build.build_and_push(clients, cfg, build, echo, polling)
    return _pin(clients, cfg, digest, echo)
