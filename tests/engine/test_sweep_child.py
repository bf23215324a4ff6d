"""Sweep array children: chunk rows equal single runs, chunk slicing, failures, retries, S3."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.api import run_backtest, run_sweep
from engine.backtest import main as engine_main
from engine.sim.metrics import METRIC_NAMES
from engine.sim.metrics import returns as bar_returns
from engine.sim.strategies import get_strategy
from engine.sim.sweep_kernels import evaluate, period_edges
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec, SimOptions
from engine.store.objects import LocalStore, Store, open_store
from engine.store.runs import parquet_to_frame, to_json_bytes
from engine.sweep.child import array_index, run_sweep_child
from engine.sweep.plan import ChunkPlan
from engine.sweep.results import chunk_error_key, chunk_key, returns_key, spec_record
from engine.sweep.robustness import aggregate_returns
from engine.sweep.spec import SweepSpec

IN, OUT = "input", "results"


def make_store(tmp_path: Path) -> tuple[Store, dict[str, str]]:
    root = tmp_path / "store"
    (root / IN).mkdir(parents=True)
    (root / OUT).mkdir()
    return LocalStore(root), {"BACKTEST_STORAGE_ROOT": str(root)}


def put_prices(store: Store, key: str, n: int, seed: int) -> pd.DataFrame:
    df = random_walk(n, seed=seed)
    store.put_bytes(IN, key, df.to_csv().encode())
    return df


def write_spec(store: Store, spec: SweepSpec, n_combinations: int, plan: ChunkPlan) -> str:
    key = f"sweeps/{spec.sweep_id}/spec.json"
    record = spec_record(spec, n_combinations, plan, "2024-01-01T00:00:00Z", "tester")
    store.put_bytes(OUT, key, to_json_bytes(record))
    return f"s3://{OUT}/{key}"


def sweep(space, *, sweep_id="sw", strategy="sma_cross", extra=(), options=None, key="a.csv"):
    base = RunSpec(IN, key, OUT, strategy, options=options or SimOptions())
    return SweepSpec(sweep_id=sweep_id, base=base, space=space, extra_keys=tuple(extra))


def run_child(uri: str, env: dict[str, str], index: int | None) -> int:
    child_env = dict(env)
    if index is not None:
        child_env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return run_sweep_child(uri, child_env)


def read_chunk(store: Store, sweep_id: str, i: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = parquet_to_frame(store.get_bytes(OUT, chunk_key(sweep_id, i)))
    matrix = np.load(io.BytesIO(store.get_bytes(OUT, returns_key(sweep_id, i))))
    return frame, matrix


def assert_rows_equal_single_runs(rows, frames, strategy, options):
    """Every chunk row against run_backtest of the same combination on the same file."""
    names = [p.name for p in get_strategy(strategy).params]
    for _, row in rows.iterrows():
        prices = frames[row["source_key"]]
        params = {n: row[n].item() if hasattr(row[n], "item") else row[n] for n in names}
        single = run_backtest(prices, strategy, params, options=options)
        got = row[list(METRIC_NAMES)].to_numpy(dtype=np.float64)
        want = np.array([single.metrics[m] for m in METRIC_NAMES], dtype=np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)


OPTION_CASES = [
    SimOptions(),
    SimOptions(fill="close", commission=0.002, slippage_bps=5, stop_loss=4.0, take_profit=9.0),
    SimOptions(allow_short=True, lot_size=10, fee=2.0, periods_per_year=252.0, risk_free=0.02),
]


@pytest.mark.parametrize("options", OPTION_CASES, ids=["default", "close-stops", "short-lots"])
def test_chunk_rows_equal_single_runs(tmp_path: Path, options: SimOptions) -> None:
    store, env = make_store(tmp_path)
    frames = {"a.csv": put_prices(store, "a.csv", 400, seed=1)}
    spec = sweep({"fast": "5:25:5", "slow": [20, 30, 45]}, options=options)
    # 5 x 3 = 15 candidates, fast < slow drops (20, 20) and (25, 20): 13 valid
    uri = write_spec(store, spec, 13, ChunkPlan(3, 5))
    for i in range(3):
        assert run_child(uri, env, i) == 0
    chunks = [read_chunk(store, "sw", i) for i in range(3)]
    rows = pd.concat([c[0] for c in chunks], ignore_index=True)
    assert [len(c[0]) for c in chunks] == [5, 5, 3]
    assert rows["combo_id"].tolist() == list(range(13))
    assert list(rows.columns) == ["combo_id", "source_key", "fast", "slow", *METRIC_NAMES]
    assert not ((rows["fast"] >= rows["slow"]).any())
    assert_rows_equal_single_runs(rows, frames, "sma_cross", options)
    # the compact return matrix compounds each run's per-bar returns into 64 periods
    matrix = np.concatenate([c[1] for c in chunks])
    assert matrix.dtype == np.float32 and matrix.shape == (13, 64)
    for i in (0, 7, 12):
        params = {"fast": int(rows.fast[i]), "slow": int(rows.slow[i])}
        single = run_backtest(frames["a.csv"], "sma_cross", params, options=options)
        r = bar_returns(single.equity["equity"].to_numpy(), options.cash)
        np.testing.assert_allclose(matrix[i], aggregate_returns(r, 64), rtol=1e-5, atol=1e-7)


def test_float_parameters_and_a_chunk_spanning_two_files(tmp_path: Path) -> None:
    store, env = make_store(tmp_path)
    frames = {
        "a.csv": put_prices(store, "a.csv", 300, seed=2),
        "b.csv": put_prices(store, "b.csv", 250, seed=3),
    }
    space = {"period": [7, 14], "lower": "20:30:5", "upper": [70.0]}
    spec = sweep(space, strategy="rsi_reversion", extra=["b.csv"])
    # 2 x 3 x 1 = 6 combinations per file, 12 tasks in chunks of 5: chunk 1 is a:5, b:0..3
    uri = write_spec(store, spec, 6, ChunkPlan(3, 5))
    for i in range(3):
        assert run_child(uri, env, i) == 0
    chunk1, _ = read_chunk(store, "sw", 1)
    assert list(zip(chunk1.source_key, chunk1.combo_id, strict=True)) == [
        ("a.csv", 5), ("b.csv", 0), ("b.csv", 1), ("b.csv", 2), ("b.csv", 3)
    ]  # fmt: skip
    rows = pd.concat([read_chunk(store, "sw", i)[0] for i in range(3)], ignore_index=True)
    pairs = set(zip(rows.source_key, rows.combo_id, strict=True))
    assert len(rows) == 12 and pairs == {(k, c) for k in frames for c in range(6)}
    assert sorted(rows.lower.unique().tolist()) == [20.0, 25.0, 30.0]
    assert_rows_equal_single_runs(rows, frames, "rsi_reversion", SimOptions())


def test_array_index_rules() -> None:
    assert array_index({"AWS_BATCH_JOB_ARRAY_INDEX": "2"}, 3) == 2
    assert array_index({}, 1) == 0  # a one-chunk sweep is a plain job without an index
    for env, match in (
        ({}, "not set"),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "x"}, "not an integer"),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "3"}, "out of range 0..2"),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "-1"}, "out of range"),
    ):
        with pytest.raises(Exception, match=match):
            array_index(env, 3)


def test_cli_bad_index_and_bad_uri_are_one_line(tmp_path: Path, capsys) -> None:
    store, env = make_store(tmp_path)
    put_prices(store, "a.csv", 200, seed=1)
    uri = write_spec(store, sweep({"fast": [5, 10], "slow": [30]}), 2, ChunkPlan(2, 1))
    cases = [
        (["--sweep", uri], env, "AWS_BATCH_JOB_ARRAY_INDEX is not set"),
        (["--sweep", uri], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": "9"}, "out of range 0..1"),
        (["--sweep", "results/sweeps/sw/spec.json"], env, "must look like s3://"),
        (["--sweep", f"s3://{OUT}/sweeps/nope/spec.json"], env, "nope"),
    ]
    for argv, child_env, match in cases:
        assert engine_main(argv, child_env) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err
    assert not store.list(OUT, "sweeps/sw/chunks/")


def test_bad_input_file_is_recorded_as_a_failed_chunk(tmp_path: Path, capsys) -> None:
    store, env = make_store(tmp_path)
    put_prices(store, "a.csv", 200, seed=1)
    put_prices(store, "short.csv", 25, seed=2)  # fewer bars than slow=30 needs
    spec = sweep({"fast": [5, 10], "slow": [30]}, extra=["short.csv"])
    uri = write_spec(store, spec, 2, ChunkPlan(2, 2))  # chunk 0 = a.csv, chunk 1 = short.csv
    assert run_child(uri, env, 0) == 0
    assert run_child(uri, env, 1) == 0  # recorded, so the collect job still runs
    assert "short.csv has 25 bars" in capsys.readouterr().err
    assert store.exists(OUT, chunk_key("sw", 0))
    assert not store.exists(OUT, chunk_key("sw", 1))
    import json

    record = json.loads(store.get_bytes(OUT, chunk_error_key("sw", 1)))
    assert record["index"] == 1 and record["kind"] == "bad_data" and "25 bars" in record["error"]


def test_a_retry_rewrites_only_its_own_chunk(tmp_path: Path) -> None:
    store, env = make_store(tmp_path)
    put_prices(store, "a.csv", 200, seed=1)
    uri = write_spec(store, sweep({"fast": [5, 10, 15], "slow": [30]}), 3, ChunkPlan(3, 1))
    for i in range(3):
        run_child(uri, env, i)
    root = Path(env["BACKTEST_STORAGE_ROOT"]) / OUT / "sweeps" / "sw"
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    store.put_bytes(OUT, chunk_error_key("sw", 1), b"{}")  # a stale failure of an earlier try
    assert run_child(uri, env, 1) == 0
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    changed = {p.relative_to(root).as_posix() for p in after if after[p] != before.get(p)}
    assert changed == {"chunks/1.parquet", "returns/1.npy"}
    assert not store.exists(OUT, chunk_error_key("sw", 1))
    assert after[root / "chunks/1.parquet"][1] == before[root / "chunks/1.parquet"][1]


def test_child_reads_and_writes_s3(aws_env: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import os

    env = dict(os.environ)
    store = open_store(env)
    for bucket in (IN, OUT):
        store.create_bucket(bucket)
    frames = {"a.csv": put_prices(store, "a.csv", 150, seed=4)}
    uri = write_spec(store, sweep({"fast": [5, 10], "slow": [20, 40]}), 4, ChunkPlan(2, 2))
    for i in range(2):
        assert engine_main(["--sweep", uri], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)}) == 0
    assert (
        "chunk 1: 2 backtests -> s3://results/sweeps/sw/chunks/1.parquet" in capsys.readouterr().out
    )
    rows = pd.concat([read_chunk(store, "sw", i)[0] for i in range(2)], ignore_index=True)
    assert rows.combo_id.tolist() == [0, 1, 2, 3]
    assert_rows_equal_single_runs(rows, frames, "sma_cross", SimOptions())


def test_public_run_sweep_accepts_sweep_spec_ranges() -> None:
    prices = random_walk(300, seed=6)
    slow = {"start": 20, "stop": 40, "step": 10}
    got = run_sweep(prices, "sma_cross", {"fast": "5:20:5", "slow": slow})
    want = run_sweep(prices, "sma_cross", {"fast": [5, 10, 15, 20], "slow": [20, 30, 40]})
    assert len(got) == 4 * 3 - 1  # (20, 20) dropped
    pd.testing.assert_frame_equal(got, want)
    # Python iterables (generators too) and single values still work
    lazy = run_sweep(prices, "sma_cross", {"fast": (f for f in (5, 10)), "slow": 30})
    assert lazy[["fast", "slow"]].values.tolist() == [[5, 30], [10, 30]]


def test_short_series_keeps_one_period_per_bar() -> None:
    prices = random_walk(40, seed=7)
    strategy = get_strategy("sma_cross")
    combos = [strategy.validate({"fast": 3, "slow": 8})]
    metrics, matrix = evaluate(prices, strategy, combos, SimOptions(), n_periods=64)
    assert matrix.shape == (1, 40)
    single = run_backtest(prices, "sma_cross", combos[0])
    assert metrics[0, 0] == pytest.approx(single.metrics["total_return"], rel=1e-12)
    r = bar_returns(single.equity["equity"].to_numpy(), 100_000.0)
    np.testing.assert_allclose(matrix[0], r, rtol=1e-5, atol=1e-7)
    assert period_edges(100, 4).tolist() == [0, 25, 50, 75, 100]


@pytest.mark.parametrize("options", OPTION_CASES, ids=["default", "close-stops", "short-lots"])
def test_sweep_kernel_metrics_are_bit_identical_to_simulate_metrics(options) -> None:
    from engine.sim import kernels
    from engine.sim.strategies import Bars
    from engine.sim.sweep_kernels import sim_config, sweep_kernel

    prices = random_walk(3_000, seed=8)
    bars, cfg = Bars.from_frame(prices), sim_config(prices, options)
    edges = period_edges(len(prices))
    for name, params in (("sma_cross", {"fast": 7, "slow": 40}), ("momentum", {"lookback": 20}),
                         ("bollinger_reversion", {"window": 15, "k": 1.5})):  # fmt: skip
        target = get_strategy(name).signal(bars, params)
        out = np.zeros(len(edges) - 1)
        mine = sweep_kernel(bars.open, bars.high, bars.low, bars.close, target, cfg, edges, out)
        ref = kernels.simulate_metrics(bars.open, bars.high, bars.low, bars.close, target, cfg)
        assert np.array_equal(mine, ref, equal_nan=True), name
        # the periods compound to the total return
        assert np.prod(1.0 + out) - 1.0 == pytest.approx(ref[0], rel=1e-9, abs=1e-12)


def test_indicator_cache_is_bounded_and_keeps_recently_used_arrays() -> None:
    from engine.sim.sweep_kernels import BoundedCache

    cache = BoundedCache(budget_bytes=3 * 800)
    for key in ("a", "b", "c"):
        cache[(key,)] = np.zeros(100)  # 800 bytes each
    assert cache.get(("a",)) is not None  # "a" is now the most recent
    cache[("d",)] = np.zeros(100)
    assert set(cache) == {("a",), ("c",), ("d",)} and cache.nbytes == 2400
    cache[("big",)] = np.zeros(300)
    assert list(cache) == [("big",)] and cache.get(("zzz",), "none") == "none"
