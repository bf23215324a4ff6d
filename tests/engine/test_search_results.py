"""read_trials / search_layout: a TPE sweep's evaluated trials by round, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.errors import ParamError
from engine.spec import RunSpec
from engine.store.objects import LocalStore, Store
from engine.store.runs import frame_to_parquet, to_json_bytes
from engine.sweep.plan import ChunkPlan
from engine.sweep.results import chunk_error_key, chunk_key, load_doc, spec_record
from engine.sweep.search_results import RoundIncomplete, read_trials, search_layout
from engine.sweep.search_rounds import RoundLayout
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import SweepSpec

IN, OUT = "input", "results"


def tpe_spec(n: int = 10, round_size: int = 4, sweep_id: str = "tp") -> SweepSpec:
    base = RunSpec(IN, "a.csv", OUT, "sma_cross")
    return SweepSpec(
        sweep_id=sweep_id,
        base=base,
        space={"fast": "2:20:1", "slow": "30:90:1"},
        mode="tpe",
        n=n,
        seed=7,
        search=SearchSpec(round_size=round_size),
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    (tmp_path / IN).mkdir()
    (tmp_path / OUT).mkdir()
    return LocalStore(tmp_path)


def put_doc(store: Store, spec: SweepSpec, n_comb: int, plan: ChunkPlan):
    key = f"sweeps/{spec.sweep_id}/spec.json"
    record = spec_record(spec, n_comb, plan, "2026-01-01T00:00:00Z", "t")
    store.put_bytes(OUT, key, to_json_bytes(record))
    return load_doc(store, OUT, key)


def put_chunk(store: Store, sweep_id: str, chunk: int, ids: range) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "combo_id": np.arange(ids.start, ids.stop, dtype=np.int64),
            "source_key": "a.csv",
            "fast": [3 + i for i in ids],
            "slow": [40 + i for i in ids],
            "sharpe": [0.1 * i for i in ids],
            "max_drawdown": [0.05 * (i + 1) for i in ids],
            "ruined": [i == ids.start for i in ids],
        }
    )
    store.put_bytes(OUT, chunk_key(sweep_id, chunk), frame_to_parquet(frame))
    return frame


def test_layout_of_a_tpe_doc(store: Store) -> None:
    doc = put_doc(store, tpe_spec(), 10, ChunkPlan(5, 2))
    assert search_layout(doc) == RoundLayout(10, 4, 2)


def test_layout_refuses_a_grid_sweep_and_a_plan_that_is_not_whole_rounds(store: Store) -> None:
    grid = SweepSpec("gr", RunSpec(IN, "a.csv", OUT), {"fast": "2:5:1"})
    with pytest.raises(ParamError, match="grid sweep, not a TPE search"):
        search_layout(put_doc(store, grid, 4, ChunkPlan(2, 2)))
    with pytest.raises(ParamError, match="does not divide the round size 4"):
        search_layout(put_doc(store, tpe_spec(sweep_id="t3"), 10, ChunkPlan(4, 3)))
    with pytest.raises(ParamError, match="budget is 10 trials"):
        search_layout(put_doc(store, tpe_spec(sweep_id="t4"), 12, ChunkPlan(6, 2)))


def test_trials_of_finished_rounds_only_with_their_round(store: Store) -> None:
    doc = put_doc(store, tpe_spec(), 10, ChunkPlan(5, 2))
    written = [put_chunk(store, "tp", c, range(2 * c, 2 * c + 2)) for c in range(3)]
    got = read_trials(store, OUT, doc, 0)
    assert got["combo_id"].tolist() == [0, 1, 2, 3]
    assert got["round"].tolist() == [0, 0, 0, 0]
    assert got["round"].dtype == np.int64
    assert "source_key" not in got.columns
    assert got["sharpe"].tolist() == pd.concat(written[:2])["sharpe"].tolist()
    assert got["ruined"].tolist() == [True, False, True, False]
    assert list(got.columns[:2]) == ["combo_id", "round"]
    # round 1 is chunks 2 and 3; chunk 3 is not written
    with pytest.raises(RoundIncomplete) as info:
        read_trials(store, OUT, doc, 1)
    message = str(info.value)
    assert "round 1 chunk 3" in message and "chunks/3.parquet" in message
    assert "AWS_BATCH_JOB_ARRAY_INDEX=1 python -m engine.backtest --sweep" in message
    assert "--round 1" in message and info.value.missing == [3]
    put_chunk(store, "tp", 3, range(6, 8))
    put_chunk(store, "tp", 4, range(8, 10))
    full = read_trials(store, OUT, doc, 2)
    assert full["combo_id"].tolist() == list(range(10))
    assert full["round"].tolist() == [0] * 4 + [1] * 4 + [2] * 2


def test_a_failed_chunk_is_named_with_its_message(store: Store) -> None:
    doc = put_doc(store, tpe_spec(), 10, ChunkPlan(5, 2))
    put_chunk(store, "tp", 0, range(0, 2))
    error = {"error": "fast=40 must be below slow=30", "kind": "bad_parameters", "index": 1}
    store.put_bytes(OUT, chunk_error_key("tp", 1), to_json_bytes(error))
    with pytest.raises(ParamError, match=r"round 0 chunk 1 .* failed: fast=40 must be below"):
        read_trials(store, OUT, doc, 0)


def test_a_round_outside_the_search_and_a_foreign_chunk(store: Store) -> None:
    doc = put_doc(store, tpe_spec(), 10, ChunkPlan(5, 2))
    with pytest.raises(ParamError, match=r"round 3 is outside 0..2"):
        read_trials(store, OUT, doc, 3)
    put_chunk(store, "tp", 0, range(0, 2))
    put_chunk(store, "tp", 1, range(0, 2))  # rows of another chunk
    with pytest.raises(ParamError, match=r"does not hold trials 2\.\.3 of chunk 1"):
        read_trials(store, OUT, doc, 0)
