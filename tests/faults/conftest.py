"""Fixtures for the fault tests: a storage root with a price file, subprocess environments and
clean-up of the detached workers and job processes a test started (by pid, never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from engine.sim.synthetic import random_walk
from engine.store.objects import LocalStore
from jobs.local import LocalExecutor

REPO = Path(__file__).resolve().parents[2]
INPUT, RESULTS, PRICES = "input", "results", "prices.csv"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A storage root: bucket ``input`` with ``prices.csv`` (3,000 bars), empty ``results``."""
    root = tmp_path / "store"
    store = LocalStore(root)
    store.create_bucket(INPUT)
    store.create_bucket(RESULTS)
    store.put_bytes(INPUT, PRICES, random_walk(3000, seed=11).to_csv().encode())
    return root


def sub_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a jobs CLI / engine subprocess on the local backend under ``root``.

    No ``PYTHONPATH``: the venv installs the project, as a user's shell has it.
    """
    drop = ("BACKTEST_", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        BACKTEST_STORAGE_ROOT=str(root),
        BACKTEST_CONFIG=str(root.parent / "no-config.toml"),
        BACKTEST_POLL_MS="50",
        BACKTEST_WORKER_IDLE="1",
    )
    env.update(extra)
    return env


def jobs_cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m jobs ARGS`` as a user types it, from a folder outside the checkout."""
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=Path(env["BACKTEST_STORAGE_ROOT"]).parent,
        env=env, capture_output=True, check=False, text=True, timeout=timeout,
    )  # fmt: skip


def lease_pid(root: Path) -> int | None:
    """The pid written in the worker lease file (the last worker that held it)."""
    try:
        text = (root / "_jobs" / "worker.lock").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def job_pid(executor: LocalExecutor, job_id: str) -> int | None:
    """The pid the local executor recorded for a running job (None before it starts)."""
    row = executor.table.row(job_id)
    return None if row is None or row["pid"] is None else int(row["pid"])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie or a vanished process is not alive)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    """Poll ``check`` every 50 ms; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Reaper:
    """Processes (and their process groups) a test started; SIGKILLed at teardown if alive.

    psutil remembers each process's start time, so a recycled pid is never signalled.
    """

    def __init__(self) -> None:
        self.procs: list[psutil.Process] = []

    def add(self, pid: int | None) -> None:
        """Remember ``pid`` (ignored when None or already gone)."""
        if pid is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.procs.append(psutil.Process(pid))

    def kill_all(self) -> None:
        """SIGKILL every remembered process that still runs, with its group."""
        for proc in self.procs:
            if not proc.is_running():
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(proc.pid) == proc.pid:
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    """A :class:`Reaper` emptied at teardown."""
    reap = Reaper()
    yield reap
    reap.kill_all()
