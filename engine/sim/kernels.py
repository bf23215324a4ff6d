# ruff: noqa: PLR0917  (numba kernels take their arrays positionally)
"""Compiled simulation kernels (numba): arrays in, arrays out, no pandas.

Entry points share one bar loop (``engine.sim.kernel_loop._run``, inlined into each):

- :func:`simulate_into` writes equity, drawdown, position, benchmark (and cash) per bar and the
  trades into caller-allocated arrays, optionally with the metrics row too (what
  ``engine.api.run_backtest`` uses); :func:`simulate` is a wrapper that allocates them.
- :func:`simulate_metrics` (the fused sweep kernel) keeps nothing per bar: it accumulates every
  metric of ``engine.sim.metrics`` online (mean/std of returns, running peak and drawdown run,
  trade sums) and returns one row in :data:`METRIC_ORDER`; :func:`simulate_metrics_periods`
  (``engine.sim.sweep_kernels.sweep_kernel``) also compounds the returns into contiguous periods
  (the per-period matrix PBO needs).

Scalar settings travel in one float64 array built by :func:`make_config` (index constants
``C_*``), which keeps the kernel signatures short and numba's type dispatch to one signature.

Semantics (DESIGN.md "Simulation semantics"):

- ``next_open`` at bar t: (1) at the open execute the target decided at t-1's close (a flip is an
  exit fill then an entry fill); (2) intrabar stop-loss / take-profit against low/high; (3) mark
  to market at the close. ``close`` at bar t: (1) intrabar stops for a position held since an
  earlier bar; (2) execute target[t] at close[t]; (3) mark to market.
- A buy fills at ``raw * (1 + bps/1e4)``, a sell at ``raw * (1 - bps/1e4)``. Entries size
  ``units = (E - fee) / (p * (1 + c))`` (rounded down to whole lots when ``lot_size > 0``; an
  entry that cannot afford one lot is skipped and retried while the target still asks).
- Stops: level = entry price * (1 -/+ pct/100); a bar opening beyond the level fills at the open;
  both touched in one bar -> stop-loss first. After a stop the position stays flat until the
  target changes value.
- A position open at the end is a trade valued at the last close without exit costs.
- Trade pnl = exit cash flow + entry cash flow (costs included); return = pnl / (units * entry
  price); exit reason codes index :data:`EXIT_REASONS`.
- Target values > 0 mean long, < 0 short (flat unless shorting is allowed), else flat.
- Ruin (limited liability): a position held into bar t whose equity marked at t's open
  (``cash + position * open``) is <= 0 is closed at the open (exit reason ``ruin``) before
  anything else happens in the bar; after bar t's fills and stops, equity marked at the close
  <= 0 closes the position at the close (``ruin``; a position already flat with cash <= 0,
  e.g. after a short covered by a stop or a signal, is simply flat). Either way the closing
  fill is booked as usual (slippage and costs: the trade's pnl is what the fills say), then
  cash and equity are floored at 0 and the run stays flat to its end (equity 0, drawdown 1,
  position 0). Per-bar returns after a ruin are 0 (0 / 0: an empty account does not move).
  The metrics row flags it (``ruined`` = 1.0); total_return is then -1, max_drawdown 1,
  and cagr, volatility, sharpe, sortino and calmar are NaN (not meaningful across a ruin).

Split by concern (each < 500 lines): :mod:`engine.sim.kernel_layout` (config, trades, rows,
metric slots, :func:`make_config`), :mod:`engine.sim.kernel_fills` (fills, stops, trades, ruin
exits, periods), :mod:`engine.sim.kernel_loop` (the bar loop), :mod:`engine.sim.kernel_metrics`
(the metrics row); this module holds the compiled entry points and re-exports the layout, so
``from engine.sim.kernels import ...`` keeps working.

Only the entry points here are cached on disk. numba keys a cache on the cached function's own
file, not on the files it calls or inlines, so :data:`PARTS_DIGEST` (a literal: sha256 of the
four part files, checked by tests/engine/test_kernels_split.py) must change with any edit of
them: that edit of this file is what refreshes the cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.sim.kernel_layout import (
    A_GROSS_LOSS,
    A_GROSS_PROFIT,
    A_SUM_TRADE_RET,
    A_TRADES,
    A_WINS,
    ACC_SIZE,
    C_CASH,
    C_COMMISSION,
    C_FEE,
    C_FILL_CLOSE,
    C_LOT,
    C_PPY,
    C_RISK_FREE,
    C_SHORT,
    C_SLIPPAGE,
    C_STOP_LOSS,
    C_TAKE_PROFIT,
    C_YEARS,
    CONFIG_SIZE,
    EXIT_OPEN,
    EXIT_REASONS,
    EXIT_RUIN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    METRIC_ORDER,
    N_METRICS,
    N_ROWS,
    ROW_BENCHMARK,
    ROW_CASH,
    ROW_DRAWDOWN,
    ROW_EQUITY,
    ROW_POSITION,
    STATS_SIZE,
    T_ENTRY_IDX,
    T_ENTRY_PRICE,
    T_EXIT_IDX,
    T_EXIT_PRICE,
    T_PNL,
    T_REASON,
    T_RETURN,
    T_SIDE,
    T_UNITS,
    TRADE_COLUMNS,
    make_config,
)
from engine.sim.kernel_loop import _run
from engine.sim.kernel_metrics import _finish_metrics

__all__ = [
    "ACC_SIZE",
    "A_GROSS_LOSS",
    "A_GROSS_PROFIT",
    "A_SUM_TRADE_RET",
    "A_TRADES",
    "A_WINS",
    "CONFIG_SIZE",
    "C_CASH",
    "C_COMMISSION",
    "C_FEE",
    "C_FILL_CLOSE",
    "C_LOT",
    "C_PPY",
    "C_RISK_FREE",
    "C_SHORT",
    "C_SLIPPAGE",
    "C_STOP_LOSS",
    "C_TAKE_PROFIT",
    "C_YEARS",
    "EXIT_OPEN",
    "EXIT_REASONS",
    "EXIT_RUIN",
    "EXIT_SIGNAL",
    "EXIT_STOP_LOSS",
    "EXIT_TAKE_PROFIT",
    "METRIC_ORDER",
    "N_METRICS",
    "N_ROWS",
    "ROW_BENCHMARK",
    "ROW_CASH",
    "ROW_DRAWDOWN",
    "ROW_EQUITY",
    "ROW_POSITION",
    "STATS_SIZE",
    "TRADE_COLUMNS",
    "T_ENTRY_IDX",
    "T_ENTRY_PRICE",
    "T_EXIT_IDX",
    "T_EXIT_PRICE",
    "T_PNL",
    "T_REASON",
    "T_RETURN",
    "T_SIDE",
    "T_UNITS",
    "make_config",
    "max_trades",
    "simulate",
    "simulate_into",
    "simulate_metrics",
    "simulate_metrics_periods",
]

# sha256 over kernel_layout.py, kernel_fills.py, kernel_loop.py and kernel_metrics.py (in that
# order), first 16 hex digits: edit it with any of them (the test prints the new value).
PARTS = ("kernel_layout.py", "kernel_fills.py", "kernel_loop.py", "kernel_metrics.py")
PARTS_DIGEST = "6ef8a46954166dde"

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def simulate_into(open_, high, low, close, target, cfg, block, trades, with_stats):
    """Run one backtest writing into preallocated outputs; return (trade count, metrics row).

    ``block`` is a float64 ``(N_ROWS, n)`` array (rows ROW_EQUITY, ROW_DRAWDOWN, ROW_POSITION,
    ROW_BENCHMARK, ROW_CASH; give it ``N_ROWS - 1`` rows to skip the cash row); ``trades`` is
    a float64 ``(max_trades(target), TRADE_COLUMNS)`` (or larger) buffer; rows beyond its end
    are counted but not written. The metrics row (METRIC_ORDER) is all NaN unless
    ``with_stats``.
    """
    acc = np.zeros(ACC_SIZE)
    stats = np.zeros(STATS_SIZE)
    k = _run(open_, high, low, close, target, cfg, True, with_stats, block, trades, acc, stats,
             np.empty(0, np.int64), np.empty(0))  # fmt: skip
    if with_stats:
        return k, _finish_metrics(close, cfg, acc, stats)
    return k, np.full(N_METRICS, math.nan)


@_jit
def max_trades(target):
    """An upper bound on the trades of a run: the number of runs of equal target values.

    Every entry starts in a new run: a signal exit needs the target to change, and after a stop
    the position stays flat until it does; a skipped entry makes no trade.
    """
    n = target.shape[0]
    runs = 1
    for i in range(1, n):
        if target[i] != target[i - 1]:  # NaN != NaN over-counts, which is safe
            runs += 1
    return runs


def simulate(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    cfg: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one backtest and keep everything: return ``(block, trades)``.

    ``block`` is ``(N_ROWS, n)``: equity, drawdown, position (signed units at the close),
    buy-and-hold benchmark equity, cash. ``trades`` is ``(k, TRADE_COLUMNS)`` with the ``T_*``
    columns (bar indices, side +1/-1, exit reason code). Outputs are allocated with numpy
    (large numpy allocations get transparent huge pages; numba's allocator does not, which
    costs several milliseconds of page faults per million bars).
    """
    n = close.shape[0]
    if n == 0:
        return np.empty((N_ROWS, 0)), np.empty((0, TRADE_COLUMNS))
    block = np.empty((N_ROWS, n))
    buf = np.empty((max_trades(target), TRADE_COLUMNS))
    k, _ = simulate_into(open_, high, low, close, target, cfg, block, buf, False)
    return block, buf[:k].copy()


@_jit
def simulate_metrics(open_, high, low, close, target, cfg):
    """The fused sweep kernel: simulate and return one metrics row in METRIC_ORDER.

    Nothing per bar is stored; reproduces ``engine.sim.metrics.compute_metrics`` definitions.
    """
    return simulate_metrics_periods(open_, high, low, close, target, cfg, np.empty(0, np.int64),
                                    np.empty(0))  # fmt: skip


@_jit
def simulate_metrics_periods(open_, high, low, close, target, cfg, edges, periods):
    """:func:`simulate_metrics` that also compounds the returns into ``periods``.

    ``edges``: int64 period boundaries (length P + 1; empty = no periods); ``periods[j]`` (a
    float32 or float64 array of length >= P) gets the return of bars ``edges[j]..edges[j+1]-1``
    = equity at the period's last bar / equity before its first bar - 1.
    """
    empty2 = np.empty((0, 0))
    acc = np.zeros(ACC_SIZE)
    stats = np.zeros(STATS_SIZE)
    _run(open_, high, low, close, target, cfg, False, True, empty2, empty2, acc, stats, edges,
         periods)  # fmt: skip
    return _finish_metrics(close, cfg, acc, stats)
