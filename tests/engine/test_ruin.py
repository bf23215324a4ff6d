"""Ruin (DESIGN.md "Ruin", issue 10 point 2): equity reaching zero at a mark closes the run.

Hand-computed cases (numbers worked out on paper in the comments) through run_backtest, the
engine CLI (metrics.json, equity.parquet, trades.parquet as written) and the sweep paths
(run_sweep, the array child and collect); then the single-run and sweep kernels against the
pure metric functions on ruined runs, and the ruined flag's effect on picking a best.

The strategy in the hand cases is sma_cross(1, 2) with shorts: from bar 1 the target is +1
when close[t] > close[t-1], -1 when below, 0 when equal; next_open fills it at bar t+1's open.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import run_backtest, run_sweep
from engine.backtest import main as engine_main
from engine.sim.metrics import METRIC_NAMES, MetricInputs, compute_metrics
from engine.sim.metrics import returns as bar_returns
from engine.sim.strategies import Bars, get_strategy
from engine.sim.sweep_kernels import evaluate
from engine.sim.synthetic import random_walk
from engine.spec import SimOptions
from engine.store.runs import parquet_to_frame
from engine.sweep.collect import collect
from engine.sweep.collect import main as collect_main
from engine.sweep.plan import ChunkPlan
from engine.sweep.results import read_sweep
from engine.sweep.robustness import aggregate_returns
from tests.engine.test_sweep_child import IN, OUT, make_store, run_child, sweep, write_spec

UNDEFINED = ("cagr", "volatility", "sharpe", "sortino", "calmar")
CROSS_1_2 = {"fast": 1, "slow": 2}


def frame(rows: Sequence[Sequence[float]]) -> pd.DataFrame:
    """Bars from (open, high, low, close) tuples, one day apart from 2021-01-04."""
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    index = pd.date_range("2021-01-04", periods=len(rows), freq="D", name="timestamp")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 0.0}, index=index)


# Bars 0-1 flat at 10, bar 2 falls to 8 (target -1), bar 3 opens at 8: short 1000 / 8 = 125
# units (cash 1000 + 1000 = 2000), closes 7.5 (equity 2000 - 937.5 = 1062.5).
PREFIX = [(10, 10, 10, 10), (10, 10, 10, 10), (10, 10, 8, 8), (8, 9, 7.5, 7.5)]
# Bar 4 squeezes the short at the close: 7.5 -> 17 (> 2x); equity 2000 - 125 * 17 = -125.
SQUEEZE = frame([*PREFIX, (7.5, 17, 7.5, 17), (17, 18, 16, 18), (18, 18, 10, 10)])
# Bar 4 gaps up at the open to 17 (equity there -125) and closes back at 12.
GAP = frame([*PREFIX, (17, 18, 12, 12), (12, 13, 11, 13)])


def assert_ruined_metrics(m: dict, ruined_at: str) -> None:
    assert m["ruined"] is True and m["ruined_at"] == ruined_at
    assert m["total_return"] == -1.0 and m["final_equity"] == 0.0 and m["max_drawdown"] == 1.0
    for key in UNDEFINED:
        assert math.isnan(m[key]), key


def pure_metrics(res, prices: pd.DataFrame, cash: float, **kw) -> dict[str, float]:
    return compute_metrics(
        MetricInputs(
            res.equity["equity"].to_numpy(),
            prices.index.to_numpy(),
            res.trades["pnl"].to_numpy(),
            res.trades["return"].to_numpy(),
            res.equity["position"].to_numpy(),
            prices["close"].to_numpy(),
            cash,
        ),
        **kw,
    )


def same(a: float, b: float, rel: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# ------------------------------------------------------------------------------ hand-computed


def test_short_squeezed_at_the_close_is_closed_there_and_stays_flat() -> None:
    res = run_backtest(SQUEEZE, "sma_cross", CROSS_1_2, cash=1000, commission=0, allow_short=True)
    # bar 4's close 17 marks equity at -125: covered at 17 (cost 2125), cash -125 -> floor 0;
    # bars 5-6 stay flat at 0 although bar 4's close (up) asks for a long
    assert res.equity["equity"].tolist() == [1000, 1000, 1000, 1062.5, 0, 0, 0]
    assert res.equity["position"].tolist() == [0, 0, 0, -125, 0, 0, 0]
    assert res.equity["drawdown"].tolist()[4:] == [1.0, 1.0, 1.0]
    assert len(res.trades) == 1
    t = res.trades.iloc[0]
    assert (t["side"], t["units"], t["entry_price"], t["exit_price"]) == ("short", 125, 8, 17)
    assert t["exit_reason"] == "ruin" and t["exit_time"] == SQUEEZE.index[4]
    assert t["pnl"] == -1125.0  # 1000 in, 2125 out
    assert t["return"] == pytest.approx(-1125 / 1000, rel=1e-12) and t["bars_held"] == 1
    m = res.metrics
    assert_ruined_metrics(m, "2021-01-08T00:00:00")
    # under water from bar 4 (peak 1062.5 at bar 3) to the end: 3 bars; exposed at 1 close of 7
    assert m["max_drawdown_duration"] == 3.0 and m["exposure"] == pytest.approx(1 / 7)
    assert (m["n_trades"], m["win_rate"], m["profit_factor"]) == (1.0, 0.0, 0.0)
    assert m["avg_trade_return"] == pytest.approx(-1.125, rel=1e-12)


def test_short_squeeze_with_commission_closing_value_by_hand() -> None:
    c = 0.001
    res = run_backtest(SQUEEZE, "sma_cross", CROSS_1_2, cash=1000, commission=c, allow_short=True)
    units = 1000 / (8 * (1 + c))  # all-in short at 8
    cash = 1000 + units * 8 * (1 - c)  # proceeds net of commission
    assert res.equity["equity"].iloc[3] == pytest.approx(cash - units * 7.5, rel=1e-12)
    # bar 4: marked at 17 -> cash - 17 units = -124.88 <= 0; covering costs 17 units * 1.001
    closing = cash - units * 17 * (1 + c)
    assert closing == pytest.approx(-126.998002, abs=1e-6)  # what is owed beyond the account
    assert res.equity["equity"].tolist()[4:] == [0.0, 0.0, 0.0]  # floored: limited liability
    t = res.trades.iloc[0]
    assert t["exit_reason"] == "ruin" and t["exit_price"] == 17
    assert t["pnl"] == pytest.approx(units * 8 * (1 - c) - units * 17 * (1 + c), rel=1e-12)
    assert_ruined_metrics(res.metrics, "2021-01-08T00:00:00")


def test_short_gapped_at_the_open_is_closed_at_the_open() -> None:
    res = run_backtest(GAP, "sma_cross", CROSS_1_2, cash=1000, commission=0, allow_short=True)
    # bar 4 opens at 17: equity 2000 - 125 * 17 = -125 at that mark -> covered at the open 17,
    # before the close (12, where the short would have been worth 500) is ever reached
    assert res.equity["equity"].tolist() == [1000, 1000, 1000, 1062.5, 0, 0]
    t = res.trades.iloc[0]
    assert (t["exit_reason"], t["exit_price"], t["pnl"]) == ("ruin", 17.0, -1125.0)
    assert_ruined_metrics(res.metrics, "2021-01-08T00:00:00")


def test_short_squeezed_with_close_fills() -> None:
    # fill=close: short at bar 2's close 8 (125 units, cash 2000); bar 3 closes 7.5; bar 4's
    # close 17 marks -125 before the target's fill there -> covered at 17 as a ruin
    res = run_backtest(
        SQUEEZE, "sma_cross", CROSS_1_2, cash=1000, commission=0, allow_short=True, fill="close"
    )
    assert res.equity["equity"].tolist() == [1000, 1000, 1000, 1062.5, 0, 0, 0]
    assert res.equity["position"].tolist() == [0, 0, -125, -125, 0, 0, 0]
    t = res.trades.iloc[0]
    assert (t["exit_reason"], t["exit_price"], t["pnl"], t["bars_held"]) == ("ruin", 17, -1125, 2)
    assert_ruined_metrics(res.metrics, "2021-01-08T00:00:00")


def test_long_gapped_down_and_sold_at_the_open_for_less_than_the_fee() -> None:
    # A long's equity (units x price, nothing borrowed) cannot fall below 0 at a mark; a fixed
    # fee can push the account below 0 when the position is sold. fee 10, commission 0:
    # bar 2 (close up) -> long at bar 3's open 100: (1000 - 10) / 100 = 9.9 units, cash 0;
    # bar 4 gaps to 0.5 at the open (equity 4.95 > 0, not a ruin) and closes 0.4 (down);
    # bar 5 sells at the open 0.3: 9.9 * 0.3 - 10 = -7.03 -> cash -7.03 -> floored at 0.
    bars = frame(
        [(100, 100, 100, 100), (100, 100, 100, 100), (100, 101, 100, 101), (100, 103, 100, 102),
         (0.5, 0.6, 0.4, 0.4), (0.3, 0.4, 0.3, 0.35), (0.35, 0.5, 0.3, 0.5)]
    )  # fmt: skip
    res = run_backtest(bars, "sma_cross", CROSS_1_2, cash=1000, commission=0, fee=10)
    assert res.equity["equity"].tolist() == pytest.approx([1000, 1000, 1000, 1009.8, 3.96, 0, 0])
    assert res.equity["position"].tolist() == pytest.approx([0, 0, 0, 9.9, 9.9, 0, 0])
    t = res.trades.iloc[0]
    assert (t["side"], t["exit_reason"], t["exit_price"]) == ("long", "signal", 0.3)
    assert t["pnl"] == pytest.approx(-1000 + 9.9 * 0.3 - 10, rel=1e-12)  # -1007.03
    assert_ruined_metrics(res.metrics, "2021-01-09T00:00:00")


def test_long_stopped_through_a_gap_below_the_fee() -> None:
    # buy_and_hold, fee 10, stop-loss 50%: long 9.9 units at bar 1's open 100 (cash 0). Bar 2
    # opens at 0.5, through the stop level 50: stopped at the open, 4.95 - 10 = -5.05 -> ruin.
    bars = frame([(100, 100, 100, 100), (100, 101, 99, 100), (0.5, 0.6, 0.4, 0.5),
                  (0.5, 0.6, 0.4, 0.6)])  # fmt: skip
    res = run_backtest(bars, "buy_and_hold", cash=1000, commission=0, fee=10, stop_loss=50)
    assert res.equity["equity"].tolist() == pytest.approx([1000, 990, 0, 0])
    t = res.trades.iloc[0]
    assert (t["exit_reason"], t["exit_price"]) == ("stop_loss", 0.5)
    assert t["pnl"] == pytest.approx(-1000 - 5.05, rel=1e-12)
    assert_ruined_metrics(res.metrics, "2021-01-06T00:00:00")


def test_short_stopped_intrabar_beyond_the_account() -> None:
    # stop-loss 150%: the short at 8 is stopped at 8 * 2.5 = 20 when bar 4's high (21) reaches
    # it (the open 9 is below the level): covering 125 units costs 2500, cash 2000 - 2500 = -500
    # -> floored at 0 at that bar, whatever the close (10) says.
    bars = frame([*PREFIX, (9, 21, 9, 10), (10, 11, 9, 9)])
    res = run_backtest(
        bars, "sma_cross", CROSS_1_2, cash=1000, commission=0, allow_short=True, stop_loss=150
    )
    assert res.equity["equity"].tolist() == [1000, 1000, 1000, 1062.5, 0, 0]
    t = res.trades.iloc[0]
    assert (t["exit_reason"], t["exit_price"], t["pnl"]) == ("stop_loss", 20.0, -1500.0)
    assert_ruined_metrics(res.metrics, "2021-01-08T00:00:00")


def test_close_fills_take_an_intrabar_stop_before_the_close_mark() -> None:
    # fill=close: short at bar 2's close 8 (125 units, cash 2000). Bar 4 opens at 9 (equity
    # 875), its high 26 passes the stop level 20 before the close 25 (equity there -1125):
    # the stop fills first, at 20 (cash 2000 - 2500 = -500 -> 0), not a ruin exit at 25.
    bars = frame([*PREFIX, (9, 26, 9, 25), (25, 26, 24, 24)])
    res = run_backtest(
        bars, "sma_cross", CROSS_1_2, cash=1000, commission=0, allow_short=True, stop_loss=150,
        fill="close",
    )  # fmt: skip
    assert res.equity["equity"].tolist() == [1000, 1000, 1000, 1062.5, 0, 0]
    t = res.trades.iloc[0]
    assert (t["exit_reason"], t["exit_price"], t["pnl"]) == ("stop_loss", 20.0, -1500.0)
    assert_ruined_metrics(res.metrics, "2021-01-08T00:00:00")


def test_a_run_that_nears_zero_is_not_ruined() -> None:
    # the same squeeze to 15.9 instead of 17: equity 2000 - 125 * 15.9 = 12.5 > 0
    bars = frame([*PREFIX, (7.5, 15.9, 7.5, 15.9), (15.9, 16, 15, 15)])
    res = run_backtest(bars, "sma_cross", CROSS_1_2, cash=1000, commission=0, allow_short=True)
    assert res.metrics["ruined"] is False and res.metrics["ruined_at"] is None
    assert res.equity["equity"].iloc[4] == pytest.approx(12.5)
    assert not math.isnan(res.metrics["volatility"])


# ------------------------------------------------------------------------------ the CLI


def test_cli_writes_the_ruin_into_metrics_json(tmp_path: Path, capsys) -> None:
    store, env = make_store(tmp_path)
    store.put_bytes(IN, "squeeze.csv", SQUEEZE.to_csv().encode())
    argv = [IN, "squeeze.csv", OUT, "--run-id", "sq", "--param", "fast=1", "--param", "slow=2",
            "--allow-short", "--commission", "0", "--cash", "1000"]  # fmt: skip
    assert engine_main(argv, env) == 0, capsys.readouterr().err
    metrics = json.loads(store.get_bytes(OUT, "runs/sq/metrics.json"))
    assert metrics["ruined"] is True and metrics["ruined_at"] == "2021-01-08T00:00:00"
    assert metrics["total_return"] == -1.0 and metrics["final_equity"] == 0.0
    assert metrics["max_drawdown"] == 1.0 and metrics["n_trades"] == 1
    for key in UNDEFINED:
        assert metrics[key] is None, key  # JSON null, not a number
    equity = parquet_to_frame(store.get_bytes(OUT, "runs/sq/equity.parquet"))
    assert equity["equity"].tolist() == [1000, 1000, 1000, 1062.5, 0, 0, 0]
    assert equity["position"].tolist() == [0, 0, 0, -125, 0, 0, 0]
    trades = parquet_to_frame(store.get_bytes(OUT, "runs/sq/trades.parquet"))
    assert trades["exit_reason"].astype(str).tolist() == ["ruin"]
    assert trades["exit_price"].tolist() == [17.0] and trades["pnl"].tolist() == [-1125.0]
    # a run that was not ruined says so too
    argv = [IN, "squeeze.csv", OUT, "--run-id", "lo", "--param", "fast=1", "--param", "slow=2"]
    assert engine_main(argv, env) == 0
    metrics = json.loads(store.get_bytes(OUT, "runs/lo/metrics.json"))
    assert metrics["ruined"] is False and metrics["ruined_at"] is None


# ------------------------------------------------------------------------------ sweeps


def test_run_sweep_marks_the_ruined_combination() -> None:
    opts = {"cash": 1000, "commission": 0, "allow_short": True}
    table = run_sweep(SQUEEZE, "sma_cross", {"fast": [1], "slow": [2, 3]}, **opts)
    assert table["ruined"].dtype == bool
    # (1, 3): bar 2's close 8 < SMA(3) 9.33 -> the same short at 8, squeezed the same way
    assert table["ruined"].tolist() == [True, True]
    assert table["total_return"].tolist() == [-1.0, -1.0]
    for key in UNDEFINED:
        assert table[key].isna().all(), key
    long_only = run_sweep(SQUEEZE, "sma_cross", {"fast": [1], "slow": [2, 3]}, cash=1000)
    assert long_only["ruined"].tolist() == [False, False]


def test_sweep_child_and_collect_never_pick_a_ruined_combination(tmp_path: Path) -> None:
    store, env = make_store(tmp_path)
    calm = random_walk(40, seed=3)
    store.put_bytes(IN, "squeeze.csv", SQUEEZE.to_csv().encode())
    store.put_bytes(IN, "calm.csv", calm.to_csv().encode())
    options = SimOptions(cash=1000, commission=0, allow_short=True)
    spec = sweep({"fast": [1], "slow": [2]}, key="squeeze.csv", extra=["calm.csv"],
                 options=options)  # fmt: skip
    uri = write_spec(store, spec, 1, ChunkPlan(1, 2))
    assert run_child(uri, env, 0) == 0
    chunk = parquet_to_frame(store.get_bytes(OUT, "sweeps/sw/chunks/0.parquet"))
    assert chunk["ruined"].dtype == bool
    assert chunk[["source_key", "ruined"]].values.tolist() == [
        ["squeeze.csv", True],
        ["calm.csv", False],
    ]
    report = collect(store, OUT, "sw", top_n=2, env=env)
    summary = read_sweep(store, OUT, "sw").summary
    assert summary["ruined"].tolist() == [True, False] and summary["ruined"].dtype == bool
    assert report["n_ruined"] == 1 and report["best_skipped_reason"] is None
    assert report["best"]["source_key"] == "calm.csv"
    # top_n = 2 but only one combination was not ruined: one top run, never the ruined one
    assert [t["source_key"] for t in report["top_runs"]] == ["calm.csv"]
    assert not store.exists(OUT, "runs/sw-top2/_SUCCESS")


def test_collect_of_a_sweep_where_everything_was_ruined_has_no_best(tmp_path: Path) -> None:
    store, env = make_store(tmp_path)
    store.put_bytes(IN, "squeeze.csv", SQUEEZE.to_csv().encode())
    options = SimOptions(cash=1000, commission=0, allow_short=True)
    spec = sweep({"fast": [1], "slow": [2, 3]}, key="squeeze.csv", options=options)
    uri = write_spec(store, spec, 2, ChunkPlan(1, 2))
    assert run_child(uri, env, 0) == 0
    report = collect(store, OUT, "sw", top_n=3, env=env)
    assert report["best"] is None and report["top_runs"] == []
    assert report["n_ruined"] == 2 and "ruined" in report["best_skipped_reason"]
    assert report["deflated_sharpe"] is None and report["plateau_score"] is None
    assert store.exists(OUT, "sweeps/sw/_SUCCESS")
    stored = json.loads(store.get_bytes(OUT, "sweeps/sw/robustness.json"))
    assert stored["best"] is None and stored["n_ruined"] == 2


def test_collect_cli_says_how_many_combinations_were_ruined(tmp_path: Path, capsys) -> None:
    store, env = make_store(tmp_path)
    store.put_bytes(IN, "squeeze.csv", SQUEEZE.to_csv().encode())
    store.put_bytes(IN, "calm.csv", random_walk(40, seed=3).to_csv().encode())
    options = SimOptions(cash=1000, commission=0, allow_short=True)
    spec = sweep({"fast": [1], "slow": [2, 3]}, key="squeeze.csv", extra=["calm.csv"],
                 options=options)  # fmt: skip
    uri = write_spec(store, spec, 2, ChunkPlan(1, 4))
    assert run_child(uri, env, 0) == 0
    capsys.readouterr()
    assert collect_main([uri, "--top-n", "1"], env) == 0
    err = capsys.readouterr().err
    assert "2 of 4 combinations were ruined" in err and "none of them is a best" in err


# ------------------------------------------------------------------------------ agreement


@pytest.fixture(scope="module")
def crash() -> pd.DataFrame:
    """The dashboard's crash-and-recovery sample (app/seed.py): long/short rsi_reversion on it
    went to equity -4,567 before the ruin rule."""
    return random_walk(2000, seed=6)


OPTION_SETS = [
    {"allow_short": True},
    {"allow_short": True, "fill": "close", "commission": 0.002, "slippage_bps": 5.0},
    {"allow_short": True, "fee": 25.0, "lot_size": 10.0, "cash": 20_000.0},
    {"allow_short": True, "stop_loss": 150.0, "risk_free": 0.02},  # stops beyond the account
    {"allow_short": True, "fill": "close", "periods_per_year": 12.0},
]


def test_the_reported_crash_run_is_ruined_and_floored(crash: pd.DataFrame) -> None:
    res = run_backtest(crash, "rsi_reversion", allow_short=True)
    eq = res.equity["equity"].to_numpy()
    assert res.metrics["ruined"] is True and eq.min() == 0.0
    at = pd.Timestamp(res.metrics["ruined_at"])
    after = res.equity.loc[at:]
    assert (after["equity"] == 0).all() and (after["position"] == 0).all()
    assert (eq[: res.equity.index.get_loc(at)] > 0).all()
    assert res.trades["exit_reason"].astype(str).tolist()[-1] == "ruin"
    assert res.trades["exit_time"].iloc[-1] == at


@pytest.mark.parametrize("opts", OPTION_SETS)
def test_kernels_agree_with_the_pure_metrics_on_ruined_runs(
    crash: pd.DataFrame, opts: dict
) -> None:
    cash = opts.get("cash", 100_000.0)
    space = [{"lower": lo, "upper": up} for lo in (20.0, 30.0, 40.0) for up in (60.0, 70.0)]
    table = run_sweep(crash, "rsi_reversion", space, **opts)
    assert table["ruined"].any()  # the sample ruins some of these
    strategy = get_strategy("rsi_reversion")
    sim = SimOptions(**opts).validate()
    metrics, periods = evaluate(crash, strategy, [strategy.validate(p) for p in space], sim)
    for i, params in enumerate(space):
        res = run_backtest(crash, "rsi_reversion", params, **opts)
        pure = pure_metrics(res, crash, cash, periods_per_year=opts.get("periods_per_year"),
                            risk_free=opts.get("risk_free", 0.0))  # fmt: skip
        for j, key in enumerate(METRIC_NAMES):
            assert same(float(res.metrics[key]), pure[key]), (params, key)
            assert same(float(table[key].iloc[i]), pure[key]), (params, key)
            assert same(float(metrics[i, j]), pure[key]), (params, key)
        # the sweep's period returns compound the same per-bar returns (0 after a ruin)
        r = bar_returns(res.equity["equity"].to_numpy(), cash)
        expected = aggregate_returns(r, periods.shape[1])
        np.testing.assert_allclose(periods[i], expected, rtol=1e-5, atol=1e-6)
        if res.metrics["ruined"]:
            assert np.isin(-1.0, periods[i]) and not np.isnan(periods[i]).any()


def test_block_and_trades_are_consistent_after_a_ruin(crash: pd.DataFrame) -> None:
    from engine.sim import kernels as k

    opts = SimOptions(allow_short=True, fee=5.0).validate()
    bars = Bars.from_frame(crash)
    target = get_strategy("rsi_reversion").signal(bars, get_strategy("rsi_reversion").defaults())
    block, trades = k.simulate(
        bars.open, bars.high, bars.low, bars.close, target, k.make_config(opts)
    )
    equity, position, cash = block[k.ROW_EQUITY], block[k.ROW_POSITION], block[k.ROW_CASH]
    ruin = int(np.argmax(equity <= 0.0))
    assert equity[ruin] == 0.0 and ruin > 0
    assert (cash[ruin:] == 0).all() and (position[ruin:] == 0).all()
    assert np.allclose(equity[:ruin], cash[:ruin] + position[:ruin] * bars.close[:ruin])
    assert trades[-1, k.T_EXIT_IDX] == ruin and trades[-1, k.T_REASON] == k.EXIT_RUIN
    buf = io.BytesIO()  # the trades frame round-trips the new reason through parquet
    res = run_backtest(crash, "rsi_reversion", options=opts)
    res.trades.to_parquet(buf)
    assert pd.read_parquet(buf)["exit_reason"].astype(str).iloc[-1] == "ruin"
