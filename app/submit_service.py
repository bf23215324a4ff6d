"""New run services: submit single runs (one per file), plan and submit sweeps.

No Streamlit here. Parameters and options are validated with the registry and SimOptions
before anything is submitted, so a refused form submits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from numpy import format_float_positional

from app.context import AppContext
from engine.errors import NotFoundError, ParamError
from engine.spec import RunSpec, SimOptions
from engine.sweep.plan import plan
from engine.sweep.results import read_record, spec_key
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import ExpansionStats, ParamSpace, SweepSpec, expansion_stats
from jobs import sweeps
from jobs.model import JobRecord

# Fargate size of one sweep child (infra's default "sweep" job definition: 1 vCPU, 2 GiB).
CHILD_VCPU = 1.0
CHILD_MEMORY_GB = 2.0
FARGATE_MIN_BILLED_S = 60.0  # Fargate bills at least one minute per task
MAX_FILES = 100


def _check_files(ctx: AppContext, files: Sequence[str]) -> list[str]:
    keys = list(dict.fromkeys(str(f) for f in files if str(f).strip()))
    if not keys:
        raise ParamError("pick at least one input file")
    if len(keys) > MAX_FILES:
        raise ParamError(f"at most {MAX_FILES} files per submit, got {len(keys)}")
    bucket = ctx.settings.input_bucket
    for key in keys:
        if not ctx.store.exists(bucket, key):
            raise NotFoundError(f"no file {key!r} in the input bucket {bucket!r}")
    return keys


def build_run_specs(ctx: AppContext, files: Sequence[str], choice: RunChoice) -> list[RunSpec]:
    """One RunSpec per file; ParamError (the strategy's message) before anything is built.
    ``choice.pin``: an old run's recorded copy to run (app.rerun_source.PinnedSource)."""
    from app.strategy_service import checked_run  # built-ins, or a stored file's schema + pin

    strategy, options = choice.strategy, choice.options
    checked = checked_run(ctx, strategy, choice.params, choice.pin)
    options.validate()
    keys = _check_files(ctx, files)
    s = ctx.settings
    return [
        RunSpec(
            source_bucket=s.input_bucket,
            source_key=key,
            result_bucket=s.result_bucket,
            strategy=strategy,
            params=dict(checked.params),
            options=options,
            strategy_source=checked.source,  # a stored file: the bytes validated, sha256 checked
            strategy_sha256=checked.sha256,
        )
        for key in keys
    ]


@dataclass(frozen=True)
class RunChoice:
    """What the form chose for single runs, whatever the files: ``strategy``, its
    ``params`` and the simulation ``options``."""

    strategy: str
    params: Mapping[str, Any]
    options: SimOptions
    pin: Any = None  # app.rerun_source.PinnedSource: run an old run's recorded copy


def submit_runs(
    ctx: AppContext, files: Sequence[str], choice: RunChoice, *, user: str | None = None
) -> list[JobRecord]:
    """Validate, then submit one run of ``choice`` per file; return the job records (run id
    in spec).

    ``user`` (the signed-in user, when login is on) is recorded on each run and job.
    """
    specs = build_run_specs(ctx, files, choice)
    return [ctx.executor.submit_run(replace(spec, user=user or spec.user)) for spec in specs]


@dataclass(frozen=True)
class SweepChoice:
    """What the form chose for a sweep, whatever the files: ``strategy``, its ``fixed``
    parameters and swept ``space``, the simulation ``options``, ``mode`` (grid or random,
    ``n`` combinations drawn with ``seed``) and an optional ``sweep_id``."""

    strategy: str
    fixed: Mapping[str, Any]
    space: Mapping[str, ParamSpace]
    options: SimOptions
    mode: str = "grid"
    n: int | None = None
    seed: int = 0
    sweep_id: str | None = None
    search: SearchSpec | None = None  # mode "tpe": trials per round and objectives


def sweep_for_files(ctx: AppContext, files: Sequence[str], choice: SweepChoice) -> SweepSpec:
    """The validated SweepSpec (:func:`jobs.sweeps.build_sweep_spec`) of ``choice`` over
    ``files`` of the input bucket, results in the result bucket (the first file is the base)."""
    keys = _check_files(ctx, files)
    s = ctx.settings
    return sweeps.build_sweep_spec(
        sweeps.SweepRequest(
            s.input_bucket,
            keys,
            s.result_bucket,
            choice.strategy,
            choice.space,
            fixed=choice.fixed,
            options=choice.options,
            mode=choice.mode,
            n=choice.n,
            seed=choice.seed,
            sweep_id=choice.sweep_id,
            search=choice.search,
        )
    )


@dataclass(frozen=True)
class SweepEstimate:
    """What the New run page shows before a sweep is submitted."""

    n_candidates: int
    n_combinations: int  # valid combinations per file
    n_dropped: int
    n_files: int
    n_backtests: int  # files x combinations
    n_children: int
    chunk_size: int
    compute_seconds: float
    fargate_usd: float | None  # aws backend only


def fargate_cost(
    compute_seconds: float, n_children: int, vcpu_hour: float, gb_hour: float
) -> float:
    """USD for ``n_children`` Fargate tasks sharing ``compute_seconds`` (1-minute minimum)."""
    per_child = compute_seconds / max(1, n_children)
    billed_hours = n_children * max(per_child, FARGATE_MIN_BILLED_S) / 3600.0
    return billed_hours * (CHILD_VCPU * vcpu_hour + CHILD_MEMORY_GB * gb_hour)


@dataclass(frozen=True)
class FargatePricing:
    """Fargate list prices (USD per vCPU-hour and per GB-hour) for a sweep's cost estimate."""

    vcpu_hour: float
    gb_hour: float


def estimate_sweep(
    spec: SweepSpec,
    bars_per_file: Sequence[int],
    *,
    pricing: FargatePricing | None = None,
    cost_s: float | None = None,
    stats: ExpansionStats | None = None,
) -> SweepEstimate:
    """Combination count, planned children and time (and Fargate cost, given ``pricing``:
    the aws backend) of a sweep.

    ``bars_per_file`` holds each input file's bar count in ``spec.source_keys`` order; the
    children come from :func:`engine.sweep.plan.plan`, the call the submit makes. ``stats`` (the
    sweep's :func:`expansion_stats`, counted once and cached by the page) saves re-counting a
    large space on every rerun.
    """
    stats = expansion_stats(spec) if stats is None else stats
    planned = plan(spec, bars_per_file, n_combinations=stats.valid, cost_s=cost_s)
    chunks = planned.chunks
    compute = planned.compute_seconds
    usd = None
    if pricing is not None:
        usd = fargate_cost(compute, chunks.n_children, pricing.vcpu_hour, pricing.gb_hour)
    return SweepEstimate(
        stats.candidates,
        stats.valid,
        stats.dropped,
        planned.n_files,
        planned.n_tasks,
        chunks.n_children,
        chunks.chunk_size,
        compute,
        usd,
    )


def submit_sweep(ctx: AppContext, spec: SweepSpec) -> JobRecord:
    """Submit through :func:`jobs.sweeps.submit_sweep` (planned as the estimate is)."""
    return sweeps.submit_sweep(ctx.executor, ctx.store, spec)


def read_back_runs(ctx: AppContext, records: Sequence[JobRecord]) -> list[dict[str, Any]]:
    """The specs the jobs layer recorded for submitted runs (what will run, read back)."""
    specs = []
    for record in records:
        stored = ctx.executor.get(record.id).spec
        if not isinstance(stored, Mapping):
            raise NotFoundError(f"job {record.id} was submitted but records no run spec")
        specs.append(dict(stored))
    return specs


def read_back_sweep(ctx: AppContext, spec: SweepSpec) -> dict[str, Any]:
    """The sweep's spec.json as written at submit (spec, combination count and plan)."""
    data = read_record(ctx.store, spec.base.result_bucket, spec.sweep_id)
    if not isinstance(data, dict):
        raise ParamError(f"{spec_key(spec.sweep_id)} is not a JSON object")
    return data


def format_duration(seconds: float) -> str:
    """'4.2 ms', '0.4 s', '3 min 20 s', '2 h 05 min' (never a non-zero time as zero)."""
    if 0 < seconds < 0.1:
        return f"{seconds * 1000:.2g} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def format_usd(usd: float) -> str:
    """'$1,234.50', or two significant digits below a cent ('$0.00082'), never '$0.00'."""
    if usd == 0 or abs(usd) >= 0.01:
        return f"${usd:,.2f}"
    return "$" + format_float_positional(float(f"{usd:.2g}"), trim="-")
