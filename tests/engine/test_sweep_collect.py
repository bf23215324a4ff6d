"""Collect: merge, missing/failed chunks by index, robustness.json, top runs, _SUCCESS."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.api import run_backtest
from engine.errors import BacktestError, InfraError
from engine.sim.metrics import returns as bar_returns
from engine.store.runs import parquet_to_frame, read_run
from engine.sweep.collect import collect, main
from engine.sweep.plan import ChunkPlan
from engine.sweep.results import read_sweep
from engine.sweep.robustness import aggregate_returns, pbo_cscv, return_moments
from tests.engine.test_sweep_child import (
    OUT,
    make_store,
    put_prices,
    run_child,
    sweep,
    write_spec,
)

SPACE = {"fast": "4:16:4", "slow": "20:50:10"}  # 4 x 4 = 16 combinations, all valid


@pytest.fixture
def lab(tmp_path: Path):
    store, env = make_store(tmp_path)
    prices = put_prices(store, "a.csv", 500, seed=11)
    return store, env, prices


def run_children(store, env, spec, n, plan, indices):
    uri = write_spec(store, spec, n, plan)
    for i in indices:
        assert run_child(uri, env, i) == 0
    return uri


def test_collect_merges_reruns_top_and_writes_robustness(lab) -> None:
    store, env, prices = lab
    spec = sweep(SPACE)
    run_children(store, env, spec, 16, ChunkPlan(3, 6), range(3))
    report = collect(store, OUT, "sw", top_n=3, env=env)
    summary = parquet_to_frame(store.get_bytes(OUT, "sweeps/sw/summary.parquet"))
    assert summary.combo_id.tolist() == list(range(16))
    assert store.exists(OUT, "sweeps/sw/_SUCCESS")
    stored = json.loads(store.get_bytes(OUT, "sweeps/sw/robustness.json"))
    for key in ("n_trials", "best", "deflated_sharpe", "probabilistic_sharpe", "pbo",
                "pbo_skipped_reason", "plateau_score", "oos", "missing_chunks",
                "failed_chunks", "top_runs"):  # fmt: skip
        assert key in stored
    assert stored["missing_chunks"] == [] and stored["failed_chunks"] == []
    assert stored["n_trials"] == 16
    # the best is the highest Sharpe; the top runs are the three highest, in order
    by_sharpe = summary.sort_values("sharpe", ascending=False)
    assert stored["best"]["combo_id"] == int(by_sharpe.combo_id.iloc[0])
    assert [t["run_id"] for t in stored["top_runs"]] == ["sw-top1", "sw-top2", "sw-top3"]
    assert [t["combo_id"] for t in stored["top_runs"]] == by_sharpe.combo_id.iloc[:3].tolist()
    for top in stored["top_runs"]:
        spec_rec, metrics, equity, _ = read_run(store, OUT, top["run_id"])
        row = summary[summary.combo_id == top["combo_id"]].iloc[0]
        assert spec_rec["params"] == top["params"] and spec_rec["tags"] == {"sweep": "sw"}
        assert math.isclose(metrics["sharpe"], row.sharpe, rel_tol=1e-9)
        assert len(equity) == len(prices)
    # deflated Sharpe inputs: the best's per-bar Sharpe, skew and kurtosis of its bar returns
    best = stored["best"]["params"]
    single = run_backtest(prices, "sma_cross", best)
    r = bar_returns(single.equity["equity"].to_numpy(), 100_000.0)
    skew, kurt = return_moments(r)
    inputs = stored["dsr_inputs"]
    ppy = single.metrics["periods_per_year"]
    assert math.isclose(inputs["sharpe_per_bar"], single.metrics["sharpe"] / math.sqrt(ppy))
    assert math.isclose(inputs["skew"], skew) and math.isclose(inputs["kurtosis"], kurt)
    assert inputs["n_obs"] == 500
    pp = summary.sharpe / np.sqrt(summary.periods_per_year)
    assert math.isclose(inputs["sharpe_variance"], float(np.var(pp, ddof=1)))
    assert 0.0 <= stored["deflated_sharpe"] <= stored["probabilistic_sharpe"] <= 1.0
    # PBO over the same 64-period matrix built from single runs
    cols = []
    for _, row in summary.iterrows():
        eq = run_backtest(prices, "sma_cross", {"fast": int(row.fast), "slow": int(row.slow)})
        cols.append(aggregate_returns(bar_returns(eq.equity["equity"].to_numpy(), 1e5), 64))
    expected = pbo_cscv(np.asarray(cols, dtype=np.float32).T.astype(np.float64), 16)
    assert stored["pbo"] == pytest.approx(expected.pbo, abs=0.02)
    assert stored["pbo_skipped_reason"] is None
    assert report["n_rows"] == 16


def test_missing_chunk_is_named_and_the_summary_stands(lab, capsys) -> None:
    store, env, _ = lab
    uri = run_children(store, env, sweep(SPACE), 16, ChunkPlan(3, 6), [0, 2])
    assert main([uri, "--top-n", "1"], env) == 0
    captured = capsys.readouterr()
    assert "missing chunks 1;" in captured.err
    result = read_sweep(store, OUT, "sw")
    assert result.finished
    assert result.robustness["missing_chunks"] == [1]
    assert result.robustness["failed_chunks"] == []
    assert result.summary.combo_id.tolist() == [*range(0, 6), *range(12, 16)]
    assert [t["run_id"] for t in result.robustness["top_runs"]] == ["sw-top1"]


def test_failed_chunk_is_named(lab) -> None:
    store, env, _ = lab
    put_prices(store, "short.csv", 30, seed=2)  # too few bars for slow >= 40
    spec = sweep({"fast": [5], "slow": [20, 40]}, extra=["short.csv"])
    run_children(store, env, spec, 2, ChunkPlan(2, 2), [0, 1])
    report = collect(store, OUT, "sw", top_n=0, env=env)
    assert report["failed_chunks"] == [1] and report["missing_chunks"] == []
    assert report["top_runs"] == [] and report["n_rows"] == 2
    assert read_sweep(store, OUT, "sw").summary.source_key.unique().tolist() == ["a.csv"]


def test_no_chunk_at_all_fails_and_says_why(lab, capsys) -> None:
    store, env, _ = lab
    uri = run_children(store, env, sweep(SPACE), 16, ChunkPlan(2, 8), [])
    with pytest.raises(InfraError, match="missing chunks 0, 1"):
        collect(store, OUT, "sw", env=env)
    assert main([uri], env) == 1
    assert "has no finished chunk" in capsys.readouterr().err
    assert not store.exists(OUT, "sweeps/sw/_SUCCESS")
    assert json.loads(store.get_bytes(OUT, "sweeps/sw/error.json"))["missing_chunks"] == [0, 1]
    # every chunk failed on its input: a bad-input error naming the first failure
    put_prices(store, "tiny.csv", 10, seed=3)
    spec = sweep({"fast": [5], "slow": [20, 30]}, sweep_id="sw2", key="tiny.csv")
    run_children(store, env, spec, 2, ChunkPlan(2, 1), [0, 1])
    with pytest.raises(BacktestError, match=r"failed chunks 0, 1 \(chunk 0: .*10 bars"):
        collect(store, OUT, "sw2", env=env)


def test_collect_again_replaces_its_output(lab) -> None:
    store, env, _ = lab
    run_children(store, env, sweep(SPACE), 16, ChunkPlan(2, 8), [0])
    first = collect(store, OUT, "sw", top_n=1, env=env)
    assert first["missing_chunks"] == [1]
    uri = "s3://results/sweeps/sw/spec.json"
    assert run_child(uri, env, 1) == 0  # the missing child is rerun later
    second = collect(store, OUT, "sw", top_n=1, env=env)
    assert second["missing_chunks"] == [] and second["n_rows"] == 16
    assert read_sweep(store, OUT, "sw").summary.shape[0] == 16


def test_train_test_split_reports_in_and_out_of_sample(lab) -> None:
    store, env, _ = lab
    spec = sweep(SPACE)
    from dataclasses import replace

    spec = replace(spec, split={"kind": "train_test", "train_fraction": 0.5})
    run_children(store, env, spec, 16, ChunkPlan(1, 16), [0])
    report = collect(store, OUT, "sw", top_n=0, env=env)
    oos = report["oos"]
    assert len(oos) == 10 and [o["rank"] for o in oos] == list(range(1, 11))
    assert {"params", "is_sharpe", "oos_sharpe"} <= set(oos[0])
    sharpe = [o["is_sharpe"] for o in oos]
    assert sharpe == sorted(sharpe, reverse=True) and report["oos_skipped_reason"] is None


def test_read_sweep_while_unfinished(lab) -> None:
    store, env, _ = lab
    run_children(store, env, sweep(SPACE), 16, ChunkPlan(3, 6), [1])
    result = read_sweep(store, OUT, "sw")
    assert not result.finished and result.robustness == {}
    assert result.summary.combo_id.tolist() == list(range(6, 12))
    assert result.spec["n_children"] == 3
    with pytest.raises(BacktestError, match="no sweep 'other'"):
        read_sweep(store, OUT, "other")
    assert isinstance(result.summary, pd.DataFrame)


def test_a_split_too_fine_for_the_periods_is_skipped_with_a_reason(lab) -> None:
    store, env, _ = lab
    from dataclasses import replace

    spec = replace(sweep(SPACE), split={"kind": "walk_forward", "folds": 60})
    run_children(store, env, spec, 16, ChunkPlan(1, 16), [0])
    report = collect(store, OUT, "sw", top_n=0, env=env)
    assert report["oos"] == [] and "too few" in report["oos_skipped_reason"]
    assert store.exists(OUT, "sweeps/sw/_SUCCESS")
