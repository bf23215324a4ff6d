"""The dashboard restarts while jobs run (its executor runs the worker in a thread).

Records live in SQLite under the storage root, so a new dashboard sees every job. A job that
was running is killed, then requeued while it has attempts left, else FAILED: "executor
stopped" when the dashboard closed its executor, "executor restarted" when the dashboard
process died and the next worker found the orphan. Queued jobs run to SUCCEEDED.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app import jobs_service
from app.context import build_context
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.settings import Settings
from tests.faults.conftest import REPO, Reaper, alive, job_pid, sub_env, wait_until

# first attempt blocks (a long run), any later attempt succeeds at once
SECOND_TIME_LUCKY = (
    "import os, sys, time; os.environ['AWS_BATCH_JOB_ATTEMPT'] == '1' and time.sleep(300)"
)
BLOCKS = "import time; time.sleep(300)"

DASHBOARD = """
import json, sys
from jobs.local import LocalExecutor
from jobs.settings import Settings
ex = LocalExecutor(Settings(storage_root=sys.argv[1], poll_ms=50), worker="thread", concurrency=2)
py = sys.executable
ids = [
    ex.submit_command([py, "-c", sys.argv[2]], name="long-once", kind="run", attempts=1).id,
    ex.submit_command([py, "-c", sys.argv[3]], name="long-twice", kind="run", attempts=2).id,
]
ids += [ex.submit_command(["true"], name=f"queued-{i}", kind="run").id for i in range(3)]
print(json.dumps(ids), flush=True)
sys.stdin.read()  # until the test kills this process
"""


def submit_five(ex: LocalExecutor) -> list[str]:
    py = sys.executable
    ids = [
        ex.submit_command([py, "-c", BLOCKS], name="long-once", kind="run", attempts=1).id,
        ex.submit_command(
            [py, "-c", SECOND_TIME_LUCKY], name="long-twice", kind="run", attempts=2
        ).id,
    ]
    return ids + [ex.submit_command(["true"], name=f"queued-{i}", kind="run").id for i in range(3)]


def wait_running(records: LocalExecutor, ids: list[str], reaper: Reaper) -> list[int]:
    def started() -> bool:
        return all(job_pid(records, j) is not None for j in ids)

    wait_until(started, what="the jobs to start")
    pids = [int(job_pid(records, j) or 0) for j in ids]
    for pid in pids:
        reaper.add(pid)
    return pids


def assert_resumed(root: Path, ids: list[str], reason: str) -> None:
    """A new dashboard context: every record intact; statuses resume per the restart rules."""
    ctx = build_context(sub_env(root))
    ex = ctx.executor
    try:
        for job_id in ids[1:]:
            assert ex.wait(job_id, timeout=120).status is JobStatus.SUCCEEDED, job_id
        once, twice = ex.get(ids[0]), ex.get(ids[1])
        assert (once.status, once.status_reason) == (JobStatus.FAILED, reason)
        assert (twice.attempts, twice.max_attempts) == (2, 2)
        table = jobs_service.list_jobs(ctx)
        assert list(table["id"]) == ids[::-1]  # newest first, nothing lost
        assert list(table["status"]) == ["SUCCEEDED"] * 4 + ["FAILED"]
        assert table.set_index("id").loc[ids[0], "reason"] == reason
    finally:
        ex.close()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_dashboard_closing_its_executor_while_jobs_run(root: Path, reaper: Reaper) -> None:
    settings = Settings(storage_root=str(root), poll_ms=50)
    first = LocalExecutor(settings, worker="thread", concurrency=2)
    ids = submit_five(first)
    pids = wait_running(first, ids[:2], reaper)
    first.close()  # the dashboard ends
    assert not any(alive(pid) for pid in pids)  # nothing runs without a worker
    with LocalExecutor(settings, worker="none") as records:
        statuses = [(r.status, r.status_reason) for r in map(records.get, ids)]
    assert statuses == [
        (JobStatus.FAILED, "executor stopped"),
        (JobStatus.RUNNABLE, "executor stopped; retrying"),
        *[(JobStatus.RUNNABLE, "")] * 3,
    ]
    assert_resumed(root, ids, "executor stopped")


@pytest.mark.slow
def test_dashboard_process_killed_while_jobs_run(root: Path, reaper: Reaper) -> None:
    dashboard = subprocess.Popen(
        [sys.executable, "-c", DASHBOARD, str(root), BLOCKS, SECOND_TIME_LUCKY],
        cwd=REPO, env=sub_env(root), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    reaper.add(dashboard.pid)
    try:
        ids = json.loads(dashboard.stdout.readline())  # type: ignore[union-attr]
        with LocalExecutor(Settings(storage_root=str(root)), worker="none") as records:
            pids = wait_running(records, ids[:2], reaper)
            dashboard.kill()  # SIGKILL: no clean-up of any kind
            dashboard.wait(timeout=30)
            assert all(alive(pid) for pid in pids)  # orphans, still holding their slots
            assert records.get(ids[0]).status is JobStatus.RUNNING
    finally:
        dashboard.kill()
        dashboard.wait(timeout=30)
        dashboard.stdout.close()  # type: ignore[union-attr]
        dashboard.stdin.close()  # type: ignore[union-attr]
    assert_resumed(root, ids, "executor restarted")
    assert not any(alive(pid) for pid in pids)
