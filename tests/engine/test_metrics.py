"""Metrics: hand-computed expected values for every metric, edge cases, and the doctests."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest

import engine.sim.metrics as metrics_module
from engine.errors import DataError
from engine.sim.metrics import METRIC_NAMES, MetricInputs, compute_metrics

DAY = 86400.0
T0 = np.datetime64("2020-01-01T00:00:00", "ns")


def stamps(*days: float) -> np.ndarray:
    """Timestamps ``days`` after 2020-01-01 (fractional days allowed)."""
    return np.array([T0 + np.timedelta64(int(d * DAY * 1e9), "ns") for d in days])


def run(equity, days, pnl=(), ret=(), position=None, close=None, cash=100.0, **kw):
    equity = np.array(equity, dtype=float)
    n = len(equity)
    return compute_metrics(
        MetricInputs(
            equity,
            stamps(*days),
            np.array(pnl, dtype=float),
            np.array(ret, dtype=float),
            np.zeros(n) if position is None else np.array(position, dtype=float),
            np.full(n, 10.0) if close is None else np.array(close, dtype=float),
            cash,
        ),
        **kw,
    )


# The main case: equity 100 -> 110 -> 99 -> 120 from cash 100, spread over exactly two
# 365.25-day years (so years = 2 and periods per year = 4 bars / 2 years = 2).
MAIN_DAYS = (0.0, 243.5, 487.0, 730.5)


@pytest.fixture
def main() -> dict[str, float]:
    return run(
        [100, 110, 99, 120],
        MAIN_DAYS,
        pnl=[10.0, -5.0, 20.0],
        ret=[0.1, -0.05, 0.2],
        position=[0, 1, 1, 0],
        close=[10.0, 11.0, 9.0, 12.5],
    )


def test_keys_are_exactly_the_contract(main):
    assert tuple(main) == METRIC_NAMES
    assert METRIC_NAMES == (
        "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
        "max_drawdown_duration", "calmar", "n_trades", "win_rate", "profit_factor",
        "avg_trade_return", "exposure", "final_equity", "buy_hold_return", "periods_per_year",
        "ruined",
    )  # fmt: skip
    assert all(isinstance(v, float) for v in main.values())


def test_main_case_by_hand(main):
    # returns: 100/100-1 = 0, 110/100-1 = 0.1, 99/110-1 = -0.1, 120/99-1 = 7/33
    r = [0.0, 0.1, -0.1, 7 / 33]
    mean = (7 / 33) / 4  # = 7/132
    var = sum((x - mean) ** 2 for x in r) / 3
    ppy = 2.0
    assert main["periods_per_year"] == pytest.approx(2.0, rel=1e-12)
    assert main["total_return"] == pytest.approx(0.2, rel=1e-12)
    assert main["final_equity"] == 120.0
    assert main["cagr"] == pytest.approx(math.sqrt(1.2) - 1, rel=1e-12)  # 0.0954451...
    assert main["volatility"] == pytest.approx(math.sqrt(var) * math.sqrt(ppy), rel=1e-12)
    assert main["sharpe"] == pytest.approx(mean / math.sqrt(var) * math.sqrt(ppy), rel=1e-12)
    # downside deviation: sqrt((0 + 0 + 0.01 + 0) / 4) = 0.05
    assert main["sortino"] == pytest.approx(mean / 0.05 * math.sqrt(ppy), rel=1e-12)
    # peaks 100, 110, 110, 120 -> drawdowns 0, 0, 0.1, 0
    assert main["max_drawdown"] == pytest.approx(0.1, rel=1e-12)
    assert main["max_drawdown_duration"] == 1.0
    assert main["calmar"] == pytest.approx((math.sqrt(1.2) - 1) / 0.1, rel=1e-12)
    assert main["n_trades"] == 3.0
    assert main["win_rate"] == pytest.approx(2 / 3)
    assert main["profit_factor"] == pytest.approx(30 / 5)
    assert main["avg_trade_return"] == pytest.approx(0.25 / 3)
    assert main["exposure"] == 0.5
    assert main["buy_hold_return"] == pytest.approx(0.25)


def test_sharpe_and_sortino_with_risk_free():
    # returns 0.1, 0.3 (equity 110, 143); ppy 4 given; rf 0.4/yr -> 0.1 per bar
    m = run([110, 143], (0, 1), periods_per_year=4, risk_free=0.4)
    # excess mean 0.1, std(ddof=1) of (0.1, 0.3) = sqrt(0.02) ; sqrt(4) = 2
    assert m["sharpe"] == pytest.approx(0.1 / math.sqrt(0.02) * 2, rel=1e-12)
    # excess returns 0.0, 0.2: no downside -> NaN
    assert math.isnan(m["sortino"])
    assert m["volatility"] == pytest.approx(math.sqrt(0.02) * 2, rel=1e-12)
    assert m["periods_per_year"] == 4.0


def test_drawdown_counts_from_starting_cash_and_longest_run():
    # cash 100; equity starts below it: peaks 100,100,100,105,105,105,105
    m = run([95, 90, 100, 105, 104, 103, 106], range(7))
    assert m["max_drawdown"] == pytest.approx(0.10, rel=1e-12)  # 90 vs 100
    # under water at bars 0,1 (run 2) then 4,5 (run 2); bar 2 equals the peak -> not under
    assert m["max_drawdown_duration"] == 2.0
    m = run([99, 98, 97, 101], range(4))
    assert m["max_drawdown_duration"] == 3.0
    assert m["max_drawdown"] == pytest.approx(0.03, rel=1e-12)


def test_periods_per_year_from_the_data():
    # 505 bars over 730.5 days (2 years) -> 252.5 per year; given value wins
    eq = np.full(505, 100.0)
    days = np.linspace(0, 730.5, 505)
    assert run(eq, days)["periods_per_year"] == pytest.approx(252.5, rel=1e-12)
    assert run(eq, days, periods_per_year=12)["periods_per_year"] == 12.0


def test_flat_equity_no_trades():
    m = run([100, 100, 100], (0, 1, 2))
    assert m["total_return"] == 0.0
    assert m["cagr"] == 0.0
    assert m["volatility"] == 0.0
    assert math.isnan(m["sharpe"])
    assert math.isnan(m["sortino"])
    assert m["max_drawdown"] == 0.0
    assert m["max_drawdown_duration"] == 0.0
    assert math.isnan(m["calmar"])
    assert m["n_trades"] == 0.0
    for key in ("win_rate", "profit_factor", "avg_trade_return"):
        assert math.isnan(m[key]), key
    assert m["exposure"] == 0.0
    assert m["buy_hold_return"] == 0.0


def test_one_bar():
    m = run([90], (0,), close=[5.0])
    assert m["periods_per_year"] == 252.0  # the data spans no time
    assert math.isnan(m["cagr"])
    assert math.isnan(m["volatility"])
    assert math.isnan(m["sharpe"])
    # single return -0.1: downside sqrt(0.01) = 0.1 -> -0.1 / 0.1 * sqrt(252)
    assert m["sortino"] == pytest.approx(-math.sqrt(252), rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(0.1, rel=1e-12)
    assert m["max_drawdown_duration"] == 1.0
    assert math.isnan(m["calmar"])
    assert m["total_return"] == pytest.approx(-0.1, rel=1e-12)
    assert m["buy_hold_return"] == 0.0


def test_all_wins_and_all_losses():
    m = run([100, 110], (0, 1), pnl=[3.0, 7.0], ret=[0.03, 0.07])
    assert m["win_rate"] == 1.0
    assert m["profit_factor"] == math.inf
    assert m["avg_trade_return"] == pytest.approx(0.05)
    m = run([100, 90], (0, 1), pnl=[-3.0, -7.0], ret=[-0.03, -0.07])
    assert m["win_rate"] == 0.0
    assert m["profit_factor"] == 0.0
    # a zero-pnl trade is neither a win nor a loss
    m = run([100, 100], (0, 1), pnl=[0.0], ret=[0.0])
    assert m["win_rate"] == 0.0
    assert math.isnan(m["profit_factor"])


def test_wiped_out_equity_is_ruined_and_growth_is_undefined():
    # the cagr function alone says -1 for a final equity of 0, but across a ruin compute_metrics
    # presents no growth rate, volatility, Sharpe, Sortino or Calmar (the contract: NaN/null)
    assert metrics_module.cagr(0.0, 100.0, 1.0) == -1.0
    m = run([50, 0.0], (0, 365.25))
    assert m["ruined"] == 1.0
    assert m["total_return"] == -1.0 and m["final_equity"] == 0.0
    assert m["max_drawdown"] == 1.0
    for key in ("cagr", "volatility", "sharpe", "sortino", "calmar"):
        assert math.isnan(m[key]), key
    assert set(metrics_module.RUIN_UNDEFINED) == {"cagr", "volatility", "sharpe", "sortino",
                                                  "calmar"}  # fmt: skip


def test_ruined_curve_by_hand():
    # cash 100: 120, 60, then ruined (0) and flat at 0 for two more bars; 1 year, ppy 5 given.
    m = run(
        [120, 60, 0, 0, 0],
        (0, 91.3125, 182.625, 273.9375, 365.25),
        pnl=[20.0, -120.0],
        ret=[0.2, -1.0],
        position=[1, 1, 0, 0, 0],
        periods_per_year=5,
    )
    assert m["ruined"] == 1.0
    assert m["total_return"] == -1.0
    # peaks 120 from bar 0; under water from bar 1 to the end: 4 bars; deepest 1 - 0/120 = 1
    assert m["max_drawdown"] == 1.0 and m["max_drawdown_duration"] == 4.0
    assert m["n_trades"] == 2.0 and m["win_rate"] == 0.5 and m["profit_factor"] == 20 / 120
    assert m["exposure"] == pytest.approx(2 / 5)
    for key in metrics_module.RUIN_UNDEFINED:
        assert math.isnan(m[key]), key
    # the returns after the ruin are 0 (an empty account does not move), not 0/0
    r = metrics_module.returns(np.array([120.0, 60.0, 0.0, 0.0, 0.0]), 100.0)
    assert r.tolist() == pytest.approx([0.2, -0.5, -1.0, 0.0, 0.0])


def test_not_ruined_curves_say_so(main):
    assert main["ruined"] == 0.0
    assert run([100, 0.01], (0, 1))["ruined"] == 0.0  # close to zero is not zero
    assert metrics_module.ruin_index(np.array([5.0, -1.0, 3.0])) == 1  # below zero counts too


def test_short_exposure_and_datetime_index():
    idx = pd.DatetimeIndex(["2021-01-01", "2021-07-02 15:00", "2022-01-01"])
    m = compute_metrics(
        MetricInputs(
            np.array([100.0, 100.0, 100.0]),
            idx,
            np.array([]),
            np.array([]),
            np.array([-3.0, 0.0, 2.0]),
            np.array([1.0, 2.0, 4.0]),
            100.0,
        )
    )
    assert m["exposure"] == pytest.approx(2 / 3)
    assert m["buy_hold_return"] == 3.0
    # 365 days = 365/365.25 years, 3 bars
    assert m["periods_per_year"] == pytest.approx(3 / (365 / 365.25), rel=1e-12)


def test_empty_equity_is_a_clean_error():
    with pytest.raises(DataError, match="empty equity"):
        empty = np.array([])
        compute_metrics(
            MetricInputs(empty, np.array([], "datetime64[ns]"), empty, empty, empty, empty, 100.0)
        )


def test_docstring_examples():
    result = doctest.testmod(metrics_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted >= 21  # every metric function carries an example
