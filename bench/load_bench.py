"""Load figures of the local executor and the jobs page services (issue 7, point 3).

The tests in tests/load/ assert correctness at these sizes (bound, FIFO, counts); this module
reports how long things take: submitting 1,000 jobs and a 10,000-child array, draining 1,000
tiny jobs, and the jobs page's service calls (table, one job's detail) over those records.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app import jobs_service
from app.context import AppContext
from engine.store.objects import LocalStore
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.settings import Settings

TITLE = "load"
N_JOBS = 1000
CHILDREN = 10_000


def _ms(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _row(name: str, value: float, unit: str, note: str) -> dict:
    return {"benchmark": name, "value": round(value, 2), "unit": unit, "note": note}


def _jobs(root: Path, slots: int) -> list[dict]:
    settings = Settings(storage_root=str(root), poll_ms=20)
    with LocalExecutor(settings, worker="none") as queue:
        start = time.perf_counter()
        ids = [queue.submit_command(["true"], name=f"t-{i}", kind="run").id for i in range(N_JOBS)]
        submitted = time.perf_counter() - start
    with LocalExecutor(settings, worker="thread", concurrency=slots) as ex:
        start = time.perf_counter()
        for job_id in reversed(ids):
            if ex.wait(job_id, timeout=600).status is not JobStatus.SUCCEEDED:
                raise RuntimeError(f"load job {job_id} failed")
        drained = time.perf_counter() - start
        ctx = AppContext(settings, LocalStore(root), ex)
        table_ms = _ms(lambda: jobs_service.list_jobs(ctx))
        detail_ms = _ms(lambda: jobs_service.job_detail(ctx, ids[0]))
    note = f"{N_JOBS} `true` jobs, {slots} slots"
    return [
        _row("submit 1,000 queued jobs", submitted, "s", "one transaction per job"),
        _row("drain 1,000 queued jobs", N_JOBS / drained, "jobs/s", note),
        _row("jobs table service, 1,000 records", table_ms, "ms", "list_jobs (page's fragment)"),
        _row("job detail service, 1,000 records", detail_ms, "ms", "job_detail of one job"),
    ]


def _array(root: Path) -> list[dict]:
    settings = Settings(storage_root=str(root), poll_ms=50)
    with LocalExecutor(settings, worker="none") as ex:
        start = time.perf_counter()
        parent = ex.submit_command(["true"], name="huge", kind="sweep", array_size=CHILDREN)
        submitted = time.perf_counter() - start
        ctx = AppContext(settings, LocalStore(root), ex)
        detail_ms = _ms(lambda: jobs_service.job_detail(ctx, parent.id), repeats=3)
        table_ms = _ms(lambda: jobs_service.list_jobs(ctx))
        cancel_start = time.perf_counter()
        ex.cancel(parent.id)
        cancelled = time.perf_counter() - cancel_start
    note = f"{CHILDREN:,} children, worker paused"
    return [
        _row("submit a 10,000-child array", submitted, "s", note),
        _row("job detail of a 10,000-child parent", detail_ms, "ms", "counts + children table"),
        _row("jobs table with a 10,000-child array", table_ms, "ms", "children not listed"),
        _row("cancel a 10,000-child array", cancelled, "s", note),
    ]


def run() -> list[dict]:
    """Rows {"benchmark", "value", "unit", "note"} for `make bench`."""
    slots = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        return _jobs(Path(tmp) / "jobs", slots) + _array(Path(tmp) / "array")


if __name__ == "__main__":
    for item in run():
        print(f"{item['benchmark']:<45} {item['value']:>10} {item['unit']:<7} {item['note']}")
