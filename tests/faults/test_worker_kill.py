"""kill -9 of the detached local worker (the CLI's) while an engine run is in progress.

The job's own process lives in its own session, so it outlives the worker; it is frozen with
SIGSTOP right after it starts, which stands for "a run still in progress" whatever the machine's
speed. The next worker (started by ``python -m jobs wait``) finds the RUNNING record of a dead
worker: it kills the orphan and fails the job ("executor restarted"), or requeues it while
attempts remain.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from app import jobs_service
from app.context import AppContext
from engine.store.objects import LocalStore
from engine.store.runs import read_run, run_status
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.process import Lease
from jobs.settings import Settings
from tests._app_helpers import app_test, close_app_context, point_env
from tests.faults.conftest import (
    INPUT,
    PRICES,
    RESULTS,
    Reaper,
    alive,
    job_pid,
    jobs_cli,
    lease_pid,
    sub_env,
    wait_until,
)

RESTARTED = "executor restarted"


def submit_and_kill_worker(root: Path, run_id: str, reaper: Reaper, attempts: int) -> str:
    """Submit a run through the CLI, freeze its process mid-run, SIGKILL the worker."""
    env = sub_env(root, BACKTEST_ATTEMPTS=str(attempts))
    out = jobs_cli("submit", INPUT, PRICES, RESULTS, "--run-id", run_id, env=env)
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.strip().splitlines()[-1]
    records = LocalExecutor(Settings(storage_root=str(root)), worker="none")
    try:
        wait_until(lambda: job_pid(records, job_id) is not None, what="the job to start")
        pid = job_pid(records, job_id)
        assert pid is not None
        os.killpg(pid, signal.SIGSTOP)  # the run is now "in progress" for as long as needed
        reaper.add(pid)
        worker_pid = lease_pid(root)
        assert worker_pid is not None and alive(worker_pid)
        reaper.add(worker_pid)
        os.kill(worker_pid, signal.SIGKILL)
        wait_until(lambda: not Lease.is_held(root / "_jobs" / "worker.lock"), what="lease")
        assert records.get(job_id).status is JobStatus.RUNNING  # nobody has noticed yet
        assert alive(pid)  # the orphan still holds its slot
    finally:
        records.close()
    return job_id


@pytest.mark.slow
def test_kill_9_of_the_worker_fails_the_run_and_the_dashboard_says_why(
    root: Path, reaper: Reaper, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit_and_kill_worker(root, "killed", reaper, attempts=1)
    frozen = reaper.procs[0].pid
    env = sub_env(root)
    waited = jobs_cli("wait", job_id, "--timeout", "120", env=env)  # starts a new worker
    assert waited.returncode == 1
    assert f"job {job_id} is FAILED" in waited.stderr
    reaper.add(lease_pid(root))
    wait_until(lambda: not alive(frozen), what="the orphaned run to be killed")

    store = LocalStore(root)
    assert not store.exists(RESULTS, "runs/killed/_SUCCESS")
    assert run_status(store, RESULTS, "killed") in ("missing", "unfinished")

    settings = Settings(storage_root=str(root))
    with LocalExecutor(settings, worker="none") as ex:
        record = ex.get(job_id)
        assert (record.status, record.status_reason) == (JobStatus.FAILED, RESTARTED)
        detail = jobs_service.job_detail(AppContext(settings, store, ex), job_id)
        assert detail.fields["status"] == "FAILED" and detail.fields["reason"] == RESTARTED
        assert detail.result is None  # no link to results that do not exist
        table = jobs_service.list_jobs(AppContext(settings, store, ex))
        assert table.set_index("id").loc[job_id, "reason"] == RESTARTED

    point_env(monkeypatch, root)
    try:
        at = app_test("views/jobs.py", job=job_id)
        assert not at.exception
        assert at.subheader[0].value == f"{record.name} · FAILED"
        assert RESTARTED in [e.value for e in at.error]
    finally:
        close_app_context()


@pytest.mark.slow
def test_kill_9_of_the_worker_requeues_a_run_with_attempts_left(root: Path, reaper: Reaper) -> None:
    job_id = submit_and_kill_worker(root, "again", reaper, attempts=2)
    frozen = reaper.procs[0].pid
    waited = jobs_cli("wait", job_id, "--timeout", "120", env=sub_env(root))
    reaper.add(lease_pid(root))
    assert waited.returncode == 0, waited.stderr
    assert not alive(frozen)  # the frozen first attempt was killed, not resumed
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        record = ex.get(job_id)
        assert record.status is JobStatus.SUCCEEDED and record.attempts == 2
        assert record.log and record.log.endswith(".2.log")
    store = LocalStore(root)
    spec, metrics, equity, _ = read_run(store, RESULTS, "again")
    assert spec["provenance"]["batch_job_id"] == job_id
    assert len(equity) == 3000 and metrics["final_equity"] > 0
    assert not store.exists(RESULTS, "runs/again/error.json")
