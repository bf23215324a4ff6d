"""The one front door for sweeps: build a SweepSpec, plan it, submit it.

:func:`build_sweep_spec` is how the New run page and ``python -m jobs sweep`` describe a sweep;
:func:`submit_sweep` (the contract: ``submit_sweep(executor, store, spec) -> JobRecord``)
validates the SweepSpec, counts its combinations, loads the input files (the base file must hold
enough bars for every combination; each file's bar count sizes the work), plans the chunks with
:func:`engine.sweep.plan.plan` (the same call the page's estimate makes), writes
``sweeps/<id>/spec.json`` and submits

- ``python -m engine.backtest --sweep s3://BUCKET/sweeps/ID/spec.json`` as an array job of
  ``n_children`` (or one plain job when the plan has one chunk; the child then takes chunk 0);
- ``python -m engine.sweep.collect s3://BUCKET/sweeps/ID/spec.json`` depending on it.

It returns the array job's record; :func:`submit_sweep_jobs` returns both records, which are
also written into spec.json under ``"jobs"``.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import BacktestError, DataError, InfraError, NotFoundError, ParamError
from engine.spec import RunSpec, SimOptions, check_run_id
from engine.store.objects import Store, open_store
from engine.store.runs import to_json_bytes, utc_now
from engine.sweep.plan import ChunkPlan, SweepPlan, plan
from engine.sweep.results import SPEC_JSON, spec_record, sweep_prefix
from engine.sweep.spec import ParamSpace, SweepSpec, combinations, expansion_stats
from jobs.base import Executor, default_user
from jobs.model import JobKind, JobRecord, safe_job_name

if TYPE_CHECKING:
    from jobs.settings import Settings

CHILD_MODULE = "engine.backtest"
COLLECT_MODULE = "engine.sweep.collect"
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


def build_sweep_spec(
    source_bucket: str,
    source_keys: Sequence[str],
    result_bucket: str,
    strategy: str,
    space: Mapping[str, ParamSpace | str | Sequence[Any]],
    *,
    fixed: Mapping[str, Any] | None = None,
    options: SimOptions | None = None,
    mode: str = "grid",
    n: int | None = None,
    seed: int = 0,
    sweep_id: str | None = None,
    user: str | None = None,
    top_n: int | None = None,
    target_child_seconds: float | None = None,
) -> SweepSpec:
    """The validated SweepSpec of a sweep over ``source_keys`` (the first is the base run's
    file, the rest its ``extra_keys``): ParamError naming the first problem."""
    keys = list(source_keys)
    if not keys:
        raise ParamError("a sweep needs at least one input file")
    base = RunSpec(
        source_bucket=source_bucket,
        source_key=keys[0],
        result_bucket=result_bucket,
        strategy=strategy,
        params=dict(fixed or {}),
        options=options or SimOptions(),
        user=user,
    )
    spec = SweepSpec(
        sweep_id=sweep_id or new_sweep_id(strategy),
        base=base,
        space={str(k): ParamSpace.from_value(v, str(k)) for k, v in space.items()},
        mode=mode,
        n=n if mode == "random" else None,
        seed=seed,
        extra_keys=tuple(keys[1:]),
    )
    changes: dict[str, Any] = {}
    if target_child_seconds is not None:
        changes["target_child_seconds"] = target_child_seconds
    if top_n is not None:
        changes["top_n"] = top_n
    return (replace(spec, **changes) if changes else spec).validate()


def count_and_warmup(spec: SweepSpec) -> tuple[int, int]:
    """(valid combinations, largest warm-up among them) in one pass over the space."""
    from engine.sim.strategies import get_strategy

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


def check_inputs(store: Store, spec: SweepSpec, min_bars: int) -> list[int]:
    """Every input file exists; the base file loads with ``min_bars``; return each file's bar
    count (0 for an extra file that does not validate: its child reports it)."""
    from engine.data import load_prices

    bucket = spec.base.source_bucket
    for key in spec.extra_keys:
        if not store.exists(bucket, key):
            raise NotFoundError(f"no file {key!r} in bucket {bucket!r}")
    data = store.get_bytes(bucket, spec.base.source_key)
    prices = load_prices(data, name=store.uri(bucket, spec.base.source_key), min_bars=min_bars)
    bars = [len(prices)]
    for key in spec.extra_keys:
        try:
            bars.append(len(load_prices(store.get_bytes(bucket, key), name=key)))
        except DataError:
            bars.append(0)
    return bars


def prepare(
    store: Store,
    spec: SweepSpec,
    *,
    n_children: int | None = None,
    cost_s: float | None = None,
) -> tuple[SweepSpec, SweepPlan]:
    """Validate and plan: (validated spec, its plan)."""
    spec = spec.validate()
    if len(spec.sweep_id) > MAX_SWEEP_ID:
        raise ParamError(f"sweep id is {len(spec.sweep_id)} characters; at most {MAX_SWEEP_ID}")
    bucket = spec.base.result_bucket
    if not store.bucket_exists(bucket):
        raise NotFoundError(f"result bucket {bucket!r} does not exist")
    if store.list(bucket, sweep_prefix(spec.sweep_id)):
        raise ParamError(f"sweep {spec.sweep_id!r} already exists in {bucket!r}; pick a new id")
    n_combinations, warmup = count_and_warmup(spec)
    bars = check_inputs(store, spec, warmup + 1)
    return spec, plan(
        spec, bars, n_combinations=n_combinations, n_children=n_children, cost_s=cost_s
    )


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
    spec, planned = prepare(store, spec, n_children=n_children, cost_s=cost_s)
    chunks = planned.chunks
    bucket = spec.base.result_bucket
    key = sweep_prefix(spec.sweep_id) + SPEC_JSON
    record = spec_record(spec, planned.n_combinations, chunks, utc_now(), user)
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
        array_size=chunks.n_children if chunks.is_array else None,
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
    return SweepSubmission(
        spec.sweep_id, uri, planned.n_combinations, planned.n_files, chunks, array, collect
    )


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


# --- where the jobs CLI's sweeps are stored --------------------------------------------------


def store_for(settings: Settings | None, env: Mapping[str, str] | None = None) -> Store:
    """The object store the settings point at (their storage root wins over the environment)."""
    out = dict(os.environ if env is None else env)
    if settings is not None and settings.storage_root:
        out["BACKTEST_STORAGE_ROOT"] = settings.storage_root
    return open_store(out)
