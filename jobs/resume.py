"""Sweep control shared by ``python -m jobs resume`` and the Jobs page: state, resume, terminate.

A sweep is an array of children (one chunk each) and a collect job that depends on it. On AWS
Batch a collect job whose array ends FAILED never runs, so one lost child (out of memory, timed
out, out of attempts) would lose the sweep. :func:`resume_sweep` reruns only the chunks with no
``chunks/<i>.parquet`` (chunks that failed on their input, with ``chunks/<i>.error.json``, are
rerun too) as a new array, or one plain job for one chunk, of
``python -m engine.sweep.resume_child s3://B/sweeps/ID/resume/<n>.json``, then submits a new
collect job depending on it. When every chunk is there it submits only the collect job.

A walk-forward sweep (spec.json has ``walk_forward``) also reruns its in-sample chunks without
``walk_forward/is/<j>.parquet`` in the same array (``python -m engine.sweep.wf_jobs resume-child
MANIFEST``, :mod:`engine.sweep.wf_resume`) and its collect is the walk-forward collect, so a
resumed walk-forward sweep ends with its walk-forward results. Such a sweep counts as collected
only with ``_SUCCESS`` and ``walk_forward/result.json`` (one collected by the plain collect can
be resumed: that reruns what is missing and the walk-forward collect).

Which jobs are the sweep's *current* ones: the latest resume manifest's ``jobs``, else
spec.json's ``jobs`` (written by :func:`jobs.sweeps.submit_sweep_jobs`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import BacktestError, NotFoundError
from engine.store.objects import Store
from engine.store.runs import to_json_bytes, utc_now
from engine.sweep import wf_jobs
from engine.sweep.plan import chunk_indices
from engine.sweep.results import (
    chunk_state,
    is_collected,
    read_json,
    read_record,
    resume_key,
    resume_keys,
    spec_key,
    sweep_prefix,
)
from jobs.base import Executor, default_user
from jobs.model import JobKind, JobRecord, JobStatus, safe_job_name
from jobs.search_records import search_doc

RESUME_MODULE = "engine.sweep.resume_child"
COLLECT_MODULE = "engine.sweep.collect"
WF_MODULE = "engine.sweep.wf_jobs"  # a walk-forward sweep's resume children and collect
ACTIVE_CHILD_STATES = (JobStatus.STARTING, JobStatus.RUNNING)
SUBMIT_WINDOW_S = 300  # a resume manifest still without its jobs after this was abandoned


@dataclass(frozen=True)
class SweepState:
    """A sweep as its files say: chunk progress, whether collected, and its current jobs."""

    sweep_id: str
    bucket: str
    spec_uri: str
    n_children: int
    n_tasks: int
    done: list[int]
    failed: list[int]  # chunks/<i>.error.json only (the chunk's input was bad)
    missing: list[int]  # neither file yet
    rows_done: int
    collected: bool
    array_id: str | None
    collect_id: str | None
    resumes: int  # resume manifests written so far
    submitting: bool = False  # the latest resume's jobs are being submitted right now
    walk_forward: WalkForwardChunks | None = None  # a walk-forward sweep's in-sample chunks

    @property
    def to_rerun(self) -> list[int]:
        """Ordinary chunks without a chunk parquet: what a resume reruns of them."""
        return sorted(self.failed + self.missing)

    @property
    def wf_to_rerun(self) -> list[int]:
        """In-sample chunks of a walk-forward sweep without their parquet ([] otherwise)."""
        wf = self.walk_forward
        return [] if wf is None else sorted(wf.failed + wf.missing)

    @property
    def n_to_rerun(self) -> int:
        """Children a resume reruns: ordinary chunks plus in-sample chunks."""
        return len(self.to_rerun) + len(self.wf_to_rerun)


@dataclass(frozen=True)
class WalkForwardChunks:
    """A walk-forward sweep's in-sample chunks (the array's children after the ordinary ones):
    ``n_windows`` units (file x window) x ``chunks_per_unit`` = ``n_children``; ``plan_error``
    says why walk_forward/plan.json could not be read (then ``n_children`` is 0)."""

    n_children: int
    n_windows: int
    chunks_per_unit: int
    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    plan_error: str = ""


def parse_prefix(result_prefix: str | None) -> tuple[str, str] | None:
    """``s3://bucket/sweeps/<id>/`` -> (bucket, sweep id); None for any other prefix."""
    text = (result_prefix or "").strip()
    if not text.startswith("s3://"):
        return None
    bucket, _, key = text[5:].partition("/")
    parts = key.strip("/").split("/")
    if not bucket or len(parts) != 2 or parts[0] != "sweeps":
        return None
    return bucket, parts[1]


def read_state(store: Store, bucket: str, sweep_id: str) -> SweepState:
    """The sweep's chunk progress and current jobs; NotFoundError when there is no such sweep."""
    try:
        raw = read_record(store, bucket, sweep_id)
    except NotFoundError:
        raise NotFoundError(f"no sweep {sweep_id!r} in bucket {bucket!r}") from None
    # a strategy file's spec is read without its schema: this process never imports the file
    # (the resume children validate against the pinned copy, as the first children did)
    doc = search_doc(store, bucket, spec_key(sweep_id))
    chunks = chunk_state(store, bucket, sweep_id, doc.n_children)
    wf = None if doc.spec.walk_forward is None else _wf_chunks(store, bucket, sweep_id)
    collected = is_collected(store, bucket, sweep_id)
    if wf is not None and collected:  # the plain collect writes _SUCCESS but no WF results
        collected = store.exists(bucket, wf_jobs.result_key(sweep_id))
    rows = sum(len(chunk_indices(i, doc.plan, doc.n_tasks)) for i in chunks.done)
    jobs: dict[str, Any] = dict(raw.get("jobs") or {})
    manifests = resume_keys(store, bucket, sweep_id)
    submitting = False
    if manifests:
        latest = read_json(store, bucket, manifests[-1])
        latest = latest if isinstance(latest, dict) else {}
        # a manifest gets its "jobs" once they are submitted; until then its "previous" ones
        submitting = not latest.get("jobs") and _recent(latest.get("created_at"))
        jobs = dict(latest.get("jobs") or latest.get("previous") or {})
    return SweepState(
        sweep_id,
        bucket,
        store.uri(bucket, spec_key(sweep_id)),
        doc.n_children,
        doc.n_tasks,
        chunks.done,
        chunks.failed,
        chunks.missing,
        rows,
        collected,
        jobs.get("array"),
        jobs.get("collect"),
        len(manifests),
        submitting,
        wf,
    )


def _wf_chunks(store: Store, bucket: str, sweep_id: str) -> WalkForwardChunks:
    """The in-sample chunks of a walk-forward sweep, as walk_forward/ says now."""
    try:
        plan = wf_jobs.read_plan(store, bucket, sweep_id)
    except (BacktestError, ValueError) as exc:  # absent, not JSON, or damaged
        where = store.uri(bucket, wf_jobs.wf_prefix(sweep_id) + wf_jobs.PLAN)
        return WalkForwardChunks(0, 0, 0, plan_error=f"{where} is unreadable: {exc}")
    state = wf_jobs.is_chunk_state(store, bucket, sweep_id, plan.n_children)
    return WalkForwardChunks(
        plan.n_children,
        len(plan.units),
        plan.chunks_per_unit,
        state.done,
        state.failed,
        state.missing,
    )


def _recent(created_at: Any) -> bool:
    """True when an ISO time is less than SUBMIT_WINDOW_S old (False when unreadable)."""
    try:
        when = datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (datetime.now(UTC) - when).total_seconds() < SUBMIT_WINDOW_S


def _status(executor: Executor, job_id: str | None) -> JobRecord | None:
    """The job, or None when it is unknown (never submitted, or expired on Batch)."""
    if not job_id:
        return None
    try:
        return executor.get(job_id)
    except NotFoundError:
        return None


def why_not_resumable(executor: Executor, state: SweepState) -> str | None:
    """None when the sweep can be resumed now, else the one-line reason."""
    if state.collected:
        return f"sweep {state.sweep_id} is already collected; nothing to resume"
    array = _status(executor, state.array_id)
    return resume_blocker(state, array, _status(executor, state.collect_id))


def resume_blocker(
    state: SweepState, array: JobRecord | None, collect: JobRecord | None
) -> str | None:
    """Why the sweep cannot be resumed with its current jobs in these states (None: it can)."""
    if state.collected:
        return f"sweep {state.sweep_id} is already collected; nothing to resume"
    if state.submitting:
        return f"a resume of sweep {state.sweep_id} is being submitted; look again in a moment"
    if array is not None and not array.is_terminal:
        return (
            f"sweep {state.sweep_id}'s children ({array.id}) are still {array.status.value}; "
            "resume once they have ended"
        )
    array_ok = array is not None and array.status is JobStatus.SUCCEEDED
    if collect is not None and not collect.is_terminal and array_ok:
        return (
            f"sweep {state.sweep_id}'s collect job ({collect.id}) is still "
            f"{collect.status.value}; it will write the summary"
        )
    return None


@dataclass(frozen=True)
class Resumed:
    """What a resume submitted: the chunks rerun, their job (None when none) and the collect."""

    sweep_id: str
    chunks: list[int]
    array: JobRecord | None
    collect: JobRecord
    manifest_uri: str | None
    wf_chunks: list[int] = field(default_factory=list)  # in-sample chunks (walk-forward)
    walk_forward: bool = False

    def summary(self) -> str:
        """One line for the CLI and the page."""
        collect = f"{'walk-forward ' if self.walk_forward else ''}collect job {self.collect.id}"
        if self.array is None:
            return f"resumed sweep {self.sweep_id}: every chunk is present; {collect}"
        parts = []
        if self.chunks or not self.walk_forward:
            parts.append(f"{len(self.chunks)} missing chunk(s) ({_shown(self.chunks)})")
        if self.wf_chunks:
            parts.append(
                f"{len(self.wf_chunks)} missing walk-forward in-sample chunk(s) "
                f"({_shown(self.wf_chunks)})"
            )
        return (
            f"resumed sweep {self.sweep_id}: {' and '.join(parts)} as job {self.array.id}, "
            f"then {collect}"
        )


def _shown(values: list[int], limit: int = 20) -> str:
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(str(c) for c in values[:limit]) + more


def _python(executor: Executor) -> str:
    return sys.executable if executor.backend == "local" else "python"


def _write_manifest(
    store: Store, state: SweepState, n: int, record: dict[str, Any]
) -> tuple[str, str]:
    key = resume_key(state.sweep_id, n)
    if store.exists(state.bucket, key):
        where = store.uri(state.bucket, key)
        raise BacktestError(f"sweep {state.sweep_id} was just resumed by someone else ({where})")
    store.put_bytes(state.bucket, key, to_json_bytes(record))
    return key, store.uri(state.bucket, key)


def resume_sweep(
    executor: Executor, store: Store, bucket: str, sweep_id: str, *, user: str = ""
) -> Resumed:
    """Rerun the chunks of ``sweep_id`` that have no chunk parquet, then collect (see module)."""
    state = read_state(store, bucket, sweep_id)
    reason = why_not_resumable(executor, state)
    if reason:
        raise BacktestError(reason)
    from jobs.search_records import resume_refusal  # a TPE search with rounds still to ask

    reason = resume_refusal(store, bucket, sweep_id)
    if reason:
        raise BacktestError(reason)
    if state.walk_forward is not None and state.walk_forward.plan_error:
        raise BacktestError(f"sweep {sweep_id} cannot be resumed: {state.walk_forward.plan_error}")
    who = user or str(getattr(executor, "user", "") or default_user(""))
    old_collect = _status(executor, state.collect_id)
    if old_collect is not None and not old_collect.is_terminal:  # it waits on a FAILED array
        executor.terminate(old_collect.id, reason=f"Replaced by resume {state.resumes + 1}")
    n = state.resumes + 1
    chunks, wf_chunks = state.to_rerun, state.wf_to_rerun
    record: dict[str, Any] = {
        "sweep_id": sweep_id,
        "spec": state.spec_uri,
        "chunks": chunks,
        "resume": n,
        "created_at": utc_now(),
        "user": who,
        "previous": {"array": state.array_id, "collect": state.collect_id},
    }
    if state.walk_forward is not None:
        record["wf_chunks"] = wf_chunks
    result_prefix = store.uri(bucket, sweep_prefix(sweep_id))
    tags = {"sweep-id": sweep_id, "user": who, "resume": str(n)}
    python = _python(executor)
    array: JobRecord | None = None
    manifest_key = manifest_uri = None
    total = len(chunks) + len(wf_chunks)
    if total:
        manifest_key, manifest_uri = _write_manifest(store, state, n, record)
        array = executor.submit_command(
            [*_module(python, state, RESUME_MODULE, "resume-child"), manifest_uri],
            name=safe_job_name(f"resume{n}-{sweep_id}"),
            kind=JobKind.SWEEP,
            array_size=total if total > 1 else None,
            spec={
                "sweep_id": sweep_id,
                "resume": n,
                "chunks": len(chunks),
                **({"wf_chunks": len(wf_chunks)} if state.walk_forward is not None else {}),
            },
            result_prefix=result_prefix,
            tags=tags,
        )
        record["jobs"] = {"array": array.id, "collect": None, "backend": executor.backend}
        store.put_bytes(bucket, manifest_key, to_json_bytes(record))  # seen even if collect fails
    collect = executor.submit_command(
        [*_module(python, state, COLLECT_MODULE, "collect"), state.spec_uri],
        name=safe_job_name(f"collect-{sweep_id}"),
        kind=JobKind.COLLECT,
        depends_on=(array.id,) if array else (),
        spec={"sweep_id": sweep_id, "resume": n},
        result_prefix=result_prefix,
        tags={**tags, **({"array-job": array.id} if array else {})},
    )
    record["jobs"] = {
        "array": array.id if array else None,
        "collect": collect.id,
        "backend": executor.backend,
    }
    if manifest_key is None:
        manifest_key, manifest_uri = _write_manifest(store, state, n, record)
    else:
        store.put_bytes(bucket, manifest_key, to_json_bytes(record))
    return Resumed(
        sweep_id, chunks, array, collect, manifest_uri, wf_chunks, state.walk_forward is not None
    )


def _module(python: str, state: SweepState, plain: str, wf_role: str) -> list[str]:
    """``python -m MODULE`` for a plain sweep, ``python -m engine.sweep.wf_jobs ROLE`` for a
    walk-forward one."""
    if state.walk_forward is None:
        return [python, "-m", plain]
    return [python, "-m", WF_MODULE, wf_role]


@dataclass(frozen=True)
class Terminated:
    """A terminate request on a sweep and the states it reached."""

    sweep_id: str
    children: int  # children that had not finished when asked
    array: JobRecord | None  # the current array, as read after the request
    collect: JobRecord | None  # the collect job, when it was still waiting or running

    def summary(self) -> str:
        """'terminate requested for sweep X: 12 children and collect; now ...' (the truth)."""
        parts = [f"{self.children} unfinished child job(s)"]
        if self.collect is not None:
            parts.append("collect")
        now = []
        if self.array is not None:
            stopping = "" if self.array.is_terminal else " (stopping)"
            now.append(f"children {self.array.status.value}{stopping}")
        if self.collect is not None:
            stopping = "" if self.collect.is_terminal else " (stopping)"
            now.append(f"collect {self.collect.status.value}{stopping}")
        return (
            f"terminate requested for sweep {self.sweep_id}: {' and '.join(parts)}; "
            f"now {', '.join(now) or 'nothing was running'}"
        )


def _unfinished_children(record: JobRecord) -> int:
    if not record.array_size:
        return 0 if record.is_terminal else 1
    counts = record.status_counts or {}
    return record.array_size - counts.get("SUCCEEDED", 0) - counts.get("FAILED", 0)


def terminate_sweep(
    executor: Executor,
    store: Store,
    sweep: tuple[str, str],
    *,
    reason: str = "Terminated by user",
    job_id: str | None = None,
) -> Terminated:
    """Stop the current children and the collect job of ``sweep`` (result bucket, sweep id).

    The array parent is terminated (queued children are cancelled with it) and so is every
    STARTING/RUNNING child, which on AWS Batch a parent's cancel does not stop. ``job_id``
    names the array when spec.json does not list it yet (a submit still under way).
    """
    bucket, sweep_id = sweep
    state = read_state(store, bucket, sweep_id)
    array = _status(executor, state.array_id or job_id)
    collect = _status(executor, state.collect_id)
    children = 0
    if array is not None and not array.is_terminal:
        children = _unfinished_children(array)
        executor.terminate(array.id, reason=reason)
        if array.array_size:
            for status in ACTIVE_CHILD_STATES:
                for child in executor.list(status, parent_id=array.id):
                    executor.terminate(child.id, reason=reason)
        array = executor.get(array.id)
    stopped = None
    if collect is not None and not collect.is_terminal:
        stopped = executor.terminate(collect.id, reason=reason)
    return Terminated(sweep_id, children, array, stopped)
