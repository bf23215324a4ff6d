"""A hand-written TPE sweep in a store: spec.json, round files written by the test, children."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from engine.backtest import main as engine_main
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec, SimOptions
from engine.store.objects import Store
from engine.store.runs import to_json_bytes
from engine.sweep.plan import ChunkPlan
from engine.sweep.results import spec_record
from engine.sweep.search_rounds import RoundLayout, Trial, write_round
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import SweepSpec

SPACE = {"fast": "2:40:1", "slow": "21:90:1"}


def tpe_sweep(
    in_bucket: str,
    out_bucket: str,
    *,
    n: int = 10,
    round_size: int = 4,
    objectives: Sequence[str] = ("sharpe",),
    sweep_id: str = "tpe1",
    space: Mapping[str, Any] | None = None,
) -> SweepSpec:
    base = RunSpec(in_bucket, "a.csv", out_bucket, "sma_cross", options=SimOptions())
    return SweepSpec(
        sweep_id=sweep_id,
        base=base,
        space=dict(space or SPACE),
        mode="tpe",
        n=n,
        seed=11,
        top_n=2,
        search=SearchSpec(round_size=round_size, objectives=tuple(objectives)),
    ).validate()


def put_prices(store: Store, bucket: str, n_bars: int = 400, seed: int = 5) -> pd.DataFrame:
    frame = random_walk(n_bars, seed=seed)
    store.put_bytes(bucket, "a.csv", frame.to_csv().encode())
    return frame


def put_spec(store: Store, spec: SweepSpec, chunk_size: int) -> str:
    """spec.json of the uniform plan over the budget; returns its s3:// URI."""
    assert spec.search is not None and spec.n is not None
    layout = RoundLayout(spec.n, spec.search.round_size, chunk_size)
    record = spec_record(
        spec, spec.n, ChunkPlan(layout.n_children, chunk_size), "2026-01-01T00:00:00Z", "t"
    )
    key = f"sweeps/{spec.sweep_id}/spec.json"
    store.put_bytes(spec.base.result_bucket, key, to_json_bytes(record))
    return f"s3://{spec.base.result_bucket}/{key}"


def put_round(
    store: Store, spec: SweepSpec, r: int, params: Sequence[Mapping[str, Any]]
) -> list[Trial]:
    """Round ``r``'s file with trials numbered from r * round_size."""
    assert spec.search is not None
    first = r * spec.search.round_size
    trials = [Trial(first + i, dict(p)) for i, p in enumerate(params)]
    write_round(store, spec.base.result_bucket, spec.sweep_id, r, trials)
    return trials


def run_round_child(uri: str, env: Mapping[str, str], r: int, index: int | None) -> int:
    child_env = {k: v for k, v in env.items() if k != "AWS_BATCH_JOB_ARRAY_INDEX"}
    if index is not None:
        child_env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return engine_main(["--sweep", uri, "--round", str(r)], child_env)
