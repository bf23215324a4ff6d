"""Performance metrics: one small pure numpy function per metric, composed by compute_metrics.

Definitions (DESIGN.md "Metrics"); the fused sweep kernel reproduces them:

- equity is marked to market at each bar's close (n values); ``cash`` is the starting cash.
- returns ``r_t = equity_t / equity_{t-1} - 1`` with ``equity_{-1} = cash`` (n returns).
- years = calendar time from the first to the last bar in 365.25-day years.
- periods per year: given, else ``n / years`` (252 when the data spans no time).
- drawdown ``1 - equity_t / max(cash, max(equity_0..t))``, a fraction >= 0.
- NaN marks an undefined value (e.g. Sharpe of a flat equity curve, win rate with no trades).
- ruin: equity at or below 0 at some bar. The engine then closes everything and stays flat at
  equity 0 to the end (DESIGN.md "Ruin"); ``ruined`` is 1.0 (else 0.0), total_return is -1,
  max_drawdown 1, and the metrics of :data:`RUIN_UNDEFINED` are NaN: a Sharpe, volatility or
  growth rate computed across a ruin describes no account anyone could hold. After a ruin the
  returns are 0 (an empty account does not move: 0 / 0 is taken as 0).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from engine.errors import DataError
from engine.sim import metric_registry

# The metrics row (names and order) and the ruin-undefined set come from the registry.
METRIC_NAMES: tuple[str, ...] = metric_registry.ROW_NAMES
# Not meaningful across a ruin: NaN in a ruined run's metrics (single runs and sweeps alike).
RUIN_UNDEFINED: tuple[str, ...] = metric_registry.RUIN_UNDEFINED
SECONDS_PER_YEAR = 365.25 * 86400.0
DEFAULT_PERIODS_PER_YEAR = 252.0


def returns(equity: np.ndarray, cash: float) -> np.ndarray:
    """Per-bar simple returns, the first one against the starting cash; 0 after a ruin
    (previous equity 0).

    >>> returns(np.array([100.0, 110.0, 99.0]), 100.0).round(12).tolist()
    [0.0, 0.1, -0.1]
    >>> returns(np.array([100.0, 0.0, 0.0]), 100.0).tolist()
    [0.0, -1.0, 0.0]
    """
    eq = np.asarray(equity, dtype=np.float64)
    prev = np.concatenate(([float(cash)], eq[:-1]))
    zero = prev == 0.0
    if not zero.any():
        return eq / prev - 1.0
    out = np.divide(eq, prev, out=np.ones_like(eq), where=~zero)
    return out - 1.0


def ruin_index(equity: np.ndarray) -> int:
    """Index of the first bar with equity <= 0 (the ruin), or -1 when there is none.

    >>> ruin_index(np.array([100.0, 40.0, 0.0, 0.0])), ruin_index(np.array([100.0, 1.0]))
    (2, -1)
    """
    below = np.asarray(equity) <= 0.0
    return int(np.argmax(below)) if below.any() else -1


def years_between(timestamps: ArrayLike) -> float:
    """Calendar years (365.25 days) from the first to the last timestamp; 0.0 for < 2 values.

    >>> years_between(np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[ns]"))
    1.002053388090349
    """
    ts = np.asarray(timestamps)
    if ts.size < 2:
        return 0.0
    first, last = ts[[0, -1]].astype("datetime64[ns]")
    seconds = (last - first) / np.timedelta64(1, "s")
    return float(seconds) / SECONDS_PER_YEAR


def annual_periods(n_bars: int, years: float, given: float | None = None) -> float:
    """``given`` if set, else bars per calendar year (``n / years``), else 252.

    >>> annual_periods(504, 2.0), annual_periods(10, 0.0), annual_periods(10, 1.0, 12)
    (252.0, 252.0, 12.0)
    """
    if given is not None:
        return float(given)
    if years <= 0.0:
        return DEFAULT_PERIODS_PER_YEAR
    return n_bars / years


def total_return(final: float, cash: float) -> float:
    """``final / cash - 1``.

    >>> total_return(120.0, 100.0)
    0.19999999999999996
    """
    return final / cash - 1.0


def cagr(final: float, cash: float, years: float) -> float:
    """Compound annual growth rate; NaN when ``years <= 0``, -1.0 when ``final <= 0``.

    >>> round(cagr(121.0, 100.0, 2.0), 12), cagr(0.0, 100.0, 1.0), cagr(110.0, 100.0, 0.0)
    (0.1, -1.0, nan)
    """
    if years <= 0.0:
        return math.nan
    if final <= 0.0:
        return -1.0
    return float((final / cash) ** (1.0 / years) - 1.0)


def volatility(r: np.ndarray, ppy: float) -> float:
    """Annualised ``std(r, ddof=1) * sqrt(ppy)``; NaN for fewer than 2 returns.

    >>> round(volatility(np.array([0.0, 0.1, -0.1]), 4.0), 12)
    0.2
    """
    if r.size < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(ppy))


def sharpe(r: np.ndarray, ppy: float, risk_free: float = 0.0) -> float:
    """``(mean(r) - rf/ppy) / std(r, ddof=1) * sqrt(ppy)``; NaN if std is 0 or n < 2.

    >>> round(sharpe(np.array([0.1, 0.3]), 4.0), 12)
    2.828427124746
    """
    if r.size < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    if sd == 0.0:
        return math.nan
    return float((np.mean(r) - risk_free / ppy) / sd * math.sqrt(ppy))


def sortino(r: np.ndarray, ppy: float, risk_free: float = 0.0) -> float:
    """``(mean(r) - rf/ppy) / sqrt(mean(min(r - rf/ppy, 0)**2)) * sqrt(ppy)``; NaN if the
    downside deviation is 0.

    >>> round(sortino(np.array([0.2, -0.1]), 4.0), 12)  # 0.05 / sqrt(0.01 / 2) * 2
    1.414213562373
    """
    excess = r - risk_free / ppy
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside == 0.0:
        return math.nan
    return float(np.mean(excess) / downside * math.sqrt(ppy))


def drawdown(equity: np.ndarray, cash: float) -> np.ndarray:
    """``1 - equity_t / max(cash, running max of equity)``: fractions >= 0.

    >>> drawdown(np.array([90.0, 120.0, 90.0, 130.0]), 100.0).round(12).tolist()
    [0.1, 0.0, 0.25, 0.0]
    """
    eq = np.asarray(equity, dtype=np.float64)
    out = np.maximum.accumulate(np.maximum(eq, float(cash)))  # the running peak
    np.divide(eq, out, out=out)
    return np.subtract(1.0, out, out=out)


def max_drawdown(dd: np.ndarray) -> float:
    """Largest drawdown (>= 0; 0.0 for an empty series).

    >>> max_drawdown(np.array([0.1, 0.0, 0.25, 0.0]))
    0.25
    """
    return float(max(np.max(dd), 0.0)) if dd.size else 0.0


def max_drawdown_duration(dd: np.ndarray) -> int:
    """Longest run of consecutive bars with drawdown > 0, in bars.

    >>> max_drawdown_duration(np.array([0.0, 0.1, 0.2, 0.0, 0.1, 0.0]))
    2
    """
    under = np.concatenate(([0], (np.asarray(dd) > 0.0).view(np.int8), [0]))
    edges = np.flatnonzero(np.diff(under))  # alternating run starts and run ends
    if edges.size == 0:
        return 0
    return int(np.max(edges[1::2] - edges[::2]))


def calmar(cagr_value: float, max_dd: float) -> float:
    """``cagr / max_drawdown``; NaN when the max drawdown is 0.

    >>> calmar(0.2, 0.1), calmar(0.2, 0.0)
    (2.0, nan)
    """
    if max_dd == 0.0:
        return math.nan
    return cagr_value / max_dd


def win_rate(trade_pnl: np.ndarray) -> float:
    """Share of trades with pnl > 0; NaN when there are no trades.

    >>> win_rate(np.array([5.0, -2.0, 0.0, 1.0]))
    0.5
    """
    if trade_pnl.size == 0:
        return math.nan
    return float(np.mean(trade_pnl > 0.0))


def profit_factor(trade_pnl: np.ndarray) -> float:
    """Gross profit / gross loss; inf with profit and no loss; NaN with neither.

    >>> profit_factor(np.array([6.0, -2.0, -1.0])), profit_factor(np.array([1.0]))
    (2.0, inf)
    """
    gross_profit = float(np.sum(trade_pnl[trade_pnl > 0.0]))
    gross_loss = -float(np.sum(trade_pnl[trade_pnl < 0.0]))
    if gross_loss > 0.0:
        return gross_profit / gross_loss
    return math.inf if gross_profit > 0.0 else math.nan


def avg_trade_return(trade_return: np.ndarray) -> float:
    """Mean trade return; NaN when there are no trades.

    >>> round(avg_trade_return(np.array([0.1, -0.05, 0.25])), 12)
    0.1
    """
    if trade_return.size == 0:
        return math.nan
    return float(np.mean(trade_return))


def exposure(position: np.ndarray) -> float:
    """Share of bars whose close-of-bar position is non-zero.

    >>> exposure(np.array([0.0, 1.5, -2.0, 0.0]))
    0.5
    """
    return float(np.mean(np.asarray(position) != 0.0)) if np.size(position) else math.nan


def buy_hold_return(close: np.ndarray) -> float:
    """``close[-1] / close[0] - 1`` (the benchmark's equity is ``cash * close / close[0]``).

    >>> buy_hold_return(np.array([50.0, 40.0, 75.0]))
    0.5
    """
    return float(close[-1] / close[0] - 1.0)


class MetricInputs(NamedTuple):
    """What the metrics of one run are computed from (DESIGN.md "Metrics")."""

    equity: np.ndarray  # equity at each bar's close (n values)
    timestamps: ArrayLike  # the n bar times
    trade_pnl: np.ndarray  # one per closed trade
    trade_return: np.ndarray  # one per closed trade
    position: np.ndarray  # close-of-bar position (n values)
    close: np.ndarray  # close prices (n values)
    cash: float  # starting cash


def compute_metrics(
    inputs: MetricInputs,
    periods_per_year: float | None = None,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """Every metric of METRIC_NAMES, in that order, as floats (NaN where undefined).

    A curve that reaches equity <= 0 is ruined: ``ruined`` = 1.0 and the metrics of
    RUIN_UNDEFINED are NaN (the others are computed from the curve as given; for the engine's
    curves, floored at 0 from the ruin on, total_return is -1 and max_drawdown 1).

    >>> m = compute_metrics(MetricInputs(np.array([100.0, 110.0]),
    ...     np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]"),
    ...     np.array([10.0]), np.array([0.1]), np.array([1.0, 1.0]), np.array([5.0, 5.5]), 100.0),
    ...     periods_per_year=252)
    >>> round(m["total_return"], 12), m["n_trades"], m["win_rate"], round(m["buy_hold_return"], 12)
    (0.1, 1.0, 1.0, 0.1)
    >>> m = compute_metrics(MetricInputs(np.array([100.0, 0.0]),
    ...     np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[ns]"),
    ...     np.array([-100.0]), np.array([-1.0]), np.array([1.0, 0.0]), np.array([5.0, 9.0]),
    ...     100.0))
    >>> m["ruined"], m["total_return"], m["max_drawdown"], m["sharpe"], m["cagr"]
    (1.0, -1.0, 1.0, nan, nan)
    """
    equity, timestamps, trade_pnl, trade_return, position, close, cash = inputs
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        raise DataError("cannot compute metrics of an empty equity curve (no bars)")
    pnl = np.asarray(trade_pnl, dtype=np.float64)
    n_years = years_between(timestamps)
    ppy = annual_periods(eq.size, n_years, periods_per_year)
    r = returns(eq, cash)
    dd = drawdown(eq, cash)
    final = float(eq[-1])
    growth = cagr(final, cash, n_years)
    mdd = max_drawdown(dd)
    values = {
        "total_return": total_return(final, cash),
        "cagr": growth,
        "volatility": volatility(r, ppy),
        "sharpe": sharpe(r, ppy, risk_free),
        "sortino": sortino(r, ppy, risk_free),
        "max_drawdown": mdd,
        "max_drawdown_duration": max_drawdown_duration(dd),
        "calmar": calmar(growth, mdd),
        "n_trades": pnl.size,
        "win_rate": win_rate(pnl),
        "profit_factor": profit_factor(pnl),
        "avg_trade_return": avg_trade_return(np.asarray(trade_return, dtype=np.float64)),
        "exposure": exposure(np.asarray(position, dtype=np.float64)),
        "final_equity": final,
        "buy_hold_return": buy_hold_return(np.asarray(close, dtype=np.float64)),
        "periods_per_year": ppy,
        "ruined": 0.0,
    }
    if ruin_index(eq) >= 0:
        values["ruined"] = 1.0
        values.update(dict.fromkeys(RUIN_UNDEFINED, math.nan))
    return {k: float(values[k]) for k in METRIC_NAMES}
