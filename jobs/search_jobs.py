"""A TPE search's jobs: the submit, the step job that advances a round, and its progress.

Flow (one sweep id; the layout is :mod:`engine.sweep.search_rounds`):

1. :func:`submit_search` validates, picks the chunk size (it divides the round size), writes
   ``spec.json`` (``n_combinations`` = the budget) and ``search/search.json`` (the budget asked
   and the space's size), asks round 0, writes ``search/round-0.json`` and submits round 0:
   its array ``python -m engine.backtest --sweep URI --round 0`` and the step
   ``python -m jobs search-step URI --round 0`` depending on it.
2. :func:`run_step` (step ``r``): reads rounds ``0..r`` (``engine.sweep.search_results``), tells
   optuna, asks round ``r + 1``, writes its file and submits its array and step ``r + 1``; the
   last step submits the ordinary collect ``python -m engine.sweep.collect URI``.

A stored strategy file's rules never run in the submitting process: :func:`submit_search` counts
its space in the stored-sweep sandbox (:mod:`jobs.stored_sweep`), pins it to
``sweeps/<id>/strategy.py`` and submits only a first step job ``search-step URI --round -1``,
which loads the pinned copy (``engine.sweep.child.load_sweep_doc``), asks round 0 and submits
round 0's array and step. By hand, a stored file's step that must ask submits a step job.

Every submission is recorded in ``search/jobs-<r>.json`` (a list: a round continued by hand adds
one), so a rerun step is idempotent: a round file is written once and a round whose jobs are
still queued, running or done is not submitted again. A step that finds its round incomplete
fails in one line naming the command that continues the search; run by hand (no
``AWS_BATCH_JOB_ID``), that command resubmits the round's array and step.

Progress (``search_progress``) is :mod:`jobs.search_progress`; the bookkeeping files are
:mod:`jobs.search_records`. A budget larger than the space's valid combinations (counted when
the grid has at most :data:`jobs.search.COUNT_LIMIT` points) is cut to that count at submit, and
both figures are kept in ``search/search.json`` and shown by :func:`search_progress`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Any

from engine.errors import BacktestError, InfraError, ParamError, StrategyError
from engine.sim.strategies import STRATEGIES
from engine.store.objects import Store
from engine.store.runs import to_json_bytes, utc_now
from engine.sweep.plan import ChunkPlan, plan
from engine.sweep.results import (
    is_collected,
    parse_uri,
    read_json,
    spec_key,
    spec_record,
    sweep_prefix,
)
from engine.sweep.search_rounds import (
    RoundLayout,
    read_round,
    round_chunk_size,
    round_key,
    write_round,
)
from engine.sweep.spec import SweepSpec
from jobs.base import Executor, default_user
from jobs.model import JobKind, JobRecord, safe_job_name
from jobs.search_env import step_env
from jobs.search_progress import SearchProgress, progress_line, search_progress
from jobs.search_records import (
    FIRST,
    continue_command,
    is_stored,
    live_submission,
    record_submission,
    round_jobs,
    search_doc,
    search_key,
    status_of,
)

STEP_MODULE = "jobs"
CHILD_MODULE = "engine.backtest"
COLLECT_MODULE = "engine.sweep.collect"


@dataclass(frozen=True)
class SearchSubmission:
    """What :func:`submit_search` submitted: the spec's address, the layout, round 0's jobs."""

    sweep_id: str
    spec_uri: str
    layout: RoundLayout
    budget_requested: int
    valid_combinations: int | None  # None: the space is too large to count
    array: JobRecord | None  # round 0's array (or plain job); None: the first step asks it
    step: JobRecord  # round 0's step job (a stored strategy's: the first step, round -1)

    @property
    def plan(self) -> ChunkPlan:
        return ChunkPlan(self.layout.n_children, self.layout.chunk_size)


def as_sweep_submission(sub: SearchSubmission) -> Any:
    """The search as :class:`jobs.sweeps.SweepSubmission`: round 0's array, its step job as
    ``collect`` (the job that continues the search), the budget as ``n_combinations``. A
    stored strategy's search has no array yet: ``array`` is its first step job too."""
    from jobs.sweeps import SweepSubmission

    array = sub.array if sub.array is not None else sub.step
    return SweepSubmission(
        sub.sweep_id, sub.spec_uri, sub.layout.budget, 1, sub.plan, array, sub.step
    )


# --- submit ----------------------------------------------------------------------------------


def check_search(store: Store, spec: SweepSpec) -> tuple[SweepSpec, int | None, int]:
    """(the validated TPE spec, its valid combinations or None when uncounted, the largest
    warm-up); ParamError or StrategyError in one line for what a search does not support.

    A built-in is checked here; a stored strategy file in the sandbox subprocess ordinary
    stored sweeps use (:mod:`jobs.stored_sweep`: this process never imports it), the spec
    coming back pinned to ``strategies/<NAME>.py`` and the sha256 of the bytes checked."""
    if spec.mode != "tpe":
        raise ParamError(f"sweep {spec.sweep_id} is a {spec.mode} sweep, not a TPE search")
    if spec.base.strategy in STRATEGIES:
        from jobs.search import search_space

        spec = spec.validate()
        return (spec, *search_space(spec))
    from jobs import stored_sweep
    from jobs.sweeps import stored_source

    pinned, source = stored_source(store, spec)
    checked = stored_sweep.check_search(pinned, source, str(pinned.base.strategy_sha256))
    if checked.spec.base.strategy_sha256 != pinned.base.strategy_sha256:
        raise StrategyError(f"{spec.base.strategy}.py: the checked search lost its pinned sha256")
    return checked.spec, checked.valid, checked.warmup


def prepare_search(store: Store, spec: SweepSpec, cost_s: float | None = None) -> tuple[
    SweepSpec, RoundLayout, dict[str, Any]
]:  # fmt: skip
    """(spec with its budget, the round layout, search.json's record) before anything is
    written: every check of an ordinary sweep (ids, buckets, input bars for the warm-up)."""
    from jobs.sweeps import check_inputs, check_new_sweep

    spec, valid, warmup = check_search(store, spec)
    check_new_sweep(store, spec)
    requested = int(spec.n or 0)
    if valid is not None and valid < requested:
        spec = replace(spec, n=valid)  # every valid combination, each once
    bars = check_inputs(store, spec, warmup + 1)
    search = spec.search
    if search is None:  # pragma: no cover - check_search validated a tpe spec
        raise ParamError("a TPE search needs its search settings")
    budget = int(spec.n or 0)
    per_round = min(search.round_size, budget)
    timed = plan(spec, bars, n_combinations=per_round, cost_s=cost_s).chunks.chunk_size
    layout = RoundLayout(budget, search.round_size, round_chunk_size(search.round_size, timed))
    record = {
        "budget_requested": requested,
        "budget": budget,
        "valid_combinations": valid,
        "round_size": search.round_size,
        "n_rounds": layout.n_rounds,
        "objectives": list(search.objectives),
        "directions": list(search.directions),
        "seed": spec.seed,
        "created_at": utc_now(),
    }
    return spec, layout, record


def submit_search(
    executor: Executor, store: Store, spec: SweepSpec, *, cost_s: float | None = None
) -> SearchSubmission:
    """Write spec.json and search.json, ask and write round 0, submit its array and step.

    A stored strategy file's rules must not run here: its file is pinned to
    ``sweeps/<id>/strategy.py`` (as an ordinary stored sweep's) and round 0 is asked by a first
    step job (``search-step URI --round -1``), which then submits round 0's array and step;
    the submission's ``array`` is then None."""
    from engine.userstrat.pin import pin_sweep_strategy
    from jobs.search import ask_round

    user = spec.base.user or str(getattr(executor, "user", "") or default_user(""))
    spec, layout, info = prepare_search(store, spec, cost_s)
    stored = spec.base.strategy not in STRATEGIES
    if not stored:
        asked = ask_round(spec, 0, layout.trials(0), [])
        if asked.exhausted:
            raise ParamError(
                f"the search found only {len(asked.trials)} valid combinations for its first "
                f"round of {asked.wanted}; widen the ranges or use a grid sweep"
            )
    spec = pin_sweep_strategy(store, spec)  # a stored file: the copy every job loads
    bucket = spec.base.result_bucket
    key = spec_key(spec.sweep_id)
    chunks = ChunkPlan(layout.n_children, layout.chunk_size)
    record = spec_record(spec, layout.budget, chunks, utc_now(), user)
    store.put_bytes(bucket, key, to_json_bytes(record))
    store.put_bytes(bucket, search_key(spec.sweep_id), to_json_bytes(info))
    uri = store.uri(bucket, key)
    array: JobRecord | None = None
    if stored:
        step = submit_step(executor, store, spec, FIRST)
    else:
        write_round(store, bucket, spec.sweep_id, 0, asked.trials)
        array, step = submit_round(executor, store, spec, layout, 0)
    record["jobs"] = {
        "array": None if array is None else array.id,
        "collect": None,
        "step": step.id,
        "backend": executor.backend,
    }
    store.put_bytes(bucket, key, to_json_bytes(record))
    return SearchSubmission(
        spec.sweep_id,
        uri,
        layout,
        int(info["budget_requested"]),
        info["valid_combinations"],
        array,
        step,
    )


# --- the jobs of a round ---------------------------------------------------------------------


def _common(store: Store, spec: SweepSpec) -> dict[str, Any]:
    bucket = spec.base.result_bucket
    uri = store.uri(bucket, spec_key(spec.sweep_id))
    return {
        "spec": {**spec.to_dict(), "spec_uri": uri},
        "result_prefix": store.uri(bucket, sweep_prefix(spec.sweep_id)),
    }


def _python(executor: Executor) -> str:
    return sys.executable if executor.backend == "local" else "python"


def _user(executor: Executor, spec: SweepSpec) -> str:
    return spec.base.user or str(getattr(executor, "user", "") or default_user(""))


def submit_round(
    executor: Executor, store: Store, spec: SweepSpec, layout: RoundLayout, r: int
) -> tuple[JobRecord, JobRecord]:
    """Submit round ``r``'s array (a plain job for one chunk) and its step; record both."""
    uri = store.uri(spec.base.result_bucket, spec_key(spec.sweep_id))
    python, user = _python(executor), _user(executor, spec)
    tags = {"sweep-id": spec.sweep_id, "search-round": str(r), "user": user}
    size = layout.children(r)
    array = executor.submit_command(
        [python, "-m", CHILD_MODULE, "--sweep", uri, "--round", str(r)],
        name=safe_job_name(f"round-{r}-{spec.sweep_id}"),
        kind=JobKind.SWEEP,
        array_size=size if size > 1 else None,
        tags=tags,
        **_common(store, spec),
    )
    try:
        step = _step_job(executor, store, spec, r, array.id)
    except (BacktestError, InfraError) as exc:
        record_submission(store, spec, r, {"array": array.id, "step": None})
        raise InfraError(
            f"round {r}'s step job could not be submitted ({exc}); when its array job "
            f"{array.id} ends, continue with `{continue_command(uri, r)}`"
        ) from None
    record_submission(store, spec, r, {"array": array.id, "step": step.id})
    return array, step


def _step_job(
    executor: Executor, store: Store, spec: SweepSpec, r: int, array_id: str | None
) -> JobRecord:
    """Submit ``search-step URI --round r`` (after ``array_id`` when given)."""
    uri = store.uri(spec.base.result_bucket, spec_key(spec.sweep_id))
    tags = {"sweep-id": spec.sweep_id, "search-round": str(r), "user": _user(executor, spec)}
    if array_id is not None:
        tags["array-job"] = array_id
    return executor.submit_command(
        [_python(executor), "-m", STEP_MODULE, "search-step", uri, "--round", str(r)],
        name=safe_job_name(f"step-{'first' if r == FIRST else r}-{spec.sweep_id}"),
        kind=JobKind.COLLECT,
        depends_on=() if array_id is None else (array_id,),
        env=step_env(executor),
        tags=tags,
        **_common(store, spec),
    )


def submit_step(executor: Executor, store: Store, spec: SweepSpec, r: int) -> JobRecord:
    """Submit step ``r`` alone, as a job (where a strategy file may run): the first step
    (``FIRST``) of a stored strategy's search, recorded in ``search/jobs-0.json`` as ``ask``,
    or step ``r`` continued by hand, recorded in ``search/jobs-<r>.json`` as ``step``."""
    uri = store.uri(spec.base.result_bucket, spec_key(spec.sweep_id))
    try:
        step = _step_job(executor, store, spec, r, None)
    except (BacktestError, InfraError) as exc:
        raise InfraError(
            f"the step job that asks round {r + 1} could not be submitted ({exc}); continue "
            f"with `{continue_command(uri, r)}`"
        ) from None
    role = "ask" if r == FIRST else "step"
    record_submission(store, spec, max(r, 0), {role: step.id, "by_hand": r != FIRST})
    return step


# --- the step --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepResult:
    """What a step did, in one line (:attr:`message`)."""

    message: str
    array: JobRecord | None = None
    step: JobRecord | None = None
    collect: JobRecord | None = None


@dataclass(frozen=True)
class _Search:
    """One step's handles: where it submits, where it reads, the search and its layout."""

    executor: Executor
    store: Store
    spec: SweepSpec
    layout: RoundLayout

    @property
    def bucket(self) -> str:
        return self.spec.base.result_bucket

    @property
    def uri(self) -> str:
        return self.store.uri(self.bucket, spec_key(self.spec.sweep_id))

    def jobs(self, r: int) -> list[dict[str, Any]]:
        return round_jobs(self.store, self.bucket, self.spec.sweep_id, r)


def run_step(
    executor: Executor, store: Store, uri: str, r: int, *, by_hand: bool = False
) -> StepResult:
    """Step ``r``: tell rounds ``0..r``, ask and submit round ``r + 1`` (or the collect);
    ``r = FIRST`` (-1) tells nothing and asks round 0.

    A stored strategy file is loaded from its pinned copy (``sweeps/<id>/strategy.py``) before
    its rules are applied, in a step job only: run by hand (``by_hand``, the CLI), the step
    reads files and submits jobs but never imports the file; an ask is left to a step job."""
    from engine.sweep.child import load_sweep_doc
    from engine.sweep.search_results import RoundIncomplete, read_trials, search_layout

    bucket, key = parse_uri(uri)
    record = read_json(store, bucket, key)
    stored = is_stored(record)
    if stored and by_hand:
        doc = search_doc(store, bucket, key)  # read only: the file is not imported here
    else:
        doc = load_sweep_doc(store, bucket, key)  # a stored file: its pinned copy, registered
    ctx = _Search(executor, store, doc.spec, search_layout(doc))
    if r < FIRST:
        raise ParamError(f"--round must be {FIRST} (ask round 0) or a round >= 0, got {r}")
    if r == FIRST:
        return _ask_by_job(ctx, r) if stored and by_hand else _next_round(ctx, r, None)
    ctx.layout.trials(r)  # ParamError for a round outside the search
    read_round(store, bucket, doc.spec.sweep_id, r)  # NotFoundError: round r was never asked
    try:
        trials = read_trials(store, bucket, doc, r)
    except (RoundIncomplete, ParamError) as exc:
        if not by_hand:
            kind = ParamError if isinstance(exc, ParamError) else InfraError
            raise kind(f"{exc}; continue with `{continue_command(uri, r)}`") from None
        return _resubmit(ctx, r, str(exc))
    if r + 1 >= ctx.layout.n_rounds:
        return _collect(ctx, r)
    if stored and by_hand:
        return _ask_by_job(ctx, r)
    return _next_round(ctx, r, trials)


def _ask_by_job(ctx: _Search, r: int) -> StepResult:
    """By hand on a stored strategy's search: round ``r + 1`` is asked by a step job (its
    rules run there), unless it was submitted already."""
    nxt = r + 1
    live = live_submission(ctx.executor, ctx.jobs(nxt), "array")
    if live is not None:
        return StepResult(f"round {nxt} was submitted already (array job {live}); nothing to do")
    role = "ask" if r == FIRST else "step"
    asking = live_submission(ctx.executor, ctx.jobs(max(r, 0)), role)
    status = status_of(ctx.executor, asking)
    if asking and status is not None and not status.is_terminal:
        return StepResult(f"round {nxt} is being asked by step job {asking} ({status.value})")
    step = submit_step(ctx.executor, ctx.store, ctx.spec, r)
    return StepResult(
        f"submitted step job {step.id}: it loads the pinned strategy file, asks round {nxt} "
        "and submits it (this process never imports strategy files)",
        step=step,
    )


def _resubmit(ctx: _Search, r: int, why: str) -> StepResult:
    """Run by hand on an incomplete round: submit it again unless its array still runs (its
    step, still pending or running, then fails on the incomplete round and submits nothing)."""
    running = live_submission(ctx.executor, ctx.jobs(r), "array")
    status = status_of(ctx.executor, running)
    if running and status is not None and not status.is_terminal:
        raise BacktestError(
            f"round {r} of sweep {ctx.spec.sweep_id} is not complete and its array job "
            f"{running} is {status.value}; wait for it (python -m jobs wait {running})"
        )
    array, step = submit_round(ctx.executor, ctx.store, ctx.spec, ctx.layout, r)
    first = why.split(";", maxsplit=1)[0]
    return StepResult(
        f"round {r} was incomplete ({first}); submitted it again: array job {array.id}, "
        f"step job {step.id}",
        array,
        step,
    )


def _next_round(ctx: _Search, r: int, trials: Any) -> StepResult:
    from jobs.search import ask_round, told_trials

    spec, layout, nxt = ctx.spec, ctx.layout, r + 1
    live = live_submission(ctx.executor, ctx.jobs(nxt), "array")
    if live is not None:
        return StepResult(f"round {nxt} was submitted already (array job {live}); nothing to do")
    if ctx.store.exists(ctx.bucket, round_key(spec.sweep_id, nxt)):
        asked_trials = read_round(ctx.store, ctx.bucket, spec.sweep_id, nxt)  # asked once, kept
    else:
        history = [] if trials is None else told_trials(spec, trials)
        asked = ask_round(spec, nxt, layout.trials(nxt), history)
        if asked.exhausted:
            done = layout.trials(nxt).start
            raise InfraError(
                f"sweep {spec.sweep_id}: no unused valid combination is left for round {nxt} "
                f"(found {len(asked.trials)} of {asked.wanted}); the search stops at {done} "
                f"trials of its budget of {layout.budget}"
            )
        asked_trials = asked.trials
    write_round(ctx.store, ctx.bucket, spec.sweep_id, nxt, asked_trials)
    array, step = submit_round(ctx.executor, ctx.store, spec, layout, nxt)
    if nxt == 0:  # asked by the first step: spec.json names round 0's jobs as a submit does
        _record_jobs(ctx, {"array": array.id, "step": step.id})
    told = "told nothing yet" if trials is None else f"told {len(trials)} trials of rounds 0..{r}"
    return StepResult(
        f"{told}; asked round {nxt} "
        f"(trials {asked_trials[0].number}..{asked_trials[-1].number}): array job {array.id}, "
        f"step job {step.id}",
        array,
        step,
    )


def _collect(ctx: _Search, r: int) -> StepResult:
    spec, store, bucket = ctx.spec, ctx.store, ctx.bucket
    entries = ctx.jobs(r)
    live = live_submission(ctx.executor, entries, "collect")
    if live is not None or is_collected(store, bucket, spec.sweep_id):
        return StepResult(f"the collect was submitted already ({live or 'collected'})")
    collect = ctx.executor.submit_command(
        [_python(ctx.executor), "-m", COLLECT_MODULE, ctx.uri],
        name=safe_job_name(f"collect-{spec.sweep_id}"),
        kind=JobKind.COLLECT,
        tags={"sweep-id": spec.sweep_id, "user": _user(ctx.executor, spec)},
        **_common(store, spec),
    )
    latest = entries[-1] if entries else {}
    done = {"array": latest.get("array"), "step": latest.get("step"), "collect": collect.id}
    record_submission(store, spec, r, done)
    # the Jobs page finds a sweep's collect in spec.json
    _record_jobs(ctx, {"array": latest.get("array"), "collect": collect.id})
    return StepResult(
        f"all {r + 1} rounds told; submitted the collect job {collect.id}", collect=collect
    )


def _record_jobs(ctx: _Search, jobs: dict[str, Any]) -> None:
    """Update spec.json's ``jobs`` with ``jobs`` (and the backend)."""
    key = spec_key(ctx.spec.sweep_id)
    record = read_json(ctx.store, ctx.bucket, key)
    if isinstance(record, dict):
        merged = {**dict(record.get("jobs") or {}), **jobs, "backend": ctx.executor.backend}
        record["jobs"] = merged
        ctx.store.put_bytes(ctx.bucket, key, to_json_bytes(record))


__all__ = [
    "SearchProgress",
    "SearchSubmission",
    "StepResult",
    "progress_line",
    "run_step",
    "search_progress",
    "step_env",
    "submit_search",
]
