"""Shared fixtures: a moto S3/Batch server on 127.0.0.1, the ../shared seed data, synthetic bars."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BACKTEST_SHARED_DIR", REPO.parent / "shared"))
SEED_DIR = SHARED / "data" / "seed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    """The reference system's A-share CSVs; skips only when ../shared is absent."""
    if not SEED_DIR.is_dir():
        pytest.skip(f"{SEED_DIR} is absent (a user's clone has no ../shared)")
    return SEED_DIR


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto server (S3, Batch, IAM, ECR, Logs) on loopback; yields its endpoint URL."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3/s3fs in this process (and subprocesses given os.environ) at moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.delenv("BACKTEST_STORAGE_ROOT", raising=False)
    return moto_server


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's real config, AWS profile or storage root."""
    for var in list(os.environ):
        if var.startswith("BACKTEST_") and var != "BACKTEST_SHARED_DIR":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BACKTEST_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))


# -- markers -------------------------------------------------------------------------------------

# Tests over ~5 s each (pytest --durations on 2 shared cores), marked slow here so that
# `make test-fast` (-m "not e2e and not slow") leaves them out; `make test` runs them. Keys are
# node ids without parameters ("tests/file.py::test_name") or whole files ("tests/file.py").
SLOW_TESTS: frozenset[str] = frozenset()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        file, _, name = item.nodeid.partition("::")
        if file in SLOW_TESTS or f"{file}::{name.split('[')[0]}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
