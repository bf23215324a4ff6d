"""engine.sweep.results as the one reader of sweeps/<id>/: progress, partial rows, listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import NotFoundError, ParamError
from engine.sweep.collect import collect
from engine.sweep.plan import ChunkPlan
from engine.sweep.results import (
    is_collected,
    read_chunk,
    read_meta,
    read_sweep,
    resume_keys,
    sweep_ids,
)
from tests.engine.test_sweep_child import OUT, make_store, put_prices, run_child, sweep, write_spec

SPACE = {"fast": "4:16:4", "slow": "20:50:10"}  # 16 valid combinations


@pytest.fixture
def lab(tmp_path: Path):
    store, env = make_store(tmp_path)
    put_prices(store, "a.csv", 400, seed=3)
    uri = write_spec(store, sweep(SPACE), 16, ChunkPlan(3, 6))  # chunks of 6, 6, 4 rows
    return store, env, uri


def test_an_unfinished_sweep_reads_the_chunks_present(lab) -> None:
    store, env, uri = lab
    for i in (0, 2):
        assert run_child(uri, env, i) == 0
    result = read_sweep(store, OUT, "sw")
    assert not result.finished and result.robustness == {}
    assert (result.chunks_done, result.chunks_merged, result.n_children) == (2, 2, 3)
    assert sorted(result.summary["combo_id"]) == [0, 1, 2, 3, 4, 5, 12, 13, 14, 15]
    first = read_sweep(store, OUT, "sw", max_chunks=1)
    assert (first.chunks_done, first.chunks_merged) == (2, 1)
    assert sorted(first.summary["combo_id"]) == [0, 1, 2, 3, 4, 5]
    assert list(read_chunk(store, OUT, "sw", 2)["combo_id"]) == [12, 13, 14, 15]
    with pytest.raises(NotFoundError):
        read_chunk(store, OUT, "sw", 1)


def test_meta_follows_the_sweep_to_collected(lab) -> None:
    store, env, uri = lab
    assert sweep_ids(store, OUT) == ["sw"] and sweep_ids(store, "no-such-bucket") == []
    meta = read_meta(store, OUT, "sw")
    assert (meta.finished, meta.robustness, meta.problem) == (False, {}, "")
    assert meta.spec["sweep_id"] == "sw" and meta.spec["n_children"] == 3
    for i in range(3):
        assert run_child(uri, env, i) == 0
    collect(store, OUT, "sw", env=env)
    assert is_collected(store, OUT, "sw")
    meta = read_meta(store, OUT, "sw")
    assert meta.finished and "best" in meta.robustness
    result = read_sweep(store, OUT, "sw")
    assert result.finished and len(result.summary) == 16 and result.chunks_done == 3


def test_damaged_or_lost_spec(lab) -> None:
    store, env, uri = lab
    assert run_child(uri, env, 1) == 0
    store.put_bytes(OUT, "sweeps/sw/spec.json", b"{not json")
    meta = read_meta(store, OUT, "sw")
    assert meta.spec == {} and "not valid JSON" in meta.problem
    with pytest.raises(ParamError, match="not valid JSON"):
        read_sweep(store, OUT, "sw")
    store.delete(OUT, "sweeps/sw/spec.json")  # its chunks remain: read with an empty spec
    lost = read_sweep(store, OUT, "sw")
    assert lost.spec == {} and lost.n_children is None
    assert (lost.chunks_done, sorted(lost.summary["combo_id"])) == (1, [6, 7, 8, 9, 10, 11])
    with pytest.raises(NotFoundError, match="no sweep 'other'"):
        read_sweep(store, OUT, "other")


def test_resume_manifests_sort_by_number(lab) -> None:
    store, _, _ = lab
    for n in (10, 2, 1):
        store.put_bytes(OUT, f"sweeps/sw/resume/{n}.json", b"{}")
    assert resume_keys(store, OUT, "sw") == [f"sweeps/sw/resume/{n}.json" for n in (1, 2, 10)]
