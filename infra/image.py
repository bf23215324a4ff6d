"""push-image: build engine/Dockerfile, push it to the stack's ECR repository, pin the digest.

Where no docker daemon answers, nothing is built: the command exits 1 with the exact commands
to run on a machine that has docker.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.errors import BacktestError, InfraError
from infra import ecr, jobdefs
from infra.actions import apply
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


def manual_commands(cfg: StackConfig) -> str:
    """The one line a user runs where docker works (from the repository root)."""
    image = f"{cfg.repository_uri}:{cfg.image_tag}"
    registry = cfg.repository_uri.split("/", 1)[0]
    return (
        f"docker build -f engine/Dockerfile -t {image} . && "
        f"aws ecr get-login-password --region {cfg.region} | "
        f"docker login --username AWS --password-stdin {registry} && "
        f"docker push {image} && "
        f"python -m infra up --region {cfg.region} --prefix {cfg.prefix}"
    )


def _docker(args: Sequence[str], stdin: str | None = None) -> None:
    done = subprocess.run(["docker", *args], input=stdin, text=True, check=False)
    if done.returncode != 0:
        shown = " ".join(shlex.quote(a) for a in args if a)
        raise InfraError(f"docker {shown} failed with exit code {done.returncode}; see above")


def push(clients: Clients, cfg: StackConfig, echo: Callable[[str], None]) -> str:
    """Build, tag, log in, push; re-register the job definitions by digest; return the digest."""
    repo = ecr.describe(clients.ecr, cfg.repository)
    if repo is None:
        raise BacktestError(
            f"ECR repository {cfg.repository} does not exist in {cfg.region}; "
            f"run python -m infra up --region {cfg.region} --prefix {cfg.prefix} first"
        )
    if not docker_answers():
        raise InfraError(
            f"no docker daemon answers here; where docker runs: {manual_commands(cfg)}"
        )
    image = f"{repo['repositoryUri']}:{cfg.image_tag}"
    auth = clients.ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    registry = str(auth["proxyEndpoint"]).removeprefix("https://")
    echo(f"building {image}")
    _docker(["build", "-f", str(REPO_ROOT / "engine" / "Dockerfile"), "-t", image, str(REPO_ROOT)])
    _docker(["login", "--username", user, "--password-stdin", registry], stdin=password)
    echo(f"pushing {image}")
    _docker(["push", image])
    digest = ecr.image_digest(clients.ecr, cfg)
    if digest is None:
        raise InfraError(f"pushed {image} but ECR lists no image tagged {cfg.image_tag}; retry")
    echo(f"pushed {repo['repositoryUri']}@{digest}")
    net = discover(clients.ec2, cfg)
    apply(jobdefs.plan(clients, cfg, f"{repo['repositoryUri']}@{digest}", net), echo)
    return digest
