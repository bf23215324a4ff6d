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
from dataclasses import KW_ONLY, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import (
    BacktestError,
    DataError,
    InfraError,
    NotFoundError,
    ParamError,
    StrategyError,
)
from engine.sim.strategies import STRATEGIES
from engine.spec import RunSpec, SimOptions, check_run_id
from engine.store.objects import Store, open_store
from engine.store.runs import to_json_bytes, utc_now
from engine.sweep.plan import ChunkPlan, SweepPlan, plan
from engine.sweep.results import SPEC_JSON, spec_record, sweep_prefix
from engine.sweep.robustness import SplitSpec
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import ParamSpace, SweepSpec, combinations, expansion_stats
from engine.sweep.wf_windows import WalkForwardSpec
from jobs.base import Executor, default_user
from jobs.model import JobKind, JobRecord, safe_job_name
from jobs.stored_sweep import CheckedSweep

if TYPE_CHECKING:
    from jobs.settings import Settings

CHILD_MODULE = "engine.backtest"
COLLECT_MODULE = "engine.sweep.collect"
WF_MODULE = "engine.sweep.wf_jobs"  # a walk-forward sweep's children and collect
HOLDOUT = SplitSpec("train_test", 0.7)  # default: the last 30% of bars held out
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
    walk_forward_children: int = 0  # of the array: windows x chunks after the plan's children
    walk_forward_windows: int = 0


def new_sweep_id(strategy: str) -> str:
    """A sortable unique sweep id: <UTC time>-<strategy>-sweep-<random>."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return check_run_id(
        f"{stamp}-{safe_job_name(strategy, 'sweep')[:40]}-sweep-{secrets.token_hex(3)}"
    )


@dataclass(frozen=True)
class SweepRequest:
    """What describes a sweep before it is validated (:func:`build_sweep_spec`).

    ``source_keys``: the first is the base run's file, the rest its ``extra_keys``; ``space``
    maps each swept parameter to a ParamSpace or its text/list form. ``holdout`` (default on)
    keeps the last 30% of bars out of sample; ``walk_forward`` makes it a walk-forward sweep.
    """

    source_bucket: str
    source_keys: Sequence[str]
    result_bucket: str
    strategy: str
    space: Mapping[str, ParamSpace | str | Sequence[Any]]
    _: KW_ONLY
    fixed: Mapping[str, Any] | None = None
    options: SimOptions | None = None
    mode: str = "grid"
    n: int | None = None
    seed: int = 0
    sweep_id: str | None = None
    user: str | None = None
    top_n: int | None = None
    target_child_seconds: float | None = None
    holdout: bool = True
    walk_forward: WalkForwardSpec | None = None
    search: SearchSpec | None = None  # mode="tpe": trials per round and objectives


def build_sweep_spec(request: SweepRequest) -> SweepSpec:
    """The validated SweepSpec of a sweep over ``source_keys`` (the first is the base run's
    file, the rest its ``extra_keys``): ParamError naming the first problem.

    ``holdout`` (default on) keeps the last 30% of bars out of sample (``split`` train_test
    0.7), so every new sweep has an out-of-sample figure; ``walk_forward`` makes it a
    walk-forward sweep (:mod:`engine.sweep.wf_jobs`)."""
    r = request
    keys = list(r.source_keys)
    if not keys:
        raise ParamError("a sweep needs at least one input file")
    base = RunSpec(
        source_bucket=r.source_bucket,
        source_key=keys[0],
        result_bucket=r.result_bucket,
        strategy=r.strategy,
        params=dict(r.fixed or {}),
        options=r.options or SimOptions(),
        user=r.user,
    )
    spec = SweepSpec(
        sweep_id=r.sweep_id or new_sweep_id(r.strategy),
        base=base,
        space={str(k): ParamSpace.from_value(v, str(k)) for k, v in r.space.items()},
        mode=r.mode,
        n=r.n if r.mode in ("random", "tpe") else None,
        seed=r.seed,
        extra_keys=tuple(keys[1:]),
        split=HOLDOUT if r.holdout else None,
        walk_forward=r.walk_forward,
        search=r.search if r.mode == "tpe" else None,
    )
    changes: dict[str, Any] = {}
    if r.target_child_seconds is not None:
        changes["target_child_seconds"] = r.target_child_seconds
    if r.top_n is not None:
        changes["top_n"] = r.top_n
    spec = replace(spec, **changes) if changes else spec
    # a stored strategy file is validated at submit, in an engine subprocess (stored_sweep)
    return spec.validate() if r.strategy in STRATEGIES else spec


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


def stored_source(store: Store, spec: SweepSpec) -> tuple[SweepSpec, str]:
    """(``spec`` pinned to the stored file's bytes, that source): the base run names
    ``strategies/<NAME>.py`` and the sha256 of its sidecar, unless it names a copy already
    (then that copy is read and its sha256 checked)."""
    from engine.userstrat import source_key
    from engine.userstrat.loader import sha256_hex
    from jobs.strategy_cli import stored_info

    base = spec.base
    if base.strategy_source is None:
        info = stored_info(store, base.source_bucket, base.strategy)
        uri = store.uri(base.source_bucket, source_key(base.strategy))
        pinned = replace(base, strategy_source=uri, strategy_sha256=str(info.sha256))
        return replace(spec, base=pinned), str(info.source)
    from engine.sweep.results import parse_uri

    data = store.get_bytes(*parse_uri(base.strategy_source))
    if base.strategy_sha256 is not None and sha256_hex(data) != base.strategy_sha256:
        raise StrategyError(
            f"{base.strategy_source} changed since the sweep was checked (sha256 "
            f"{base.strategy_sha256[:12]}, now {sha256_hex(data)[:12]}); check the sweep again"
        )
    if base.strategy_sha256 is None:
        spec = replace(spec, base=replace(base, strategy_sha256=sha256_hex(data)))
    return spec, data.decode("utf-8")


def check_sweep(store: Store, spec: SweepSpec) -> CheckedSweep:
    """The validated spec, its counts and warm-up: a built-in's in this process, a stored
    file's in one engine subprocess (:mod:`jobs.stored_sweep`; this process never imports it),
    its base run pinned to the bytes counted."""
    if spec.base.strategy in STRATEGIES:
        spec = spec.validate()
        return CheckedSweep(spec, expansion_stats(spec), count_and_warmup(spec)[1])
    from jobs import stored_sweep

    pinned, source = stored_source(store, spec)
    checked = stored_sweep.check(pinned, source, str(pinned.base.strategy_sha256))
    if checked.spec.base.strategy_sha256 != pinned.base.strategy_sha256:
        raise StrategyError(f"{spec.base.strategy}.py: the checked sweep lost its pinned sha256")
    return checked


def check_new_sweep(store: Store, spec: SweepSpec) -> None:
    """ParamError / NotFoundError in one line unless ``spec`` can be written as a new sweep: an
    id short enough for its top-N run ids, an existing result bucket, no sweep of that id."""
    if len(spec.sweep_id) > MAX_SWEEP_ID:
        raise ParamError(f"sweep id is {len(spec.sweep_id)} characters; at most {MAX_SWEEP_ID}")
    bucket = spec.base.result_bucket
    if not store.bucket_exists(bucket):
        raise NotFoundError(f"result bucket {bucket!r} does not exist")
    if store.list(bucket, sweep_prefix(spec.sweep_id)):
        raise ParamError(f"sweep {spec.sweep_id!r} already exists in {bucket!r}; pick a new id")


def prepare(
    store: Store,
    spec: SweepSpec,
    *,
    n_children: int | None = None,
    cost_s: float | None = None,
) -> tuple[SweepSpec, SweepPlan]:
    """Validate and plan: (validated spec, its plan)."""
    spec, planned, _ = prepare_with_warmup(store, spec, n_children=n_children, cost_s=cost_s)
    return spec, planned


def prepare_with_warmup(
    store: Store,
    spec: SweepSpec,
    *,
    n_children: int | None = None,
    cost_s: float | None = None,
) -> tuple[SweepSpec, SweepPlan, int]:
    """Validate and plan: (validated spec, its plan, the largest warm-up). A stored strategy
    file's spec comes back pinned to ``strategies/<NAME>.py`` and the sha256 counted; the
    submit copies it to ``sweeps/<id>/strategy.py`` (:func:`pin_sweep_strategy`)."""
    stored = spec.base.strategy not in STRATEGIES
    checked = check_sweep(store, spec) if stored else None
    spec = checked.spec if checked is not None else spec.validate()
    check_new_sweep(store, spec)
    if checked is not None:
        n_combinations, warmup = checked.stats.valid, checked.warmup
    else:
        n_combinations, warmup = count_and_warmup(spec)
    bars = check_inputs(store, spec, warmup + 1)
    planned = plan(spec, bars, n_combinations=n_combinations, n_children=n_children, cost_s=cost_s)
    return spec, planned, warmup


def submit_sweep_jobs(
    executor: Executor,
    store: Store,
    spec: SweepSpec,
    *,
    n_children: int | None = None,
    cost_s: float | None = None,
) -> SweepSubmission:
    """Write spec.json, submit the children and the collect job; return both records.

    A TPE search (``mode="tpe"``) is submitted by :func:`jobs.search_jobs.submit_search`: round
    0's array and step job come back as ``array`` and ``collect`` (its last step submits the
    collect)."""
    if spec.mode == "tpe":
        from jobs.search_jobs import as_sweep_submission, submit_search

        return as_sweep_submission(submit_search(executor, store, spec, cost_s=cost_s))
    user = spec.base.user or str(getattr(executor, "user", "") or default_user(""))
    from engine.userstrat.pin import pin_sweep_strategy

    spec, planned, warmup = prepare_with_warmup(store, spec, n_children=n_children, cost_s=cost_s)
    chunks = planned.chunks
    wf = walk_forward_plan(store, spec, planned, warmup) if spec.walk_forward is not None else None
    # a stored file: copied once to sweeps/<id>/strategy.py (its sha256 checked), which every
    # child and the collect load; the "sweep exists" check above has passed
    spec = pin_sweep_strategy(store, spec)
    bucket = spec.base.result_bucket
    key = sweep_prefix(spec.sweep_id) + SPEC_JSON
    record = spec_record(spec, planned.n_combinations, chunks, utc_now(), user)
    store.put_bytes(bucket, key, to_json_bytes(record))
    uri = store.uri(bucket, key)
    python = sys.executable if executor.backend == "local" else "python"
    child: list[str] = [python, "-m", CHILD_MODULE, "--sweep", uri]
    collector: list[str] = [python, "-m", COLLECT_MODULE, uri]
    size = chunks.n_children if chunks.is_array else None
    if wf is not None:  # one array: the ordinary chunks, then windows x chunks (wf_jobs)
        from engine.sweep import wf_jobs

        wf_jobs.write_plan(store, bucket, spec, wf[0], wf[1])
        child = [python, "-m", WF_MODULE, "child", uri]
        collector = [python, "-m", WF_MODULE, "collect", uri]
        size = chunks.n_children + wf[0].n_children
    common: dict[str, Any] = {
        # with its address, so AWS Batch carries only the address (jobs.batch.spec_reference)
        "spec": {**spec.to_dict(), "spec_uri": uri},
        "result_prefix": store.uri(bucket, sweep_prefix(spec.sweep_id)),
    }
    array = executor.submit_command(
        child,
        name=safe_job_name(f"sweep-{spec.sweep_id}"),
        kind=JobKind.SWEEP,
        array_size=size,
        tags={"sweep-id": spec.sweep_id, "user": user},
        **common,
    )
    collect = submit_collect(
        executor,
        array,
        COLLECT_RETRY_DELAYS,
        command=collector,
        name=safe_job_name(f"collect-{spec.sweep_id}"),
        kind=JobKind.COLLECT,
        depends_on=(array.id,),
        tags={"sweep-id": spec.sweep_id, "array-job": array.id, "user": user},
        **common,
    )
    record["jobs"] = {"array": array.id, "collect": collect.id, "backend": executor.backend}
    store.put_bytes(bucket, key, to_json_bytes(record))
    return SweepSubmission(
        spec.sweep_id,
        uri,
        planned.n_combinations,
        planned.n_files,
        chunks,
        array,
        collect,
        0 if wf is None else wf[0].n_children,
        0 if wf is None else len(wf[0].units),
    )


def walk_forward_plan(
    store: Store, spec: SweepSpec, planned: SweepPlan, warmup: int | None = None
) -> tuple[Any, dict]:
    """(the walk-forward plan, each file's timestamps): every file loaded, its windows cut and
    checked against the space's warm-up (counted here when not given), before anything is
    written."""
    from engine.data import load_prices
    from engine.sweep import wf_jobs
    from engine.sweep.plan import MAX_CHILDREN

    if warmup is None:
        _, warmup = count_and_warmup(spec)
    bucket = spec.base.source_bucket
    prices = {
        key: load_prices(store.get_bytes(bucket, key), name=store.uri(bucket, key))
        for key in spec.source_keys
    }
    room = MAX_CHILDREN - planned.chunks.n_children
    plan = wf_jobs.plan_walk_forward(spec, prices, planned.n_combinations, warmup, room)
    return plan, {key: frame.index for key, frame in prices.items()}


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


# --- the jobs CLI's walk-forward and holdout options -----------------------------------------


def add_walk_forward_options(parser: Any) -> None:
    """``--walk-forward IS:OOS[:STEP] [--anchored] [--wf-metric M] [--wf-constraint C]...
    [--no-holdout]`` on ``python -m jobs sweep``."""
    parser.add_argument(
        "--walk-forward",
        metavar="IS:OOS[:STEP]",
        help="walk-forward optimisation: in-sample, out-of-sample and step lengths in bars "
        "(756:252) or periods (3Y:1Y:6M); step defaults to OOS",
    )
    parser.add_argument(
        "--anchored", action="store_true", help="walk-forward: in-sample always from the start"
    )
    parser.add_argument(
        "--wf-metric", default=None, help="walk-forward: metric chosen in-sample (default sharpe)"
    )
    parser.add_argument(
        "--wf-constraint",
        action="append",
        default=[],
        metavar="METRIC<VALUE",
        help="walk-forward: in-sample filter such as max_drawdown<0.3 or n_trades>=10",
    )
    parser.add_argument(
        "--no-holdout",
        action="store_true",
        help="do not keep the last 30%% of bars out of sample (default: kept)",
    )


def walk_forward_from_args(ns: Any) -> WalkForwardSpec | None:
    """The WalkForwardSpec the options describe (None without --walk-forward); ParamError for
    walk-forward options given without --walk-forward."""
    text = getattr(ns, "walk_forward", None)
    if not text:
        used = [
            flag
            for flag, value in (
                ("--anchored", getattr(ns, "anchored", False)),
                ("--wf-metric", getattr(ns, "wf_metric", None)),
                ("--wf-constraint", getattr(ns, "wf_constraint", None)),
            )
            if value
        ]
        if used:
            raise ParamError(f"{', '.join(used)} only apply with --walk-forward IS:OOS[:STEP]")
        return None
    return WalkForwardSpec.parse(
        text,
        anchored=bool(ns.anchored),
        metric=ns.wf_metric or "sharpe",
        constraints=tuple(ns.wf_constraint or ()),
    )


def walk_forward_line(sub: SweepSubmission) -> str:
    """What `python -m jobs sweep` prints about a walk-forward sweep's part of the array."""
    first = sub.plan.n_children
    total = first + sub.walk_forward_children
    return (
        f"walk-forward: the array has {total} children: 0..{first - 1} the full sample above, "
        f"{first}..{total - 1} the in-sample parts of {sub.walk_forward_windows} window(s) "
        "(all files); the collect chooses per window and stitches the out-of-sample runs"
    )
