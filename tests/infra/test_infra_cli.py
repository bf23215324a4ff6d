"""`python -m infra` as a subprocess against moto's server; the image's contents without docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import boto3

from tests.realaws import batch_uses_its_service_linked_role

REPO = Path(__file__).resolve().parents[2]


def _infra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cli_through_aws_endpoint_url(aws_env, tmp_path, monkeypatch):
    batch_uses_its_service_linked_role(monkeypatch)  # the server runs in this process
    env = {**os.environ, "BACKTEST_CONFIG": str(tmp_path / "backtest.toml")}
    prefix = "clisrv"  # the moto server is shared by the session: a prefix of our own
    up = _infra(env, "up", "--prefix", prefix, "--max-vcpus", "8")
    assert up.returncode == 0, up.stderr
    config = tomllib.loads((tmp_path / "backtest.toml").read_text())
    assert config["backend"] == "aws"
    assert config["job_queue"] == f"{prefix}-queue"

    batch = boto3.client("batch", endpoint_url=aws_env, region_name="us-east-1")
    queue = batch.describe_job_queues(jobQueues=[f"{prefix}-queue"])["jobQueues"][0]
    assert queue["state"] == "ENABLED"
    env_desc = batch.describe_compute_environments(computeEnvironments=[f"{prefix}-fargate"])
    assert env_desc["computeEnvironments"][0]["computeResources"]["maxvCpus"] == 8
    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    assert s3.get_public_access_block(Bucket=config["input_bucket"])

    again = _infra(env, "up", "--prefix", prefix, "--max-vcpus", "8")
    assert again.returncode == 0, again.stderr
    assert "nothing to change" in again.stdout
    runs = batch.describe_job_definitions(jobDefinitionName=f"{prefix}-run")["jobDefinitions"]
    assert [d["revision"] for d in runs] == [1]

    status = _infra(env, "status", "--prefix", prefix)
    assert status.returncode == 0 and "ENABLED/VALID" in status.stdout
    policy = _infra(env, "policy", "--prefix", prefix)
    assert policy.returncode == 0
    assert json.loads(policy.stdout)["Version"] == "2012-10-17"

    down = _infra(env, "down", "--prefix", prefix, "--delete-data")
    assert down.returncode == 0, down.stderr
    assert batch.describe_job_queues(jobQueues=[f"{prefix}-queue"])["jobQueues"] == []
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert config["input_bucket"] not in names


def test_cli_bad_size_exits_2_with_one_line(aws_env, tmp_path):
    env = {**os.environ, "BACKTEST_CONFIG": str(tmp_path / "backtest.toml")}
    done = _infra(env, "plan", "--size", "collect=4:4096")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "8192..30720" in done.stderr
    assert "Traceback" not in done.stderr


def test_dockerfile_shape():
    text = (REPO / "engine" / "Dockerfile").read_text()
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert (
        "pip install --no-cache-dir --require-hashes --no-deps -r /tmp/build/requirements.txt"
        in text
    )
    user_at = next(i for i, ln in enumerate(lines) if ln.startswith("USER "))
    assert lines[user_at] != "USER root"
    warm_at = next(i for i, ln in enumerate(lines) if "backtest.py warm" in ln)
    assert warm_at > user_at  # the cache is filled as the user that runs the jobs
    assert "NUMBA_CACHE_DIR=/app/.numba_cache" in text
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") + 1] == "!engine/"
    for line in (REPO / "engine" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith(("#", "--hash=")):
            assert "==" in line, f"engine/requirements.txt: {line!r} is not pinned"


# The image's install and command without docker: tests/test_packaging.py replays the Dockerfile.
