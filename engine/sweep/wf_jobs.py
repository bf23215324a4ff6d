"""A walk-forward sweep on the array: plan, children, collect.

    python -m engine.sweep.wf_jobs child   s3://BUCKET/sweeps/ID/spec.json   # one array child
    python -m engine.sweep.wf_jobs collect s3://BUCKET/sweeps/ID/spec.json   # depends on the array
    python -m engine.sweep.wf_jobs resume-child s3://BUCKET/sweeps/ID/resume/N.json  # a resume

A walk-forward sweep is an ordinary sweep (its ``n_children`` full-sample chunks, summary,
robustness and top runs, so the sweep page reads it like any other) plus the in-sample work of
every window: the *units* are (input file, window) pairs, each cut into ``chunks_per_unit``
chunks of ``chunk_size`` combinations. One array runs both: child ``i < n_children`` is the
ordinary chunk ``i``; child ``n_children + u * chunks_per_unit + c`` evaluates chunk ``c`` of the
space on unit ``u``'s in-sample bars (only those bars: its indicators warm up inside them).

Layout under ``sweeps/<id>/walk_forward/`` (next to the ordinary sweep's files)::

    plan.json              the spec, units (source_key, window bar indices and times), chunking
    is/<j>.parquet         WF child j's rows: unit, window, source_key, combo_id, params, metrics
    is/<j>.error.json      WF child j failed on its input
    windows.parquet        per file and window: dates, chosen parameters (JSON), IS/OOS metric
    equity.parquet         the stitched out-of-sample curve per file: source_key, timestamp,
                           window, equity, drawdown, position, benchmark (buy-and-hold)
    trades.parquet         every out-of-sample trade, with source_key and window
    result.json            per file: stitched metrics, buy-and-hold metrics, efficiency

The collect writes these, then runs the ordinary collect, which writes ``_SUCCESS`` last. A
window whose in-sample chunks are not all present is not chosen from (the best of part of the
space is not the best): it stays in cash and its note names the missing chunks.

A resume (:mod:`jobs.resume`) of a walk-forward sweep writes a manifest
``sweeps/<id>/resume/<n>.json`` with ``chunks`` (ordinary chunks without a parquet) and
``wf_chunks`` (in-sample chunks without ``is/<j>.parquet``), submits one array of
``len(chunks) + len(wf_chunks)`` ``resume-child`` children (child ``k`` reruns ``chunks[k]``,
then ``wf_chunks[k - len(chunks)]``, exactly as the original child would) and this collect.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import BacktestError, ParamError
from engine.sim.strategies import get_strategy
from engine.sim.sweep_kernels import evaluate
from engine.store.objects import Store, open_store
from engine.store.runs import (
    error_record,
    frame_to_parquet,
    parquet_to_frame,
    to_json_bytes,
    utc_now,
)
from engine.sweep import child as sweep_child
from engine.sweep.plan import COST_PER_BAR_COMBINATION_S, MAX_CHILDREN
from engine.sweep.results import (
    SUCCESS,
    ChunkState,
    SweepDoc,
    load_doc,
    parse_uri,
    sweep_prefix,
)
from engine.sweep.spec import SweepSpec, combinations
from engine.sweep.walkforward import WalkForwardResult, choose, stitch
from engine.sweep.wf_windows import WalkForwardSpec, Window, windows

WF_DIR = "walk_forward/"
PLAN, WINDOWS, EQUITY, TRADES, RESULT = (
    "plan.json",
    "windows.parquet",
    "equity.parquet",
    "trades.parquet",
    "result.json",
)
SOURCE_KEY = "source_key"
EFFICIENCY_DEFINITION = (
    "mean over windows of the chosen combination's out-of-sample {m} / mean of its in-sample "
    "{m}, over windows where both are finite; undefined when none is or the in-sample mean is <= 0"
)


def wf_prefix(sweep_id: str) -> str:
    """``sweeps/<id>/walk_forward/``."""
    return sweep_prefix(sweep_id) + WF_DIR


def is_chunk_key(sweep_id: str, j: int) -> str:
    return f"{wf_prefix(sweep_id)}is/{int(j)}.parquet"


def is_error_key(sweep_id: str, j: int) -> str:
    return f"{wf_prefix(sweep_id)}is/{int(j)}.error.json"


def result_key(sweep_id: str) -> str:
    """``sweeps/<id>/walk_forward/result.json``: written by the walk-forward collect only."""
    return wf_prefix(sweep_id) + RESULT


_IS_RE = re.compile(r"^(\d+)\.(parquet|error\.json)$")


def is_chunk_state(store: Store, bucket: str, sweep_id: str, n_children: int) -> ChunkState:
    """Which of the ``n_children`` in-sample chunks exist (one listing of ``is/``): ``done``
    (parquet present), ``failed`` (error.json only), ``missing`` (neither)."""
    prefix = wf_prefix(sweep_id) + "is/"
    done: set[int] = set()
    errors: set[int] = set()
    for info in store.list(bucket, prefix):
        m = _IS_RE.match(info.key[len(prefix) :])
        if m and int(m.group(1)) < n_children:
            (done if m.group(2) == "parquet" else errors).add(int(m.group(1)))
    missing = sorted(set(range(n_children)) - done - errors)
    return ChunkState(sorted(done), sorted(errors - done), missing)


# --- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WfPlan:
    """Units (source_key, Window), each cut into ``chunks_per_unit`` chunks of ``chunk_size``
    combinations; ``n_children`` = units x chunks_per_unit."""

    units: tuple[tuple[str, Window], ...]
    chunks_per_unit: int
    chunk_size: int
    n_combinations: int

    @property
    def n_children(self) -> int:
        return len(self.units) * self.chunks_per_unit

    def to_dict(self, spec: WalkForwardSpec, times: Mapping[str, pd.DatetimeIndex]) -> dict:
        units = []
        for key, w in self.units:
            ts = times[key]
            units.append(
                {
                    SOURCE_KEY: key,
                    **w.to_dict(),
                    "is_start_time": ts[w.is_start].isoformat(),
                    "oos_start_time": ts[w.oos_start].isoformat(),
                    "oos_end_time": ts[w.oos_stop - 1].isoformat(),
                }
            )
        return {
            "walk_forward": spec.to_dict(),
            "units": units,
            "chunks_per_unit": self.chunks_per_unit,
            "chunk_size": self.chunk_size,
            "n_combinations": self.n_combinations,
            "n_children": self.n_children,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WfPlan:
        try:
            units = tuple(
                (
                    str(u[SOURCE_KEY]),
                    Window(
                        int(u["number"]),
                        int(u["is_start"]),
                        int(u["is_stop"]),
                        int(u["oos_start"]),
                        int(u["oos_stop"]),
                    ),
                )
                for u in data["units"]
            )
            return cls(
                units,
                int(data["chunks_per_unit"]),
                int(data["chunk_size"]),
                int(data["n_combinations"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ParamError(f"walk_forward/plan.json is damaged: {exc}") from None


def plan_walk_forward(
    spec: SweepSpec,
    prices: Mapping[str, pd.DataFrame],
    n_combinations: int,
    warmup: int,
    room: int,
) -> WfPlan:
    """The windows of every file and the chunking of their in-sample work (at most ``room``
    children). ParamError when a file has no window or an in-sample part is shorter than the
    warm-up the space needs (+1 bar)."""
    wf = spec.walk_forward
    if wf is None:
        raise ParamError("the sweep has no walk-forward spec")
    units: list[tuple[str, Window]] = []
    for key in spec.source_keys:
        frame = prices[key]
        try:
            wins = windows(wf, pd.DatetimeIndex(frame.index))
        except ParamError as exc:
            raise ParamError(f"{key}: {exc}") from None
        short = [w for w in wins if w.is_stop - w.is_start < warmup + 1]
        if short:
            w = short[0]
            raise ParamError(
                f"{key}: walk-forward window {w.number} has {w.is_stop - w.is_start} in-sample "
                f"bars; the space needs {warmup + 1} (its largest warm-up + 1); lengthen IS"
            )
        units.extend((key, w) for w in wins)
    if room < len(units):
        raise ParamError(
            f"{len(units)} walk-forward windows need more than the {MAX_CHILDREN:,} array "
            "children Batch allows; use longer windows or a larger step"
        )
    longest = max(w.is_stop - w.is_start for _, w in units)
    work = n_combinations * longest * COST_PER_BAR_COMBINATION_S
    wanted = max(1, math.ceil(work / spec.target_child_seconds))
    per_unit = max(1, min(wanted, n_combinations, room // len(units)))
    size = math.ceil(n_combinations / per_unit)
    return WfPlan(tuple(units), math.ceil(n_combinations / size), size, n_combinations)


def write_plan(store: Store, bucket: str, spec: SweepSpec, plan: WfPlan, times: Mapping) -> None:
    if spec.walk_forward is None:
        raise ParamError("the sweep has no walk-forward spec")
    record = plan.to_dict(spec.walk_forward, times)
    store.put_bytes(bucket, wf_prefix(spec.sweep_id) + PLAN, to_json_bytes(record))


def read_plan(store: Store, bucket: str, sweep_id: str) -> WfPlan:
    data = json.loads(store.get_bytes(bucket, wf_prefix(sweep_id) + PLAN))
    return WfPlan.from_dict(data)


def load_wf_doc(store: Store, bucket: str, key: str, env: Mapping[str, str]) -> SweepDoc:
    """spec.json as the ordinary child reads it: through ``child.load_sweep_doc`` (which first
    loads a strategy file's pinned copy) where it exists, else :func:`load_doc`."""
    loader = getattr(sweep_child, "load_sweep_doc", None)
    if loader is None:
        return load_doc(store, bucket, key)
    doc: SweepDoc = loader(store, bucket, key, env)
    return doc


# --- children -------------------------------------------------------------------------------


def evaluate_unit_chunk(
    store: Store, doc: SweepDoc, plan: WfPlan, j: int, cache: dict[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """WF chunk ``j``: its combinations on its unit's in-sample bars (rows + every metric)."""
    spec = doc.spec
    u, c = divmod(j, plan.chunks_per_unit)
    key, w = plan.units[u]
    strategy = get_strategy(spec.base.strategy)
    lo = c * plan.chunk_size
    hi = min(lo + plan.chunk_size, plan.n_combinations)
    combos = [strategy.validate(p) for p in combinations(spec, lo, hi)]
    frames = cache if cache is not None else {}
    if key not in frames:
        frames[key] = sweep_child.load_file(store, spec.base.source_bucket, key, 1)
    sample = frames[key].iloc[w.is_start : w.is_stop]
    metrics, _ = evaluate(sample, strategy, combos, spec.base.options, n_periods=1)
    rows = sweep_child.chunk_frame(range(lo, hi), key, strategy, combos, metrics)
    rows.insert(0, "window", w.number)
    rows.insert(0, "unit", u)
    return rows


def run_child(uri: str, env: Mapping[str, str]) -> int:
    """One array child of a walk-forward sweep (see the module docstring)."""
    bucket, key = parse_uri(uri)
    store = open_store(env)
    doc = load_wf_doc(store, bucket, key, env)
    plan = read_plan(store, bucket, doc.spec.sweep_id)
    index = sweep_child.array_index(env, doc.n_children + plan.n_children)
    return run_index(store, bucket, (doc, plan), index)


def run_index(store: Store, bucket: str, sweep: tuple[SweepDoc, WfPlan], index: int) -> int:
    """Array child ``index``: ordinary chunk ``index`` below ``n_children``, else in-sample
    chunk ``index - n_children``; a failure on the input is recorded and exits 0."""
    doc, plan = sweep
    if index < doc.n_children:
        try:
            result = sweep_child.evaluate_chunk(store, doc, index)
        except BacktestError as exc:
            sweep_child.record_failure(store, bucket, doc, index, exc)
            print(f"error: chunk {index}: {exc}", file=sys.stderr)
            return 0
        written = sweep_child.write_chunk(store, bucket, doc, index, result)
        print(f"chunk {index}: {len(result[0])} backtests -> {store.uri(bucket, written)}")
        return 0
    j = index - doc.n_children
    sweep_id = doc.spec.sweep_id
    try:
        rows = evaluate_unit_chunk(store, doc, plan, j)
    except BacktestError as exc:
        store.delete(bucket, is_chunk_key(sweep_id, j))
        record = {**error_record(sweep_id, exc), "index": j}
        store.put_bytes(bucket, is_error_key(sweep_id, j), to_json_bytes(record))
        print(f"error: walk-forward chunk {j}: {exc}", file=sys.stderr)
        return 0
    store.delete(bucket, is_error_key(sweep_id, j))
    store.put_bytes(bucket, is_chunk_key(sweep_id, j), frame_to_parquet(rows))
    u = j // plan.chunks_per_unit
    print(f"walk-forward chunk {j} (window {plan.units[u][1].number}): {len(rows)} in-sample rows")
    return 0


# --- collect ----------------------------------------------------------------------------------


def _unit_rows(
    store: Store, bucket: str, sweep_id: str, plan: WfPlan, u: int
) -> tuple[pd.DataFrame | None, str]:
    frames, absent = [], []
    for c in range(plan.chunks_per_unit):
        j = u * plan.chunks_per_unit + c
        try:
            frames.append(parquet_to_frame(store.get_bytes(bucket, is_chunk_key(sweep_id, j))))
        except BacktestError:
            absent.append(j)
    if absent:
        failed = [j for j in absent if store.exists(bucket, is_error_key(sweep_id, j))]
        what = f"failed {failed}" if failed else f"missing {absent}"
        return None, f"in-sample chunks {what}: not chosen from part of the space"
    return pd.concat(frames, ignore_index=True), ""


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def collect_file(  # noqa: PLR0913, PLR0917
    store: Store, bucket: str, doc: SweepDoc, plan: WfPlan, key: str, prices: pd.DataFrame
) -> WalkForwardResult:
    """Choose in-sample per window of file ``key`` and stitch its out-of-sample runs."""
    spec = doc.spec
    wf = spec.walk_forward
    if wf is None:
        raise ParamError("the sweep has no walk-forward spec")
    names = [p.name for p in get_strategy(spec.base.strategy).params]
    wins: list[Window] = []
    chosen: list[tuple[dict[str, Any] | None, float, str]] = []
    for u, (k, w) in enumerate(plan.units):
        if k != key:
            continue
        wins.append(w)
        rows, why = _unit_rows(store, bucket, spec.sweep_id, plan, u)
        pos, reason = (None, why) if rows is None else choose(rows, wf)
        if rows is None or pos is None:
            chosen.append((None, math.nan, reason))
            continue
        row = rows.iloc[pos]
        chosen.append(({n: _plain(row[n]) for n in names}, float(row[wf.metric]), ""))
    return stitch(prices, spec.base.strategy, spec.base.options, wf, wins, chosen)


def collect(
    store: Store, bucket: str, sweep_id: str, *, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Write the walk-forward results, then the ordinary collect (``_SUCCESS`` last)."""
    from engine.sweep import collect as sweep_collect

    env = os.environ if env is None else env
    prefix = sweep_prefix(sweep_id)
    doc = load_wf_doc(store, bucket, prefix + "spec.json", env)
    store.delete(bucket, prefix + SUCCESS)
    plan = read_plan(store, bucket, sweep_id)
    wf = doc.spec.walk_forward
    if wf is None:
        raise ParamError(f"sweep {sweep_id} is not a walk-forward sweep")
    tables, curves, trades, files = [], [], [], []
    for key in doc.spec.source_keys:
        if not any(k == key for k, _ in plan.units):
            continue
        prices = sweep_child.load_file(store, doc.spec.base.source_bucket, key, 1)
        res = collect_file(store, bucket, doc, plan, key, prices)
        table = res.table.assign(**{SOURCE_KEY: key})
        table["params"] = [None if p is None else json.dumps(p, sort_keys=True)
                           for p in table["params"]]  # fmt: skip
        tables.append(table)
        curves.append(res.equity.assign(**{SOURCE_KEY: key}))
        if len(res.trades):
            trades.append(res.trades.assign(**{SOURCE_KEY: key}))
        files.append(
            {
                SOURCE_KEY: key,
                "n_windows": len(res.table),
                "n_chosen": int(res.table["params"].notna().sum()),
                "metrics": res.metrics,
                "buy_hold": res.buy_hold,
                "efficiency": res.efficiency,
            }
        )
    out = wf_prefix(sweep_id)
    store.put_bytes(bucket, out + WINDOWS, frame_to_parquet(pd.concat(tables, ignore_index=True)))
    curve = pd.concat(curves)
    curve.index.name = "timestamp"
    store.put_bytes(bucket, out + EQUITY, frame_to_parquet(curve, index="timestamp"))
    if trades:
        store.put_bytes(
            bucket, out + TRADES, frame_to_parquet(pd.concat(trades, ignore_index=True))
        )
    report = {
        "walk_forward": wf.to_dict(),
        "metric": wf.metric,
        "efficiency_definition": EFFICIENCY_DEFINITION.format(m=wf.metric),
        "warm_up_rule": (
            "each out-of-sample run reads the strategy's warm-up bars before its start for its "
            "indicators only; trades and equity count from the out-of-sample start"
        ),
        "files": files,
        "collected_at": utc_now(),
    }
    store.put_bytes(bucket, out + RESULT, to_json_bytes(report))
    sweep_collect.collect(store, bucket, sweep_id, env=env)
    return report


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """``python -m engine.sweep.wf_jobs child|collect s3://BUCKET/sweeps/ID/spec.json`` or
    ``resume-child s3://BUCKET/sweeps/ID/resume/N.json``."""
    from engine.backtest import guarded

    environ = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m engine.sweep.wf_jobs")
    parser.add_argument("role", choices=("child", "collect", "resume-child"))
    parser.add_argument("uri", help="s3://BUCKET/sweeps/ID/spec.json (resume-child: the manifest)")
    ns = parser.parse_args(argv)

    def body() -> int:
        if ns.role == "child":
            return run_child(ns.uri, environ)
        if ns.role == "resume-child":
            from engine.sweep.wf_resume import run_resume_child

            return run_resume_child(ns.uri, environ)
        bucket, key = parse_uri(ns.uri)
        store = open_store(environ)
        sweep_id = load_wf_doc(store, bucket, key, environ).spec.sweep_id
        report = collect(store, bucket, sweep_id, env=environ)
        for f in report["files"]:
            print(
                f"walk-forward {f[SOURCE_KEY]}: {f['n_chosen']}/{f['n_windows']} windows chosen, "
                f"stitched total return {f['metrics']['total_return']:.4f}"
            )
        return 0

    return guarded(body, env=environ)


if __name__ == "__main__":
    sys.exit(main())
