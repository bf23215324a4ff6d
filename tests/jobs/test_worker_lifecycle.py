"""A detached local worker (`python -m jobs worker`, what the CLI starts) does not stay forever:
it exits after BACKTEST_WORKER_IDLE idle seconds, and at once when its storage folder is deleted
(killing the job it was running). No timing is asserted: each test waits, with a generous
timeout, for the process to exit by itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
EXIT_TIMEOUT_S = 120


def _env(root: Path, idle: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKTEST_")}
    env.update(
        BACKTEST_STORAGE_ROOT=str(root),
        BACKTEST_CONFIG=str(root.parent / "no-config.toml"),
        BACKTEST_WORKER_IDLE=str(idle),
        BACKTEST_POLL_MS="50",
        BACKTEST_KILL_GRACE="1",
    )
    return env


@pytest.fixture
def records(tmp_path: Path) -> Iterator[tuple[Path, LocalExecutor]]:
    """A storage root and an executor that only reads and writes job records (no worker)."""
    root = tmp_path / "store"
    settings = load_settings(_env(root, 1))
    executor = LocalExecutor(settings, worker="none")
    yield root, executor
    executor.close()


def start_worker(root: Path, idle: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs", "worker"],
        cwd=REPO,
        env=_env(root, idle),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Wait for the worker to exit by itself; (exit code, stderr)."""
    try:
        _, err = proc.communicate(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the worker did not exit within {EXIT_TIMEOUT_S}s")
    return proc.returncode, err.decode()


def test_worker_runs_the_queue_then_exits_when_idle(
    records: tuple[Path, LocalExecutor],
) -> None:
    root, executor = records
    marker = root.parent / "ran.txt"
    code = f"open({str(marker)!r}, 'w').write('ran')"
    job = executor.submit_command([sys.executable, "-c", code], name="idle-test", kind="run")
    worker = start_worker(root, idle=1)
    rc, err = finish(worker)
    assert rc == 0, err
    assert marker.read_text() == "ran"  # it ran the queued job before going idle
    assert executor.get(job.id).status is JobStatus.SUCCEEDED


def test_worker_stops_at_once_when_its_storage_folder_is_deleted(
    records: tuple[Path, LocalExecutor],
) -> None:
    root, executor = records
    started = root.parent / "started.txt"
    code = (
        f"import time; open({str(started)!r}, 'w').write('x'); "
        "[time.sleep(0.5) for _ in range(2400)]"
    )
    job = executor.submit_command([sys.executable, "-c", code], name="gone-test", kind="run")
    worker = start_worker(root, idle=3600)  # idleness alone would keep it for an hour
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    running = False
    while not running and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        running = started.exists() and executor.get(job.id).status is JobStatus.RUNNING
    assert running, "the worker did not start the job"
    job_procs = psutil.Process(worker.pid).children(recursive=True)
    assert job_procs, "the job's process should be running under the worker"
    shutil.rmtree(root)
    try:
        rc, err = finish(worker)
        assert rc == 0
        assert "was deleted; stopping" in err
        _, alive = psutil.wait_procs(job_procs, timeout=EXIT_TIMEOUT_S)
        assert alive == [], "the worker left its job running"
        assert not root.exists()  # nothing was recreated under the deleted folder
    finally:
        for proc in job_procs:
            if proc.is_running():
                proc.kill()
