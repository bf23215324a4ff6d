"""An independent pure-Python/numpy reference of DESIGN.md's simulation semantics.

Nothing here calls the engine's kernels or indicators: the SMA, the sma_cross target and the
bar loop are re-implemented below, then compared with ``run_backtest``. Small hand-computed
cases pin fees, slippage, lot sizes and stops with numbers worked out on paper.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine import run_backtest

# ------------------------------------------------------------------------------ reference


def ref_sma(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of each full window (numpy sliding windows), NaN before the first full one."""
    out = np.full(x.shape[0], np.nan)
    out[window - 1 :] = np.lib.stride_tricks.sliding_window_view(x, window).mean(axis=1)
    return out


def ref_sma_cross_target(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """Long while SMA(fast) > SMA(slow) (ties within 1e-12 relative are not a cross), flat
    otherwise, and flat while SMA(slow) is undefined: the first ``slow - 1`` bars (DESIGN.md's
    warm-up; on bar ``slow - 1`` the rule acts)."""
    f, s = ref_sma(close, fast), ref_sma(close, slow)
    target = np.zeros(close.shape[0])
    for i in range(slow - 1, close.shape[0]):
        if f[i] - s[i] > 1e-12 * max(abs(f[i]), abs(s[i])):
            target[i] = 1.0
    return target


def decisive(close: np.ndarray, fast: int, slow: int) -> bool:
    """False when some bar's |SMA(fast) - SMA(slow)| lies within 1e-13 (relative) of the 1e-12
    tie tolerance: there rounding, not the semantics, decides the target (hypothesis found
    closes stepping by 1e-12), so two correct implementations may disagree."""
    f, s = ref_sma(close, fast)[slow - 1 :], ref_sma(close, slow)[slow - 1 :]
    scale = np.maximum(np.abs(f), np.abs(s))
    return bool(np.all(np.abs(np.abs(f - s) - 1e-12 * scale) > 1e-13 * scale))


@dataclass
class Costs:
    cash: float = 100_000.0
    commission: float = 0.001
    fee: float = 0.0
    slippage_bps: float = 0.0
    lot_size: float = 0.0


@dataclass
class Book:
    """Account state of the reference: cash, signed position, open trade's entry data."""

    costs: Costs
    cash: float
    side: int = 0
    units: float = 0.0
    entry_price: float = 0.0
    entry_cash_flow: float = 0.0
    trades: list[float] | None = None  # pnl of each finished trade

    def price(self, raw: float, buying: bool) -> float:
        slip = self.costs.slippage_bps / 10_000.0
        return raw * (1.0 + slip) if buying else raw * (1.0 - slip)

    def open(self, side: int, raw: float) -> None:
        c, fee = self.costs.commission, self.costs.fee
        p = self.price(raw, buying=side > 0)
        units = (self.cash - fee) / (p * (1.0 + c))
        if self.costs.lot_size > 0:
            units = math.floor(units / self.costs.lot_size) * self.costs.lot_size
        if units <= 0:
            return  # cannot afford one unit / one lot: skipped
        flow = -(units * p * (1 + c) + fee) if side > 0 else units * p * (1 - c) - fee
        self.cash += flow
        self.side, self.units, self.entry_price, self.entry_cash_flow = side, units, p, flow

    def close(self, raw: float) -> None:
        c, fee = self.costs.commission, self.costs.fee
        p = self.price(raw, buying=self.side < 0)
        if self.side > 0:
            flow = self.units * p * (1 - c) - fee
        else:
            flow = -(self.units * p * (1 + c) + fee)
        self.cash += flow
        assert self.trades is not None
        self.trades.append(self.entry_cash_flow + flow)
        self.side, self.units = 0, 0.0

    def equity(self, close: float) -> float:
        return self.cash + self.side * self.units * close


def reference_backtest(
    bars: pd.DataFrame, target: np.ndarray, costs: Costs, fill: str
) -> tuple[int, float]:
    """(number of trades incl. one still open, final equity) of a long-only run, no stops."""
    book = Book(costs, costs.cash, trades=[])
    o, c = bars["open"].to_numpy(), bars["close"].to_numpy()
    for t in range(len(bars)):
        if fill == "next_open":
            if t == 0:
                continue
            want, raw = int(target[t - 1]), o[t]
        else:
            want, raw = int(target[t]), c[t]
        if want != book.side:
            if book.side != 0:
                book.close(raw)
            if want != 0:
                book.open(want, raw)
    open_trade = 1 if book.side != 0 else 0
    assert book.trades is not None
    return len(book.trades) + open_trade, book.equity(c[-1])


# ------------------------------------------------------------------------------ generated paths


@st.composite
def price_paths(draw: st.DrawFn) -> pd.DataFrame:
    """Positive OHLC bars: high >= max(open, close), low <= min(open, close); 60..400 bars.

    No limit on the price range: with a trend the log-price moves up to 0.1 a bar, so a path
    can rise or fall by a factor of e^40 (crashes followed by flat closes are where a plain
    running-sum SMA used to see fast > slow on equal values).
    """
    n = draw(st.integers(60, 400))
    trend = draw(st.sampled_from([0.0, 0.0, -0.05, 0.05]))
    rets = draw(arrays(np.float64, n, elements=st.floats(-0.08, 0.08)))
    gaps = draw(arrays(np.float64, n, elements=st.floats(-0.03, 0.03)))
    wick = draw(arrays(np.float64, 2 * n, elements=st.floats(0.0, 0.05)))
    start = draw(st.floats(1.0, 1000.0))
    close = start * np.exp(np.cumsum(np.clip(rets + trend, -0.1, 0.1)))
    open_ = np.empty(n)
    open_[0] = start
    open_[1:] = close[:-1] * np.exp(gaps[1:])
    high = np.maximum(open_, close) * (1.0 + wick[:n])
    low = np.minimum(open_, close) * (1.0 - wick[n:] / 2.0)
    index = pd.date_range("2020-01-01", periods=n, freq="D", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 0.0}, index=index
    )


@st.composite
def windows(draw: st.DrawFn) -> tuple[int, int]:
    fast = draw(st.integers(1, 30))
    slow = draw(st.integers(fast + 1, 59))
    return fast, slow


def _agree(bars: pd.DataFrame, fast: int, slow: int, costs: Costs, fill: str) -> None:
    target = ref_sma_cross_target(bars["close"].to_numpy(), fast, slow)
    n_ref, final_ref = reference_backtest(bars, target, costs, fill)
    res = run_backtest(
        bars,
        "sma_cross",
        {"fast": fast, "slow": slow},
        cash=costs.cash,
        commission=costs.commission,
        fee=costs.fee,
        slippage_bps=costs.slippage_bps,
        lot_size=costs.lot_size,
        fill=fill,
    )
    assert res.metrics["n_trades"] == n_ref == len(res.trades)
    assert res.metrics["final_equity"] == pytest.approx(final_ref, rel=1e-9, abs=1e-9)


# More examples for a local hunt:
#   REFERENCE_EXAMPLES=2000 .venv/bin/pytest tests/engine/test_reference.py
EXAMPLES = int(os.environ.get("REFERENCE_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("fill", ["next_open", "close"])
@SETTINGS
@given(bars=price_paths(), fs=windows(), commission=st.sampled_from([0.0, 0.001, 0.0025]))
def test_sma_cross_matches_reference(
    fill: str, bars: pd.DataFrame, fs: tuple[int, int], commission: float
) -> None:
    assume(decisive(bars["close"].to_numpy(), *fs))
    _agree(bars, *fs, Costs(commission=commission), fill)


@pytest.mark.parametrize("fill", ["next_open", "close"])
@settings(
    max_examples=max(EXAMPLES // 2, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    bars=price_paths(),
    fs=windows(),
    fee=st.sampled_from([0.0, 5.0]),
    slippage=st.sampled_from([0.0, 3.0, 25.0]),
    lot=st.sampled_from([0.0, 1.0, 10.0]),
)
def test_costs_and_lots_match_reference(
    fill: str, bars: pd.DataFrame, fs: tuple[int, int], fee: float, slippage: float, lot: float
) -> None:
    assume(decisive(bars["close"].to_numpy(), *fs))
    _agree(bars, *fs, Costs(fee=fee, slippage_bps=slippage, lot_size=lot), fill)


def test_flat_close_after_a_crash_is_no_cross() -> None:
    # found by the hypothesis run above: after a x10^4 fall a plain running-sum SMA(1) came
    # out above SMA(2) on a flat last close (fast == slow exactly), and went long
    close = np.exp(np.cumsum(np.full(156, -0.0625)))
    close[-1] = close[-2]
    bars = frame([(c, c, c, c) for c in close])
    assert ref_sma_cross_target(close, 1, 2)[-1] == 0.0
    for fill in ("next_open", "close"):
        res = run_backtest(bars, "sma_cross", {"fast": 1, "slow": 2}, commission=0, fill=fill)
        assert res.metrics["n_trades"] == 0  # a falling close never crosses up
        assert res.equity["position"].tolist() == [0.0] * 156
    _agree(bars, 1, 2, Costs(), "close")


def test_decisive_flags_only_near_tolerance_ties() -> None:
    steps = 1.0 + 1e-12 * np.arange(60.0)  # SMA(5) - SMA(7) = 1e-12: on the tolerance
    assert not decisive(steps, 5, 7)
    assert decisive(np.full(60, 3.0), 5, 7)  # exact ties are decisive (no cross)
    assert decisive(1.0 + 1e-9 * np.arange(60.0), 5, 7)


def test_reference_sma_is_a_plain_mean() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    assert np.allclose(ref_sma(x, 2)[1:], [1.5, 2.5, 3.5, 5.0])
    assert np.isnan(ref_sma(x, 2)[0])


# ------------------------------------------------------------------------------ hand-computed


def frame(rows: Sequence[Sequence[float]]) -> pd.DataFrame:
    """Bars from (open, high, low, close) tuples, one day apart."""
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    index = pd.date_range("2021-01-04", periods=len(rows), freq="D", name="timestamp")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 0.0}, index=index)


def test_fee_and_commission_next_open() -> None:
    # buy_and_hold: target 1 from bar 0, filled at bar 1's open (10).
    # units = (1000 - fee 1) / (10 * 1.01) = 999 / 10.1; cash left = 0; valued at 12.5.
    bars = frame([(10, 10, 10, 10), (10, 11, 10, 11), (11, 12, 11, 12), (12, 13, 12, 12.5)])
    res = run_backtest(bars, "buy_and_hold", cash=1000, commission=0.01, fee=1)
    t = res.trades.iloc[0]
    assert t["units"] == pytest.approx(999 / 10.1, rel=1e-12)
    assert t["entry_price"] == 10
    assert res.metrics["final_equity"] == pytest.approx(999 / 10.1 * 12.5, rel=1e-12)
    assert t["pnl"] == pytest.approx(999 / 10.1 * 12.5 - 1000, rel=1e-12)
    assert t["exit_reason"] == "open" and pd.isna(t["exit_time"])
    assert res.equity["position"].tolist()[0] == 0.0


def test_slippage_close_fill_round_trip() -> None:
    # sma_cross(1, 2) is long while close[t] > close[t-1] (from bar 2): targets 0,0,1,0,1,1.
    # fill=close with 100 bps: buy 12*1.01, sell 11*0.99, buy 13*1.01, hold to 14.
    closes = [10, 10, 12, 11, 13, 14]
    bars = frame([(c, c, c, c) for c in closes])
    res = run_backtest(
        bars, "sma_cross", {"fast": 1, "slow": 2}, cash=1000, commission=0, slippage_bps=100,
        fill="close",
    )  # fmt: skip
    after_first = 1000 / 12.12 * 10.89
    assert len(res.trades) == 2
    assert res.trades["entry_price"].tolist() == pytest.approx([12.12, 13.13])
    assert res.trades["pnl"].iloc[0] == pytest.approx(after_first - 1000, rel=1e-12)
    assert res.metrics["final_equity"] == pytest.approx(after_first / 13.13 * 14, rel=1e-12)


def test_lot_size_rounds_down() -> None:
    # 1000 cash at 10: 100 units affordable, lots of 30 -> 90 units, 100 cash left.
    bars = frame([(10, 10, 10, 10), (10, 10, 10, 10), (10, 12, 10, 12)])
    res = run_backtest(bars, "buy_and_hold", cash=1000, commission=0, lot_size=30)
    assert res.trades["units"].tolist() == [90]
    assert res.metrics["final_equity"] == pytest.approx(100 + 90 * 12, rel=1e-12)


def test_lot_size_skips_until_one_lot_is_affordable() -> None:
    # lot 200: at open 10 only 100 units, at 6 only 166 -> skipped; at 4, 250 -> 200 units.
    bars = frame([(10, 10, 10, 10), (10, 10, 8, 8), (6, 6, 5, 5), (4, 5, 4, 4.5)])
    res = run_backtest(bars, "buy_and_hold", cash=1000, commission=0, lot_size=200)
    assert len(res.trades) == 1
    assert res.trades["entry_time"].iloc[0] == bars.index[3]
    assert res.metrics["final_equity"] == pytest.approx(200 + 200 * 4.5, rel=1e-12)


@pytest.mark.parametrize(
    ("bar2", "expected_exit"),
    [
        ((95, 96, 88, 92), 90.0),  # touched intrabar: filled at the level 100 * 0.9
        ((85, 88, 84, 86), 85.0),  # opened below the level: filled at the open
    ],
)
def test_stop_loss_long(bar2: tuple[float, ...], expected_exit: float) -> None:
    # enter at bar 1's open 100 with 1000 cash (10 units); stop level 90.
    rows = [(100, 100, 100, 100), (100, 101, 98, 99), bar2, (90, 95, 89, 94)]
    res = run_backtest(frame(rows), "buy_and_hold", cash=1000, commission=0, stop_loss=10)
    assert len(res.trades) == 1  # buy_and_hold keeps asking for 1: no re-entry after the stop
    t = res.trades.iloc[0]
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == pytest.approx(expected_exit)
    assert res.metrics["final_equity"] == pytest.approx(10 * expected_exit, rel=1e-12)


@pytest.mark.parametrize(
    ("bar2", "reason", "expected_exit"),
    [
        ((105, 112, 101, 108), "take_profit", 110.0),  # level 100 * 1.1
        ((115, 118, 113, 116), "take_profit", 115.0),  # gapped above: the open
        ((100, 111, 89, 100), "stop_loss", 90.0),  # both touched: the stop-loss first
    ],
)
def test_take_profit_and_both_touched(
    bar2: tuple[float, ...], reason: str, expected_exit: float
) -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), bar2, (100, 100, 100, 100)]
    res = run_backtest(
        frame(rows), "buy_and_hold", cash=1000, commission=0, stop_loss=10, take_profit=10
    )
    t = res.trades.iloc[0]
    assert (t["exit_reason"], t["exit_price"]) == (reason, pytest.approx(expected_exit))
    assert res.metrics["final_equity"] == pytest.approx(10 * expected_exit, rel=1e-12)


def test_short_stop_loss_close_fill() -> None:
    # sma_cross(1, 2) with shorts: close 9 < 10 at bar 2 -> short at 9: 1000/9 units, proceeds
    # 1000. Bar 3's high 10 >= 9 * 1.1 = 9.9 -> covered at 9.9, cost 1100 -> cash 900. The
    # target stays -1 (closes keep falling), so the position stays flat.
    rows = [(10, 10, 10, 10), (10, 10, 10, 10), (10, 10, 9, 9), (9.5, 10, 8.5, 8.5), (8, 8, 8, 8)]
    res = run_backtest(
        frame(rows), "sma_cross", {"fast": 1, "slow": 2}, cash=1000, commission=0, fill="close",
        allow_short=True, stop_loss=10,
    )  # fmt: skip
    assert res.trades["side"].tolist() == ["short"]
    t = res.trades.iloc[0]
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == pytest.approx(9.9)
    assert t["pnl"] == pytest.approx(-100, rel=1e-12)
    assert res.metrics["final_equity"] == pytest.approx(900, rel=1e-12)
    assert res.equity["position"].tolist() == pytest.approx([0, 0, -1000 / 9, 0, 0])


def test_reentry_after_stop_needs_a_target_change() -> None:
    # sma_cross(1, 2), next_open: targets from bar 2 are 1 (up), 1, 0 (down), 1 (up).
    # Long at bar 3's open 100 (10 units); bar 3 low 85 < 90 -> stopped at 90 (cash 900).
    # Bar 4 (target 1 still) stays flat; bar 5 (target 0) flat; bar 6 re-enters at 80.
    rows = [
        (100, 100, 100, 100),
        (100, 100, 100, 100),
        (100, 101, 100, 101),  # up -> target 1
        (100, 103, 85, 102),  # filled at 100, stopped at 90; up -> target 1
        (95, 105, 94, 103),  # blocked; up -> target 1
        (90, 92, 88, 90),  # blocked; down -> target 0 (block cleared)
        (90, 92, 88, 91),  # flat; up -> target 1
        (80, 85, 79, 84),  # enter 900 / 80 = 11.25 units
    ]
    res = run_backtest(
        frame(rows), "sma_cross", {"fast": 1, "slow": 2}, cash=1000, commission=0, stop_loss=10
    )
    assert res.trades["exit_reason"].tolist() == ["stop_loss", "open"]
    assert res.trades["entry_price"].tolist() == [100, 80]
    assert res.metrics["final_equity"] == pytest.approx(11.25 * 84, rel=1e-12)
