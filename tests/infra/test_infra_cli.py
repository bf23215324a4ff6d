"""`python -m infra` as a subprocess against moto's server; the image's contents without docker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import boto3
import pytest

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
        "pip install --no-cache-dir --require-hashes --no-deps -r /app/engine/requirements.txt"
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


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_engine_requirements_install_and_the_cli_runs_like_in_the_image(tmp_path):
    """What the Dockerfile does, without docker: fresh venv, pinned requirements, /app layout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
         str(REPO / "engine" / "requirements.txt")],
        capture_output=True, text=True, timeout=1000, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-2000:]

    app = tmp_path / "app"  # the image's WORKDIR: engine/ as a package plus backtest.py
    shutil.copytree(REPO / "engine", app / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "engine" / "backtest.py", app / "backtest.py")
    root = tmp_path / "store"
    (root / "warm").mkdir(parents=True)
    (root / "results").mkdir()
    cache = tmp_path / "numba_cache"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(app),
        "PYTHONNOUSERSITE": "1",
        "BACKTEST_STORAGE_ROOT": str(root),
        "NUMBA_CACHE_DIR": str(cache),
        "BACKTEST_CONFIG": str(tmp_path / "none.toml"),
    }
    make_csv = (
        "import sys; from engine.sim.synthetic import random_walk; "
        "random_walk(300, seed=1).to_csv(sys.argv[1])"
    )
    subprocess.run([str(py), "-c", make_csv, str(root / "warm" / "prices.csv")],
                   cwd=app, env=env, check=True, timeout=120)  # fmt: skip
    for run_id, cmd in (
        ("as-file", [str(py), "backtest.py"]),
        ("as-module", [str(py), "-m", "engine.backtest"]),
    ):
        done = subprocess.run(
            [*cmd, "warm", "prices.csv", "results", "--run-id", run_id],
            cwd=app, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        prefix = root / "results" / "runs" / run_id
        assert (prefix / "_SUCCESS").is_file()
        metrics = json.loads((prefix / "metrics.json").read_text())
        assert "sharpe" in metrics and "total_return" in metrics
    assert any(cache.rglob("*.nbi")), "no compiled kernel was cached in NUMBA_CACHE_DIR"
