"""The local executor under load: 1,000 queued jobs and a 10,000-child sweep.

Correctness only (the bound, FIFO, counts, the page's numbers); how long the jobs page takes
with these records is measured by bench/load_bench.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app import jobs_service
from app.context import AppContext
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.spec import SweepSpec
from jobs.local import LocalExecutor
from jobs.model import JobRecord, JobStatus
from jobs.settings import Settings
from jobs.sweeps import submit_sweep_jobs
from jobs.worker import Lease
from tests._app_helpers import app_test, close_app_context, point_env

N_JOBS = 1000
SLOTS = 4
CHILDREN = 10_000
SPACE: dict[str, Any] = {"fast": "1:100:1", "slow": "101:200:1"}


def max_overlap(records: list[JobRecord]) -> int:
    """Most jobs whose [started_at, stopped_at] intervals overlap (an end before a start)."""
    events = []
    for r in records:
        assert r.started_at is not None and r.stopped_at is not None
        events += [(r.started_at, 1), (r.stopped_at, -1)]
    running = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.slow
def test_1000_queued_jobs_drain_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    settings = Settings(storage_root=str(root), poll_ms=20)
    with LocalExecutor(settings, worker="none") as queue:  # all queued before any worker runs
        ids = [
            queue.submit_command(["true"], name=f"tiny-{i}", kind="run").id for i in range(N_JOBS)
        ]
        assert {r.status for r in queue.list(limit=N_JOBS)} == {JobStatus.RUNNABLE}
    with LocalExecutor(settings, worker="thread", concurrency=SLOTS) as ex:
        for job_id in reversed(ids):  # the last one ends (about) last
            assert ex.wait(job_id, timeout=300).status is JobStatus.SUCCEEDED
        records = [ex.get(job_id) for job_id in ids]
        assert all(r.status is JobStatus.SUCCEEDED and r.attempts == 1 for r in records)
        assert max_overlap(records) == SLOTS  # used, and never exceeded
        starts = [r.started_at for r in records]
        assert starts == sorted(starts)  # type: ignore[type-var]  # FIFO
        ctx = AppContext(settings, LocalStore(root), ex)
        table = jobs_service.list_jobs(ctx)
        assert len(table) == N_JOBS and list(table["id"]) == ids[::-1]
        assert set(table["status"]) == {"SUCCEEDED"}
        assert len(jobs_service.list_jobs(ctx, status="SUCCEEDED", name="tiny-99")) == 11

    point_env(monkeypatch, root)
    try:
        at = app_test("views/jobs.py")
        assert not at.exception
        assert len(at.dataframe[0].value) == 50  # one page of the table
        captions = " ".join(str(c.value) for c in at.caption)
        assert f"{N_JOBS:,} job(s), newest first" in captions
    finally:
        close_app_context()


def big_sweep(root: Path) -> SweepSpec:
    """10,000 valid combinations: fast 1..100 x slow 101..200."""
    store = LocalStore(root)
    store.create_bucket("input")
    store.create_bucket("results")
    store.put_bytes("input", "prices.csv", random_walk(400, seed=3).to_csv().encode())
    base = RunSpec("input", "prices.csv", "results", "sma_cross")
    return SweepSpec(sweep_id="huge", base=base, space=dict(SPACE))


@pytest.mark.slow
def test_a_10000_child_sweep_is_submitted_and_tracked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    spec = big_sweep(root)
    settings = Settings(storage_root=str(root), poll_ms=50)
    paused = Lease(root / "_jobs" / "worker.lock")  # holding the lease pauses every worker
    with LocalExecutor(settings, worker="none") as ex:
        assert paused.acquire()
        try:
            sub = submit_sweep_jobs(ex, LocalStore(root), spec, n_children=CHILDREN)
            assert sub.n_combinations == CHILDREN and sub.plan.n_children == CHILDREN
            parent = ex.get(sub.array.id)
            assert parent.array_size == CHILDREN and parent.status is JobStatus.RUNNABLE
            assert parent.status_counts == {"RUNNABLE": CHILDREN}
            assert ex.get(sub.collect.id).status is JobStatus.PENDING
            children = ex.list(parent_id=parent.id)
            assert [c.array_index for c in children] == list(range(CHILDREN))
            assert ex.list(limit=10) == [ex.get(sub.collect.id), parent]  # no child on top

            for index in range(100):  # some children end: the page's progress follows
                ex.cancel(f"{parent.id}:{index}")
            ctx = AppContext(settings, LocalStore(root), ex)
            detail = jobs_service.job_detail(ctx, parent.id)
            assert detail.counts["FAILED"] == 100 and detail.counts["RUNNABLE"] == 9900
            assert detail.done_fraction == pytest.approx(0.01)
            # the children table is capped (counts cover all); it starts at index 0
            assert detail.children is not None
            assert len(detail.children) == jobs_service.CHILDREN_SHOWN < CHILDREN
            row = jobs_service.list_jobs(ctx).set_index("id").loc[parent.id]
            assert row["progress"] == f"100/{CHILDREN} done (100 failed)"  # cancelled = FAILED

            point_env(monkeypatch, root)
            try:
                at = app_test("views/jobs.py", job=parent.id)
                assert not at.exception
                metrics = {m.label: m.value for m in at.metric}
                assert metrics["Failed"] == "100" and metrics["Runnable"] == "9900"
                assert len(at.dataframe[-1].value) == jobs_service.CHILDREN_SHOWN
                shown = [c.value for c in at.caption]
                assert f"First 500 of {CHILDREN:,} children; counts cover all." in shown
            finally:
                close_app_context()

            ex.cancel(parent.id)  # the rest of the array, then its collect job
            ex.cancel(sub.collect.id)
            parent = ex.get(parent.id)
            assert parent.status is JobStatus.FAILED
            assert parent.status_counts == {"FAILED": CHILDREN}
            done = f"{CHILDREN}/{CHILDREN} done ({CHILDREN} failed)"  # cancelled = FAILED
            assert jobs_service.progress_text(parent) == done
            assert isinstance(parent.stopped_at, datetime)
        finally:
            paused.release()
