"""Walk-forward windows, choice, warm-up rule and stitching (engine/sweep/walkforward.py)."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import run_backtest
from engine.errors import ParamError
from engine.sim.synthetic import random_walk
from engine.spec import SimOptions
from engine.sweep.walkforward import choose, efficiency, oos_run, walk_forward
from engine.sweep.wf_windows import WalkForwardSpec, Window, parse_constraint, windows

SPACE = {"fast": [5, 10, 20], "slow": [30, 60]}


def _check_windows(wins: list[Window], n: int) -> None:
    prev_oos_stop = 0
    for w in wins:
        assert 0 <= w.is_start < w.is_stop <= w.oos_start < w.oos_stop <= n
        in_sample, out_sample = (
            set(range(w.is_start, w.is_stop)),
            set(range(w.oos_start, w.oos_stop)),
        )
        assert not in_sample & out_sample
        assert w.oos_start >= prev_oos_stop  # OOS windows never overlap each other
        assert w.oos_stop - w.oos_start >= 2
        prev_oos_stop = w.oos_stop


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(10, 3000),
    is_len=st.integers(2, 800),
    oos=st.integers(2, 400),
    extra=st.integers(0, 300),
    anchored=st.booleans(),
)
def test_bar_windows_never_overlap_oos_with_is(n, is_len, oos, extra, anchored):
    spec = WalkForwardSpec(is_len, oos, oos + extra, anchored)
    try:
        wins = windows(spec, pd.date_range("2000-01-03", periods=n, freq="B"))
    except ParamError as exc:
        # refused only when not one window fits, or more than 1,000 would
        fitting = (n - 2 - is_len) // (oos + extra) + 1 if n >= is_len + 2 else 0
        assert fitting > 1_000 if "more than" in str(exc) else fitting == 0
        return
    assert len(wins) == (n - 2 - is_len) // (oos + extra) + 1
    _check_windows(wins, n)
    for k, w in enumerate(wins):
        assert w.number == k
        assert w.is_start == (0 if anchored else k * (oos + extra))
        if not anchored:
            assert w.is_stop - w.is_start == is_len


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(30, 2500),
    is_p=st.sampled_from(["1Y", "6M", "9M", "2Y", "8W", "40D"]),
    oos_p=st.sampled_from(["1M", "3M", "6M", "2W", "30D"]),
    anchored=st.booleans(),
    start=st.sampled_from(["2001-01-31", "2004-02-29", "2010-06-15"]),
)
def test_calendar_windows_never_overlap(n, is_p, oos_p, anchored, start):
    ts = pd.date_range(start, periods=n, freq="B")
    try:
        wins = windows(WalkForwardSpec(is_p, oos_p, None, anchored), ts)
    except ParamError:
        return
    _check_windows(wins, n)


def test_calendar_window_bounds_follow_the_calendar():
    ts = pd.date_range("2020-01-01", "2023-12-31", freq="D")
    wins = windows(WalkForwardSpec.parse("2Y:6M"), ts)
    assert [(ts[w.is_start].date().isoformat(), ts[w.oos_start].date().isoformat(),
             ts[w.oos_stop - 1].date().isoformat()) for w in wins] == [
        ("2020-01-01", "2022-01-01", "2022-06-30"),
        ("2020-07-01", "2022-07-01", "2022-12-31"),
        ("2021-01-01", "2023-01-01", "2023-06-30"),
        ("2021-07-01", "2023-07-01", "2023-12-31"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("252", "IS:OOS[:STEP]"),
        ("252:x", "neither a bar count"),
        ("2Y:126", "must all be bars"),
        ("500:100:50", "shorter than the out-of-sample"),
        ("1:100", "at least 2 bars"),
        ("2Y:6M:3M", "shorter than the out-of-sample"),
    ],
)
def test_bad_walk_forward_text_is_one_line(text, needle):
    with pytest.raises(ParamError, match=re.escape(needle)) as info:
        WalkForwardSpec.parse(text)
    assert "\n" not in str(info.value)


def test_bad_metric_and_constraint():
    with pytest.raises(ParamError, match="cannot be maximised"):
        WalkForwardSpec.parse("300:100", metric="max_drawdown")
    for bad in ("max_drawdown<", "drawdown<0.3", "sharpe == 1", "n_trades>=ten"):
        with pytest.raises(ParamError, match="wf-constraint"):
            parse_constraint(bad)
    assert parse_constraint(" max_drawdown < 0.3 ") == ("max_drawdown", "<", 0.3)


def test_choose_skips_ruined_and_constrained_rows_and_breaks_ties_by_id():
    wf = WalkForwardSpec.parse("300:100", constraints=["max_drawdown<0.3", "n_trades>=10"])
    rows = pd.DataFrame(
        {
            "combo_id": [0, 1, 2, 3, 4, 5],
            "sharpe": [9.0, 8.0, 7.0, 2.0, 2.0, np.nan],
            "max_drawdown": [0.1, 0.5, 0.1, 0.2, 0.2, 0.1],
            "n_trades": [20, 20, 5, 12, 12, 30],
            "ruined": [True, False, False, False, False, False],
        }
    ).iloc[[0, 1, 2, 4, 3, 5]]  # shuffled: the tie goes to the lower combo id, not row order
    pos, reason = choose(rows, wf)
    assert reason == "" and int(rows.iloc[pos]["combo_id"]) == 3
    none, why = choose(rows.assign(n_trades=0), wf)
    assert none is None and "n_trades>=10" in why


def test_efficiency_is_mean_oos_over_mean_is():
    assert efficiency([1.0, 3.0, math.nan], [0.5, 0.5, 9.0]) == pytest.approx(0.25)
    assert math.isnan(efficiency([-1.0, 0.5], [1.0, 1.0]))
    assert math.isnan(efficiency([math.nan], [1.0]))


def _chained_by_hand(prices, table, options):
    """The OOS runs chained, computed here with run_backtest on each window's slice."""
    parts, cash = [], options.cash
    for row in table.to_dict("records"):
        start = prices.index.get_loc(pd.Timestamp(row["oos_start"]))
        stop = prices.index.get_loc(pd.Timestamp(row["oos_end"])) + 1
        warm = row["params"]["slow"] - 1  # SMA(slow) is undefined on the first slow - 1 bars
        res = run_backtest(
            prices.iloc[start - warm : stop],
            "sma_cross",
            row["params"],
            options=replace(options, cash=cash),
        )
        part = res.equity["equity"].iloc[warm:]
        assert part.index[0] == prices.index[start]
        parts.append(part)
        cash = float(part.iloc[-1])
    return pd.concat(parts)


@pytest.mark.parametrize("text,anchored", [("400:150", False), ("300:120:150", True)])
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_stitched_equity_is_the_oos_runs_chained(text, anchored, fill):
    prices = random_walk(1400, seed=11)
    options = SimOptions(commission=0.001, fee=1.0, fill=fill)
    res = walk_forward(
        prices, "sma_cross", SPACE, WalkForwardSpec.parse(text, anchored=anchored),
        options=options,
    )  # fmt: skip
    expected = _chained_by_hand(prices, res.table, options)
    pd.testing.assert_series_equal(
        res.equity["equity"], expected, check_names=False, check_freq=False, rtol=1e-12
    )
    assert res.metrics["final_equity"] == pytest.approx(float(expected.iloc[-1]), rel=1e-12)
    assert res.metrics["total_return"] == pytest.approx(expected.iloc[-1] / 100_000 - 1)
    first_close = prices["close"].loc[expected.index[0]]
    bench = 100_000 * prices["close"].loc[expected.index] / first_close
    np.testing.assert_allclose(res.equity["benchmark"], bench, rtol=1e-12)
    assert res.buy_hold["total_return"] == pytest.approx(bench.iloc[-1] / 100_000 - 1)
    # the table's end equity is each window's last stitched value
    last = res.equity.groupby("window")["equity"].last().to_numpy()
    np.testing.assert_allclose(res.table["end_equity"], last, rtol=1e-12)


def test_oos_run_sees_only_its_warm_up_bars_and_trades_from_the_oos_start():
    prices = random_walk(900, seed=5)
    params = {"fast": 10, "slow": 40}
    window = Window(0, 0, 500, 500, 700)
    seg = oos_run(prices, _sma(), params, SimOptions(), window, 50_000.0)
    assert seg.equity.index[0] == prices.index[500] and len(seg.equity) == 200
    assert seg.equity["equity"].iloc[0] == 50_000.0  # next_open: nothing fills on the first bar
    assert (seg.trades["entry_time"] >= prices.index[500]).all() and len(seg.trades) > 0
    # bars before oos_start - warm-up cannot change the window: scramble them
    warm = 39  # sma_cross(slow=40): SMA(40) is undefined on the first 39 bars
    noisy = prices.copy()
    noisy.iloc[: 500 - warm, :4] = noisy.iloc[: 500 - warm, :4].to_numpy()[::-1]
    other = oos_run(noisy, _sma(), params, SimOptions(), window, 50_000.0)
    pd.testing.assert_frame_equal(seg.equity, other.equity)
    # but a warm-up bar does change it (the indicators read it)
    noisy.iloc[500 - warm : 500, :4] *= 1.5
    changed = oos_run(noisy, _sma(), params, SimOptions(), window, 50_000.0)
    assert not seg.equity["equity"].equals(changed.equity["equity"])


def test_window_without_an_eligible_combination_stays_in_cash():
    prices = random_walk(1000, seed=2)
    wf = WalkForwardSpec.parse("400:200", constraints=["n_trades>=100000"])
    res = walk_forward(prices, "sma_cross", SPACE, wf)
    assert res.table["params"].isna().all()
    assert (res.equity["equity"] == 100_000.0).all()
    assert res.metrics["n_trades"] == 0 and math.isnan(res.efficiency)
    assert res.table["note"].str.contains("n_trades>=100000").all()


def _sma():
    from engine.sim.strategies import get_strategy

    return get_strategy("sma_cross")


def test_more_windows_than_the_ceiling_are_refused_not_cut():
    days = pd.date_range("2000-01-03", periods=2_012, freq="B")
    # 10 in-sample bars, then out-of-sample windows of 2 from bar 10: (n - 10) / 2 windows
    assert len(windows(WalkForwardSpec(10, 2), days[:2_010])) == 1_000
    with pytest.raises(ParamError, match="more than 1,000 windows on 2,012 bars"):
        windows(WalkForwardSpec(10, 2), days)
