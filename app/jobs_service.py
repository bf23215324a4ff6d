"""Jobs page services: a filtered, paged job table, one job's detail, logs and controls.

No Streamlit here. Times are shown in UTC; records come from the executor (local or Batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from app.context import AppContext
from app.forms import rerun_query
from engine.errors import BacktestError
from jobs.model import JobKind, JobRecord, JobStatus

WINDOWS: dict[str, timedelta | None] = {
    "last hour": timedelta(hours=1),
    "last 24 hours": timedelta(days=1),
    "last 7 days": timedelta(days=7),
    "last 30 days": timedelta(days=30),
    "all time": None,
}
ALL_STATUSES = "all"
MAX_LISTED = 1000
JOB_COLUMNS = [
    "id",
    "name",
    "kind",
    "status",
    "progress",
    "created",
    "started",
    "stopped",
    "duration_s",
    "user",
    "reason",
]


def status_choices() -> list[str]:
    """'all' then the seven AWS Batch states."""
    return [ALL_STATUSES, *[s.value for s in JobStatus]]


def _ts(value: datetime | None) -> Any:
    return pd.Timestamp(value).tz_convert(UTC).tz_localize(None) if value else pd.NaT


def _duration(record: JobRecord, now: datetime) -> float | None:
    if record.started_at is None:
        return None
    end = record.stopped_at or now
    return round((end - record.started_at).total_seconds(), 1)


def progress_text(record: JobRecord) -> str:
    """'7/10 done' for array parents, '' otherwise."""
    if not record.array_size:
        return ""
    counts = record.status_counts or {}
    done = counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0)
    return f"{done}/{record.array_size} done"


def jobs_frame(records: list[JobRecord], now: datetime | None = None) -> pd.DataFrame:
    """One row per job (columns :data:`JOB_COLUMNS`), in the order given."""
    now = now or datetime.now(UTC)
    rows = [
        {
            "id": r.id,
            "name": r.name,
            "kind": r.kind.value,
            "status": r.status.value,
            "progress": progress_text(r),
            "created": _ts(r.created_at),
            "started": _ts(r.started_at),
            "stopped": _ts(r.stopped_at),
            "duration_s": _duration(r, now),
            "user": r.user,
            "reason": r.status_reason,
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def list_jobs(
    ctx: AppContext,
    status: str = ALL_STATUSES,
    name: str = "",
    window: str = "all time",
    now: datetime | None = None,
) -> pd.DataFrame:
    """Top-level jobs newest first, filtered by status, name (contains) and time window."""
    if window not in WINDOWS:
        raise BacktestError(f"unknown time window {window!r}; use one of {', '.join(WINDOWS)}")
    span = WINDOWS[window]
    since = (now or datetime.now(UTC)) - span if span else None
    chosen = None if status in ("", ALL_STATUSES) else JobStatus.parse(status)
    records = ctx.executor.list(chosen, since=since, limit=MAX_LISTED)
    text = name.strip().lower()
    if text:
        records = [r for r in records if text in r.name.lower() or text in r.id.lower()]
    return jobs_frame(records, now)


CHILDREN_SHOWN = 500  # rows of an array's children table (a 10,000-child list costs ~0.4 s)


@dataclass
class JobDetail:
    """One job with what the page shows about it."""

    record: JobRecord
    counts: dict[str, int] = field(default_factory=dict)
    done_fraction: float | None = None
    children: pd.DataFrame | None = None
    result: tuple[str, str] | None = None  # ("run", run_id) or ("sweep", sweep_id)
    rerun_query: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)


def array_progress(record: JobRecord) -> tuple[dict[str, int], float | None]:
    """(children per state in lifecycle order, finished fraction) for array parents."""
    if not record.array_size:
        return {}, None
    raw = record.status_counts or {}
    counts = {s.value: int(raw.get(s.value, 0)) for s in JobStatus}
    done = counts["SUCCEEDED"] + counts["FAILED"]
    return counts, min(1.0, done / record.array_size)


def result_link(record: JobRecord) -> tuple[str, str] | None:
    """Where a SUCCEEDED job's results are: ("run", id) or ("sweep", id); None otherwise."""
    if record.status is not JobStatus.SUCCEEDED or not record.spec:
        return None
    spec: Mapping[str, Any] = record.spec
    if spec.get("sweep_id"):
        return "sweep", str(spec["sweep_id"])
    if record.kind is JobKind.RUN and spec.get("run_id"):
        return "run", str(spec["run_id"])
    return None


def _fields(r: JobRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "kind": r.kind.value,
        "status": r.status.value,
        "reason": r.status_reason or "",
        "attempts": f"{r.attempts} of {r.max_attempts}",
        "created": _ts(r.created_at),
        "started": _ts(r.started_at),
        "stopped": _ts(r.stopped_at),
        "exit code": r.exit_code,
        "user": r.user,
        "results": r.result_prefix or "",
        "depends on": ", ".join(r.depends_on),
        "backend": r.backend,
    }


def job_detail(ctx: AppContext, job_id: str) -> JobDetail:
    """The job (NotFoundError when unknown), its array progress and children, result link."""
    record = ctx.executor.get(job_id)
    counts, fraction = array_progress(record)
    children = None
    if record.array_size:
        # the first CHILDREN_SHOWN children; the counts above cover all of them
        children = jobs_frame(ctx.executor.list(parent_id=record.id, limit=CHILDREN_SHOWN))
    return JobDetail(
        record,
        counts,
        fraction,
        children,
        result_link(record),
        rerun_query(record.spec),
        _fields(record),
    )


def job_logs(ctx: AppContext, job_id: str, tail: int = 200) -> str:
    """The last ``tail`` lines of the job's latest attempt ('' before it starts)."""
    return ctx.executor.logs(job_id, tail=max(1, int(tail)))


def cancel_job(ctx: AppContext, job_id: str) -> JobRecord:
    """Cancel a queued job (BacktestError when it already started: use terminate)."""
    return ctx.executor.cancel(job_id, reason="Cancelled from the dashboard")


def terminate_job(ctx: AppContext, job_id: str) -> JobRecord:
    """Stop a job in any state."""
    return ctx.executor.terminate(job_id, reason="Terminated from the dashboard")


def retry_job(ctx: AppContext, job_id: str) -> JobRecord:
    """Submit a finished job again; returns the new job."""
    return ctx.executor.retry(job_id)
