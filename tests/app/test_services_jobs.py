"""app.jobs_service without Streamlit: the job table, filters, progress, result links."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import jobs_service as js
from app.context import AppContext
from engine.errors import BacktestError
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from jobs.local import LocalExecutor
from jobs.model import JobKind, JobRecord, JobStatus
from jobs.settings import load_settings


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    root = tmp_path / "store"
    settings = load_settings(
        {"BACKTEST_STORAGE_ROOT": str(root), "BACKTEST_CONFIG": str(tmp_path / "x.toml")}
    )
    executor = LocalExecutor(settings, worker="none")  # records only: jobs stay queued
    yield AppContext(settings, LocalStore(root), executor)
    executor.close()


def _cmd(ctx: AppContext, name: str, **kw) -> JobRecord:
    return ctx.executor.submit_command([sys.executable, "-c", "pass"], name=name, kind="run", **kw)


def test_list_jobs_filters_and_orders(ctx: AppContext) -> None:
    first = _cmd(ctx, "alpha-run")
    second = _cmd(ctx, "beta-run")
    ctx.executor.cancel(first.id)
    table = js.list_jobs(ctx)
    assert list(table.columns) == js.JOB_COLUMNS
    assert list(table["id"]) == [second.id, first.id]
    assert list(js.list_jobs(ctx, status="FAILED")["id"]) == [first.id]
    assert list(js.list_jobs(ctx, status="RUNNABLE")["id"]) == [second.id]
    assert list(js.list_jobs(ctx, name="BETA")["id"]) == [second.id]
    assert list(js.list_jobs(ctx, name=first.id[:8])["id"]) == [first.id]
    later = datetime.now(UTC) + timedelta(hours=2)
    assert js.list_jobs(ctx, window="last hour", now=later).empty
    with pytest.raises(BacktestError, match="unknown job status"):
        js.list_jobs(ctx, status="DONE")
    with pytest.raises(BacktestError, match="time window"):
        js.list_jobs(ctx, window="yesterday")


def test_array_progress_and_children(ctx: AppContext) -> None:
    parent = ctx.executor.submit_command(
        [sys.executable, "-c", "pass"], name="arr", kind="sweep", array_size=4
    )
    ctx.executor.cancel(parent.id)
    detail = js.job_detail(ctx, parent.id)
    assert detail.counts["FAILED"] == 4 and detail.done_fraction == 1.0
    assert list(detail.children["id"]) == [f"{parent.id}:{i}" for i in range(4)]
    record = JobRecord(
        "x", "x", JobKind.SWEEP, JobStatus.RUNNING, array_size=10,
        status_counts={"SUCCEEDED": 3, "FAILED": 1, "RUNNING": 2, "RUNNABLE": 4},
    )  # fmt: skip
    counts, fraction = js.array_progress(record)
    assert fraction == 0.4 and counts["RUNNABLE"] == 4 and counts["PENDING"] == 0
    assert js.progress_text(record) == "4/10 done (1 failed)"


def test_result_link_only_when_succeeded() -> None:
    run = JobRecord("j", "n", JobKind.RUN, JobStatus.SUCCEEDED, spec={"run_id": "r1"})
    assert js.result_link(run) == ("run", "r1")
    sweep = JobRecord("j", "n", JobKind.SWEEP, JobStatus.SUCCEEDED, spec={"sweep_id": "s1"})
    assert js.result_link(sweep) == ("sweep", "s1")
    failed = JobRecord("j", "n", JobKind.RUN, JobStatus.FAILED, spec={"run_id": "r1"})
    assert js.result_link(failed) is None


def test_detail_of_a_run_job_has_rerun_query_and_controls(ctx: AppContext) -> None:
    spec = RunSpec("backtest-input", "k.csv", "backtest-results", params={"fast": 3, "slow": 9})
    record = ctx.executor.submit_run(spec)
    detail = js.job_detail(ctx, record.id)
    assert detail.rerun_query["file"] == "k.csv"
    assert detail.fields["attempts"] == "0 of 1" and detail.fields["status"] == "RUNNABLE"
    message = js.cancel_job(ctx, record.id)
    assert message == f"Cancel requested for job {record.name} ({record.id}): now FAILED"
    assert ctx.executor.get(record.id).status_reason == "Cancelled from the dashboard"
    again_message = js.cancel_job(ctx, record.id)
    assert again_message.endswith("already ended FAILED; nothing to cancel")
    again = js.retry_job(ctx, record.id)
    assert again.id != record.id and again.spec == record.spec
    assert js.job_logs(ctx, again.id) == ""
