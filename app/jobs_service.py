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
from app.new_run_link import rerun_query
from app.search_service import search_query
from engine.errors import BacktestError, NotFoundError
from engine.sweep.results import read_chunk
from jobs import resume
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
    """'7/10 done' for array parents ('7/10 done (2 failed)' with failures), '' otherwise."""
    if not record.array_size:
        return ""
    counts = record.status_counts or {}
    failed = counts.get("FAILED", 0)
    done = counts.get("SUCCEEDED", 0) + failed
    return f"{done}/{record.array_size} done" + (f" ({failed} failed)" if failed else "")


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


@dataclass(frozen=True)
class SweepProgress:
    """A sweep's chunks as its files say, with its current jobs (None when unknown). For a
    walk-forward sweep every count is of all the array's children: the full-sample chunks plus
    the windows x in-sample chunks."""

    state: resume.SweepState
    array: JobRecord | None
    collect: JobRecord | None
    running: int  # children STARTING or RUNNING now
    failed: int  # children that failed, or whose chunk failed on its input
    resumable: bool
    why_not: str  # why it cannot be resumed now ('' when it can)
    search: Any = None  # a TPE search: jobs.search_jobs.SearchProgress, read now

    @property
    def n_chunks(self) -> int:
        """Children of the sweep: its chunks (plus a walk-forward sweep's in-sample chunks)."""
        wf = self.state.walk_forward
        return self.state.n_children + (wf.n_children if wf is not None else 0)

    @property
    def n_done(self) -> int:
        """Children whose results are written."""
        wf = self.state.walk_forward
        return len(self.state.done) + (len(wf.done) if wf is not None else 0)

    @property
    def fraction(self) -> float:
        """Share of the children done (0 with none)."""
        return min(1.0, self.n_done / self.n_chunks) if self.n_chunks else 0.0

    @property
    def waiting(self) -> int:
        """Children neither done, running nor failed."""
        return max(0, self.n_chunks - self.n_done - self.running - self.failed)

    def text(self) -> str:
        """'3/10 chunks done · 2 running · 1 failed · 5 waiting · 4,500 of 15,000 rows'; a
        walk-forward sweep: '5/30 children done (full sample 2/3 chunks, walk-forward 3/27
        in-sample chunks: 9 windows x 3) · ... · 4,500 of 15,000 full-sample rows'."""
        s, wf = self.state, self.state.walk_forward
        rest = (
            f"{self.running:,} running · {self.failed:,} failed · {self.waiting:,} waiting · "
            f"{s.rows_done:,} of {s.n_tasks:,}"
        )
        if wf is None:
            return f"{len(s.done):,}/{s.n_children:,} chunks done · {rest} rows"
        parts = (
            f"full sample {len(s.done):,}/{s.n_children:,} chunks, walk-forward "
            f"{len(wf.done):,}/{wf.n_children:,} in-sample chunks: {wf.n_windows:,} windows x "
            f"{wf.chunks_per_unit:,}"
        )
        return (
            f"{self.n_done:,}/{self.n_chunks:,} children done ({parts}) · {rest} full-sample rows"
        )


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
    sweep: SweepProgress | None = None

    @property
    def live(self) -> bool:
        """True while something about this job can still change on its own."""
        if not self.record.is_terminal:
            return True
        sweep = self.sweep
        if sweep is not None and sweep.search is not None:  # later rounds have other jobs
            return bool(sweep.search.state in ("running", "collecting"))
        if sweep is None or sweep.state.collected:
            return False
        jobs = (sweep.array, sweep.collect)
        return any(j is not None and not j.is_terminal for j in jobs)

    @property
    def state_key(self) -> tuple[str, ...]:
        """Changes whenever the actions or links the page offers must change."""
        key = [self.record.status.value]
        if self.sweep is not None:
            for job in (self.sweep.array, self.sweep.collect):
                key.append(job.status.value if job else "-")
            key += [str(self.sweep.state.collected), str(self.sweep.resumable)]
            if self.sweep.search is not None:  # a round advanced, or the search stopped
                key += [self.sweep.search.state, str(self.sweep.search.rounds_asked)]
        return tuple(key)

    @property
    def can_cancel(self) -> bool:
        """Cancel is offered while a job has not started (a sweep offers terminate instead,
        which also stops its collect job)."""
        return self.record.status.is_queued and self.sweep is None

    @property
    def can_terminate(self) -> bool:
        """Terminate is offered while the job runs, or a sweep has not ended (never once it
        has finished)."""
        if self.record.is_terminal:
            return False
        return self.sweep is not None or not self.record.status.is_queued

    @property
    def can_rerun(self) -> bool:
        """A finished top-level job can be submitted again; a sweep's jobs are resumed instead
        (rerunning an array alone would rewrite its chunks and never collect them)."""
        return self.record.is_terminal and self.record.parent_id is None and self.sweep is None


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


def _job(ctx: AppContext, job_id: str | None) -> JobRecord | None:
    if not job_id:
        return None
    try:
        return ctx.executor.get(job_id)
    except NotFoundError:
        return None


def sweep_of(record: JobRecord) -> tuple[str, str] | None:
    """(result bucket, sweep id) for a sweep's array, resume or collect job; None otherwise."""
    if record.kind not in (JobKind.SWEEP, JobKind.COLLECT):
        return None
    return resume.parse_prefix(record.result_prefix)


def sweep_progress(ctx: AppContext, record: JobRecord) -> SweepProgress | None:
    """The sweep a job belongs to, read from its files now (None when it is not a sweep's)."""
    where = sweep_of(record)
    if where is None:
        return None
    try:
        state = resume.read_state(ctx.store, *where)
    except BacktestError:  # no such sweep (deleted), or a damaged spec.json: the job alone
        return None
    array = record if record.id == state.array_id else _job(ctx, state.array_id)
    collect = record if record.id == state.collect_id else _job(ctx, state.collect_id)
    running = failed = 0
    if array is not None:
        counts = array.status_counts if array.array_size else {array.status.value: 1}
        running = counts.get("STARTING", 0) + counts.get("RUNNING", 0)
        failed = counts.get("FAILED", 0)
    wf = state.walk_forward
    failed += len(state.failed) + (len(wf.failed) if wf is not None else 0)
    why = resume.resume_blocker(state, array, collect) or ""
    search = search_rounds(ctx, state)
    if search is not None:  # a search continues round by round, never by a chunk resume
        why = search_blocker(search)
    return SweepProgress(state, array, collect, running, failed, not why, why, search)


def search_rounds(ctx: AppContext, state: resume.SweepState) -> Any:
    """A TPE search's rounds and state now (jobs.search_jobs.search_progress with the
    executor, so a failed round or step says so); None for other sweeps."""
    from engine.sweep.results import read_record
    from jobs.search_progress import search_progress

    try:
        spec = read_record(ctx.store, state.bucket, state.sweep_id)
        if not isinstance(spec, Mapping) or spec.get("mode") != "tpe":
            return None
        return search_progress(ctx.store, state.bucket, state.sweep_id, ctx.executor)
    except BacktestError:
        return None


def search_blocker(search: Any) -> str:
    """Why a search offers no Resume: it goes on by itself, or continues with its command."""
    if search.state == "stopped":
        return f"a TPE search is continued, not resumed: {search.message}"
    return f"a TPE search goes on round by round by itself ({search.state})"


def search_text(search: Any) -> str:
    """'Search running · round 2 of 7 asked · 64/200 trials evaluated'."""
    budget = f"{search.budget:,}"
    if search.budget_requested != search.budget:
        budget += f" (asked {search.budget_requested:,})"
    return (
        f"Search {search.state} · round {search.rounds_asked:,} of {search.rounds_total:,} "
        f"asked · {search.trials_evaluated:,}/{budget} trials evaluated"
    )


def job_detail(ctx: AppContext, job_id: str) -> JobDetail:
    """The job (NotFoundError when unknown), its array progress and children, result link."""
    record = ctx.executor.get(job_id)
    counts, fraction = array_progress(record)
    children = None
    if record.array_size:
        # the first CHILDREN_SHOWN children; the counts above cover all of them
        children = jobs_frame(ctx.executor.list(parent_id=record.id, limit=CHILDREN_SHOWN))
    sweep = sweep_progress(ctx, record)
    link = result_link(record)
    if sweep is not None:
        link = ("sweep", sweep.state.sweep_id) if sweep.state.done else None
    return JobDetail(
        record,
        counts,
        fraction,
        children,
        link,
        # a TPE search's job also carries its settings (app.search_service.search_query)
        {**rerun_query(record.spec), **search_query(record.spec)}
        if record.parent_id is None
        else {},
        _fields(record),
        sweep,
    )


PARTIAL_TOP = 10
PARTIAL_CHUNKS = 200  # chunk files read for "best so far" (each one is read once, then cached)


def chunk_rows(ctx: AppContext, bucket: str, sweep_id: str, index: int) -> pd.DataFrame:
    """The rows of one finished chunk."""
    return read_chunk(ctx.store, bucket, sweep_id, index)


def best_so_far(frames: list[pd.DataFrame], metric: str = "sharpe") -> pd.DataFrame:
    """The PARTIAL_TOP rows by ``metric`` (NaN last) among the given chunk frames."""
    rows = [f for f in frames if len(f)]
    if not rows:
        return pd.DataFrame()
    merged = pd.concat(rows, ignore_index=True)
    if metric not in merged.columns:
        return merged.head(PARTIAL_TOP)
    return merged.sort_values(metric, ascending=False, na_position="last").head(PARTIAL_TOP)


def job_logs(ctx: AppContext, job_id: str, tail: int = 200) -> str:
    """The last ``tail`` lines of the job's latest attempt ('' before it starts)."""
    return ctx.executor.logs(job_id, tail=max(1, int(tail)))


def child_id(record: JobRecord, index: int) -> str:
    """The id of child ``index`` of an array job (BacktestError when out of range)."""
    size = record.array_size or 0
    if not 0 <= int(index) < size:
        raise BacktestError(f"job {record.id} has children 0..{size - 1}; no child {index}")
    return f"{record.id}:{int(index)}"


def _state_now(record: JobRecord) -> str:
    return record.status.value + ("" if record.is_terminal else " (stopping)")


def cancel_job(ctx: AppContext, job_id: str) -> str:
    """Cancel a queued job (BacktestError when it already started: use terminate)."""
    before = ctx.executor.get(job_id)
    if before.is_terminal:
        return (
            f"Job {before.name} ({job_id}) already ended {before.status.value}; nothing to cancel"
        )
    after = ctx.executor.cancel(job_id, reason="Cancelled from the dashboard")
    return f"Cancel requested for job {after.name} ({job_id}): now {after.status.value}"


def terminate_job(ctx: AppContext, job_id: str) -> str:
    """Stop a job in any state; a sweep's array also stops its running children and collect."""
    before = ctx.executor.get(job_id)
    if before.is_terminal:
        return (
            f"Job {before.name} ({job_id}) already ended {before.status.value}; "
            "nothing to terminate"
        )
    reason = "Terminated from the dashboard"
    where = sweep_of(before)
    if where is not None and before.kind is JobKind.SWEEP:
        stopped = resume.terminate_sweep(
            ctx.executor, ctx.store, where, reason=reason, job_id=job_id
        )
        return stopped.summary()[:1].upper() + stopped.summary()[1:]
    after = ctx.executor.terminate(job_id, reason=reason)
    return f"Terminate requested for job {after.name} ({job_id}): now {_state_now(after)}"


def retry_job(ctx: AppContext, job_id: str) -> JobRecord:
    """Submit a finished job again; returns the new job."""
    return ctx.executor.retry(job_id)


def resume_job(ctx: AppContext, job_id: str) -> resume.Resumed:
    """Resume the sweep this job belongs to: rerun its missing chunks, then collect."""
    record = ctx.executor.get(job_id)
    where = sweep_of(record)
    if where is None:
        raise BacktestError(f"job {job_id} is not part of a sweep; nothing to resume")
    return resume.resume_sweep(ctx.executor, ctx.store, *where, user=record.user)
