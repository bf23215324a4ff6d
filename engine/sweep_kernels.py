# ruff: noqa: PLR0917  (numba kernels take their arrays positionally)
"""The sweep evaluator: many combinations on one price series, metrics + compact returns only.

:func:`evaluate` runs a list of parameter combinations of one strategy over one series of bars.
Indicator arrays are shared between combinations through the strategy's signal cache (bounded
by :class:`BoundedCache`), and each combination runs :func:`sweep_kernel`: the bar loop of
:func:`engine.kernels.simulate_metrics` (same fills, stops and online metrics, built from the
same compiled helpers) that additionally compounds the per-bar returns into at most
``n_periods`` contiguous periods, the rule of :func:`engine.robustness.aggregate_returns`
(period return = equity at the period's last bar / equity before its first bar - 1, which is
prod(1 + r) - 1 over its bars). Nothing per bar is kept: memory is the price arrays, the
indicator cache and ``n_combinations x (16 + n_periods)`` numbers.

:func:`run_sweep` is the Python API's sweep with the SweepSpec space syntax (``"5:50:5"``
inclusive ranges, ``"a,b,c"`` lists, ``{"start", "stop", "step"}``) as well as Python iterables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from engine import kernels as k
from engine.kernels import (
    ACC_SIZE,
    C_CASH,
    C_FILL_CLOSE,
    C_PPY,
    C_RISK_FREE,
    C_SHORT,
    C_STOP_LOSS,
    C_TAKE_PROFIT,
    EXIT_OPEN,
    EXIT_SIGNAL,
    METRIC_ORDER,
    STATS_SIZE,
    _close_trade,
    _enter,
    _exit,
    _finish_metrics,
    _flat_run,
    _side_of,
    _stop_exit,
)
from engine.spec import SimOptions
from engine.strategies import Bars, Strategy

RETURN_PERIODS = 64  # columns of the per-period return matrix kept for PBO
CACHE_BUDGET_BYTES = 96 * 2**20  # indicator arrays kept per price series (LRU)

_jit = njit(cache=True, nogil=True, error_model="numpy")


def period_edges(n_bars: int, n_periods: int = RETURN_PERIODS) -> np.ndarray:
    """Period boundaries (int64, length P + 1) exactly as :func:`aggregate_returns` cuts them."""
    if n_bars <= n_periods:
        return np.arange(n_bars + 1, dtype=np.int64)
    return np.linspace(0, n_bars, n_periods + 1).astype(np.int64)


@_jit
def _close_periods(t, eq, edges, periods, period, period_start_eq):
    """Book every period whose last bar is <= t at equity ``eq``; return (period, start eq).

    Equity is constant over a fast-forwarded flat stretch, so periods ending inside one get
    their return from the stretch's equity too.
    """
    last = edges.shape[0] - 1
    while period < last and edges[period + 1] - 1 <= t:
        periods[period] = eq / period_start_eq - 1.0
        period_start_eq = eq
        period += 1
    return period, period_start_eq


@_jit
def sweep_kernel(open_, high, low, close, target, cfg, edges, periods):
    """Simulate one combination; return its metrics row (METRIC_ORDER), fill ``periods``.

    ``periods[j]`` (a float32 or float64 row) gets the compounded return of bars
    ``edges[j]..edges[j+1]-1``. The loop is ``engine.kernels._run`` with ``record=False,
    with_stats=True`` (its flat-stretch fast-forward included), statement for statement, so the
    metrics are bit-identical to ``simulate_metrics`` / ``run_backtest`` (tests hold it to it).
    """
    empty2 = np.empty((0, 0))
    acc = np.zeros(ACC_SIZE)
    stats = np.zeros(STATS_SIZE)
    n = close.shape[0]
    if n == 0:
        return _finish_metrics(close, cfg, acc, stats)
    allow_short = cfg[C_SHORT] > 0.0
    fill_close = cfg[C_FILL_CLOSE] > 0.0
    stops = not (math.isnan(cfg[C_STOP_LOSS]) and math.isnan(cfg[C_TAKE_PROFIT]))
    rf_bar = cfg[C_RISK_FREE] / cfg[C_PPY]

    cash = cfg[C_CASH]
    side = 0
    units = 0.0
    entry_price = 0.0
    entry_flow = 0.0
    entry_idx = 0
    blocked = 0
    kk = 0

    prev_eq = cash
    peak = cash
    trough = cash
    s1 = 0.0
    s2 = 0.0
    down_sq = 0.0
    max_dd = 0.0
    run = 0
    max_run = 0
    exposed = 0
    eq = cash
    period = 0
    period_start_eq = cash
    next_end = edges[1] - 1

    t = -1
    while t < n - 1:
        t += 1
        c = close[t]
        if fill_close and stops and side != 0:
            hit, flow, kk = _stop_exit(t, side, units, entry_price, entry_flow, entry_idx,
                                       open_[t], high[t], low[t], cfg, False, empty2, acc,
                                       kk)  # fmt: skip
            if hit:
                cash += flow
                blocked = side
                side = 0
                units = 0.0
        if fill_close or t > 0:
            want = _side_of(target[t] if fill_close else target[t - 1], allow_short)
            if blocked != 0:
                if want == blocked:
                    want = 0
                else:
                    blocked = 0
            if want != side:
                raw = c if fill_close else open_[t]
                if side != 0:
                    px, flow = _exit(side, units, raw, cfg)
                    cash += flow
                    kk = _close_trade(False, empty2, kk, acc, side, units, entry_idx, t,
                                      entry_price, px, entry_flow, flow, EXIT_SIGNAL)  # fmt: skip
                    side = 0
                    units = 0.0
                if want != 0:
                    new_units, px, flow = _enter(cash, want, raw, cfg)
                    if new_units > 0.0:
                        cash += flow
                        side = want
                        units = new_units
                        entry_price = px
                        entry_flow = flow
                        entry_idx = t
        if not fill_close and stops and side != 0:
            hit, flow, kk = _stop_exit(t, side, units, entry_price, entry_flow, entry_idx,
                                       open_[t], high[t], low[t], cfg, False, empty2, acc,
                                       kk)  # fmt: skip
            if hit:
                cash += flow
                blocked = side
                side = 0
                units = 0.0

        pos = side * units
        eq = cash + pos * c
        r = 0.0 if eq == prev_eq else eq / prev_eq - 1.0
        prev_eq = eq
        s1 += r
        s2 += r * r
        d = min(r - rf_bar, 0.0)
        down_sq += d * d
        if eq > peak:
            max_dd = max(max_dd, 1.0 - trough / peak)
            peak = eq
            trough = eq
        else:
            trough = min(trough, eq)
        run = (run + 1) * (eq < peak)
        max_run = max(max_run, run)
        exposed += pos != 0.0
        if side == 0:
            skip = _flat_run(target, t + (0 if fill_close else -1) + 1, n, allow_short)
            skip = min(skip, n - 1 - t)
            if skip > 0:
                blocked = 0
                d = min(-rf_bar, 0.0)
                down_sq += skip * (d * d)
                if eq < peak:
                    run += skip
                    max_run = max(max_run, run)
                t += skip
        if t >= next_end:
            period, period_start_eq = _close_periods(t, eq, edges, periods, period,
                                                     period_start_eq)  # fmt: skip
            next_end = edges[period + 1] - 1 if period + 1 < edges.shape[0] else n

    if side != 0:
        last = close[n - 1]
        flow = units * last if side > 0 else -units * last
        kk = _close_trade(False, empty2, kk, acc, side, units, entry_idx, n - 1, entry_price,
                          last, entry_flow, flow, EXIT_OPEN)  # fmt: skip
    stats[0] = n
    stats[1] = s1
    stats[2] = s2
    stats[3] = down_sq
    stats[4] = max(max_dd, 1.0 - trough / peak)
    stats[5] = max_run
    stats[6] = exposed
    stats[7] = eq
    return _finish_metrics(close, cfg, acc, stats)


class BoundedCache(dict[tuple[Any, ...], np.ndarray]):
    """The strategy signal cache with a byte budget; the least recently used arrays go first.

    A grid's inner axis (e.g. every slow window) is read again for each outer value, so it
    stays; an outer value's array is used for one run of combinations and then ages out.
    """

    def __init__(self, budget_bytes: int = CACHE_BUDGET_BYTES) -> None:
        super().__init__()
        self.budget = int(budget_bytes)
        self.nbytes = 0

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        """The cached array (now the most recently used), or ``default``."""
        if key not in self:
            return default
        value = super().pop(key)
        super().__setitem__(key, value)
        return value

    def __setitem__(self, key: tuple[Any, ...], value: np.ndarray) -> None:
        if key in self:
            self.nbytes -= int(super().pop(key).nbytes)
        size = int(getattr(value, "nbytes", 0))
        while self and self.nbytes + size > self.budget:
            oldest = next(iter(self))
            self.nbytes -= int(super().pop(oldest).nbytes)
        super().__setitem__(key, value)
        self.nbytes += size


def sim_config(prices: pd.DataFrame, options: SimOptions) -> np.ndarray:
    """The kernel config of ``options`` on ``prices`` (annualisation from the data)."""
    from engine.metrics import annual_periods, years_between

    ts = prices.index.to_numpy()
    years = years_between(ts[[0, -1]])
    ppy = annual_periods(len(prices), years, options.periods_per_year)
    return k.make_config(options, ppy, years)


def evaluate(
    prices: pd.DataFrame,
    strategy: Strategy,
    combos: Sequence[Mapping[str, Any]],
    options: SimOptions,
    *,
    n_periods: int = RETURN_PERIODS,
    cache: dict[tuple[Any, ...], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Metrics ``(len(combos), len(METRIC_ORDER))`` float64 and returns ``(len(combos), P)``
    float32 (P = min(n_periods, bars)) of every combination on ``prices``.

    ``combos`` are validated parameter dicts; ``prices`` a :func:`engine.load_prices` frame
    with enough bars for every combination (the caller checks).
    """
    bars = Bars.from_frame(prices)
    cfg = sim_config(prices, options)
    edges = period_edges(len(prices), n_periods)
    metrics = np.empty((len(combos), len(METRIC_ORDER)))
    returns = np.full((len(combos), len(edges) - 1), np.nan, dtype=np.float32)
    shared = BoundedCache() if cache is None else cache
    for i, params in enumerate(combos):
        target = np.ascontiguousarray(strategy.signal(bars, params, shared), dtype=np.float64)
        metrics[i] = sweep_kernel(
            bars.open, bars.high, bars.low, bars.close, target, cfg, edges, returns[i]
        )
    return metrics, returns
