"""Submit a parameter sweep: spec.json, the array of children, the dependent collect job.

:func:`submit_sweep` (the contract: ``submit_sweep(executor, store, spec) -> JobRecord``)
validates the SweepSpec, counts its combinations, loads the base input file (it must exist and
hold enough bars for every combination; its bar count sizes the chunks), plans the chunks so
that a child works about ``spec.target_child_seconds`` (cost per bar-combination
:data:`COST_PER_BAR_COMBINATION_S`, measured by bench/sweep_bench.py), writes
``sweeps/<id>/spec.json`` and submits

- ``python -m engine.backtest --sweep s3://BUCKET/sweeps/ID/spec.json`` as an array job of
  ``n_children`` (or one plain job when the plan has one chunk; the child then takes chunk 0);
- ``python -m engine.sweep_collect s3://BUCKET/sweeps/ID/spec.json`` depending on it.

It returns the array job's record; :func:`submit_sweep_jobs` returns both records, which are
also written into spec.json under ``"jobs"``.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import BacktestError, InfraError, NotFoundError, ParamError
from engine.results import to_json_bytes, utc_now
from engine.spec import RunSpec, check_run_id
from engine.store import Store, open_store
from engine.sweep_results import SPEC_JSON, spec_record, sweep_prefix
from engine.sweep_spec import (
    MAX_CHILDREN,
    ChunkPlan,
    SweepSpec,
    combinations,
    expansion_stats,
    plan_chunks,
)
from jobs.base import Executor, default_user
from jobs.model import JobKind, JobRecord, safe_job_name

if TYPE_CHECKING:
    from jobs.settings import Settings
    from jobs.sweeps_hook import SweepRequest

# Seconds per bar per combination of a sweep child: bench/sweep_bench.py measured 7.8e-9
# (10,000 sma_cross combinations x 100,000 bars in 7.8 s on one busy core, load and write
# included); rounded up for strategies with costlier signals.
COST_PER_BAR_COMBINATION_S = 1e-8
CHILD_MODULE = "engine.backtest"
COLLECT_MODULE = "engine.sweep_collect"
MAX_SWEEP_ID = 120  # leaves room for the "-top<k>" run ids of the top combinations
COLLECT_RETRY_DELAYS = (0.5, 1.0, 2.0)  # seconds between the collect job's submit attempts


@dataclass(frozen=True)
class SweepSubmission:
    """What was submitted: the spec's address, its size and plan, and both job records."""

    sweep_id: str
    spec_uri: str
    n_combinations: int
    n_files: int
    plan: ChunkPlan
    array: JobRecord
    collect: JobRecord


def new_sweep_id(strategy: str) -> str:
    """A sortable unique sweep id: <UTC time>-<strategy>-sweep-<random>."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return check_run_id(
        f"{stamp}-{safe_job_name(strategy, 'sweep')[:40]}-sweep-{secrets.token_hex(3)}"
    )


def fixed_plan(n_tasks: int, n_children: int) -> ChunkPlan:
    """Exactly ``n_children`` equal chunks (fewer when there are fewer tasks)."""
    if isinstance(n_children, bool) or not isinstance(n_children, int) or n_children < 1:
        raise ParamError(f"children must be an integer >= 1, got {n_children!r}")
    wanted = max(1, min(n_children, n_tasks, MAX_CHILDREN))
    size = math.ceil(n_tasks / wanted)
    return ChunkPlan(math.ceil(n_tasks / size), size)


def count_and_warmup(spec: SweepSpec) -> tuple[int, int]:
    """(valid combinations, largest warm-up among them) in one pass over the space."""
    from engine.strategies import get_strategy

    strategy = get_strategy(spec.base.strategy)
    defaults = strategy.defaults()
    count = warmup = 0
    for params in combinations(spec):
        count += 1
        warmup = max(warmup, int(strategy.warmup_fn({**defaults, **params})))
    if count == 0:
        expansion_stats(spec)  # raises the "no valid combination: <rule>" error
        raise ParamError("the sweep has no valid combination")
    return count, warmup


def check_inputs(store: Store, spec: SweepSpec, min_bars: int) -> int:
    """Every input file exists; the base file loads with ``min_bars``; return its bar count."""
    from engine.data import load_prices

    bucket = spec.base.source_bucket
    for key in spec.extra_keys:
        if not store.exists(bucket, key):
            raise NotFoundError(f"no file {key!r} in bucket {bucket!r}")
    data = store.get_bytes(bucket, spec.base.source_key)
    prices = load_prices(data, name=store.uri(bucket, spec.base.source_key), min_bars=min_bars)
    return len(prices)


def prepare(
    store: Store,
    spec: SweepSpec,
    *,
    n_children: int | None = None,
    cost_s: float | None = None,
) -> tuple[SweepSpec, int, ChunkPlan]:
    """Validate and plan: (validated spec, combinations per file, chunk plan)."""
    spec = spec.validate()
    if len(spec.sweep_id) > MAX_SWEEP_ID:
        raise ParamError(f"sweep id is {len(spec.sweep_id)} characters; at most {MAX_SWEEP_ID}")
    bucket = spec.base.result_bucket
    if not store.bucket_exists(bucket):
        raise NotFoundError(f"result bucket {bucket!r} does not exist")
    if store.list(bucket, sweep_prefix(spec.sweep_id)):
        raise ParamError(f"sweep {spec.sweep_id!r} already exists in {bucket!r}; pick a new id")
    n_combinations, warmup = count_and_warmup(spec)
    n_bars = check_inputs(store, spec, warmup + 1)
    n_tasks = n_combinations * len(spec.source_keys)
    if n_children is not None:
        return spec, n_combinations, fixed_plan(n_tasks, n_children)
    cost = COST_PER_BAR_COMBINATION_S if cost_s is None else float(cost_s)
    return spec, n_combinations, plan_chunks(n_tasks, n_bars, cost, spec.target_child_seconds)


def submit_sweep_jobs(
    executor: Executor,
    store: Store,
    spec: SweepSpec,
    *,
    n_children: int | None = None,
    cost_s: float | None = None,
    retry_delays: Sequence[float] = COLLECT_RETRY_DELAYS,
) -> SweepSubmission:
    """Write spec.json, submit the children and the collect job; return both records."""
    user = spec.base.user or str(getattr(executor, "user", "") or default_user(""))
    spec, n_combinations, plan = prepare(store, spec, n_children=n_children, cost_s=cost_s)
    bucket = spec.base.result_bucket
    key = sweep_prefix(spec.sweep_id) + SPEC_JSON
    record = spec_record(spec, n_combinations, plan, utc_now(), user)
    store.put_bytes(bucket, key, to_json_bytes(record))
    uri = store.uri(bucket, key)
    python = sys.executable if executor.backend == "local" else "python"
    common: dict[str, Any] = {
        # with its address, so AWS Batch carries only the address (jobs.batch.spec_reference)
        "spec": {**spec.to_dict(), "spec_uri": uri},
        "result_prefix": store.uri(bucket, sweep_prefix(spec.sweep_id)),
    }
    array = executor.submit_command(
        [python, "-m", CHILD_MODULE, "--sweep", uri],
        name=safe_job_name(f"sweep-{spec.sweep_id}"),
        kind=JobKind.SWEEP,
        array_size=plan.n_children if plan.is_array else None,
        tags={"sweep-id": spec.sweep_id, "user": user},
        **common,
    )
    collect = submit_collect(
        executor,
        array,
        retry_delays,
        command=[python, "-m", COLLECT_MODULE, uri],
        name=safe_job_name(f"collect-{spec.sweep_id}"),
        kind=JobKind.COLLECT,
        depends_on=(array.id,),
        tags={"sweep-id": spec.sweep_id, "array-job": array.id, "user": user},
        **common,
    )
    record["jobs"] = {"array": array.id, "collect": collect.id, "backend": executor.backend}
    store.put_bytes(bucket, key, to_json_bytes(record))
    n_files = len(spec.source_keys)
    return SweepSubmission(spec.sweep_id, uri, n_combinations, n_files, plan, array, collect)


def submit_collect(
    executor: Executor, array: JobRecord, retry_delays: Sequence[float], **kwargs: Any
) -> JobRecord:
    """Submit the collect job, retrying briefly (a dependency Batch does not show yet, a
    throttled or failed request); if it still fails, terminate the array so no sweep runs
    without its collect, and say so in one line."""
    command = kwargs.pop("command")
    failure: BacktestError | InfraError | None = None
    for delay in (*retry_delays, None):
        try:
            return executor.submit_command(command, **kwargs)
        except (BacktestError, InfraError) as exc:
            failure = exc
        if delay is not None:
            time.sleep(delay)
    try:
        executor.terminate(array.id, reason="its collect job could not be submitted")
        stopped = f"its array job {array.id} was terminated"
    except (BacktestError, InfraError) as exc:
        stopped = f"terminate its array job {array.id} by hand ({exc})"
    raise InfraError(
        f"the sweep's collect job could not be submitted ({failure}); {stopped}; "
        "submit the sweep again"
    )


def submit_sweep(
    executor: Executor,
    store: Store,
    spec: SweepSpec,
    *,
    n_children: int | None = None,
    cost_s: float | None = None,
) -> JobRecord:
    """Submit ``spec`` (see the module docstring); return the sweep's array (or plain) job."""
    return submit_sweep_jobs(executor, store, spec, n_children=n_children, cost_s=cost_s).array


# --- the jobs CLI's request -----------------------------------------------------------------


def store_for(settings: Settings | None, env: Mapping[str, str] | None = None) -> Store:
    """The object store the settings point at (their storage root wins over the environment)."""
    out = dict(os.environ if env is None else env)
    if settings is not None and settings.storage_root:
        out["BACKTEST_STORAGE_ROOT"] = settings.storage_root
    return open_store(out)


def spec_from_request(request: SweepRequest) -> SweepSpec:
    """The SweepSpec a CLI request describes (not yet validated)."""
    base = RunSpec(
        source_bucket=request.source_bucket,
        source_key=request.source_key,
        result_bucket=request.result_bucket,
        strategy=request.strategy,
        params=dict(request.params),
        options=request.options,
        user=request.user,
    )
    spec = SweepSpec(
        sweep_id=request.sweep_id or new_sweep_id(request.strategy),
        base=base,
        space=dict(request.grid),
        extra_keys=tuple(request.extra_keys),
    )
    changes: dict[str, Any] = {}
    if request.target_child_seconds is not None:
        changes["target_child_seconds"] = request.target_child_seconds
    if request.top_n is not None:
        changes["top_n"] = request.top_n
    return replace(spec, **changes) if changes else spec


def submit_request(
    executor: Executor, request: SweepRequest, store: Store | None = None
) -> SweepSubmission:
    """Submit what ``python -m jobs sweep`` parsed."""
    if store is None:
        store = store_for(getattr(executor, "settings", None))
    spec = spec_from_request(request)
    return submit_sweep_jobs(executor, store, spec, n_children=request.children)
