# ruff: noqa: PLR0913, PLR0917  (numba kernels: one flat function, arrays passed positionally)
"""The bar loop's compiled steps: sizing and filling an entry or exit, stop-loss/take-profit
hits, booking a trade, the ruin exit, a ruined run's rows, flat stretches and period returns.

Semantics: :mod:`engine.sim.kernels` (DESIGN.md "Simulation semantics").
"""

from __future__ import annotations

import math

from numba import njit

from engine.sim.kernel_layout import (
    A_GROSS_LOSS,
    A_GROSS_PROFIT,
    A_SUM_TRADE_RET,
    A_TRADES,
    A_WINS,
    C_COMMISSION,
    C_FEE,
    C_LOT,
    C_SLIPPAGE,
    C_STOP_LOSS,
    C_TAKE_PROFIT,
    EXIT_RUIN,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    ROW_BENCHMARK,
    ROW_CASH,
    ROW_DRAWDOWN,
    ROW_EQUITY,
    ROW_POSITION,
    T_ENTRY_IDX,
    T_ENTRY_PRICE,
    T_EXIT_IDX,
    T_EXIT_PRICE,
    T_PNL,
    T_REASON,
    T_RETURN,
    T_SIDE,
    T_UNITS,
)

# Not cached on their own: numba keys a cache on the file of the cached function only, so
# these compile with (and are stored inside) the cached entry points of kernels.py, whose
# PARTS_DIGEST covers this file.
_jit = njit(nogil=True, error_model="numpy")


@_jit
def _side_of(value: float, allow_short: bool) -> int:
    if value > 0.0:
        return 1
    if value < 0.0 and allow_short:
        return -1
    return 0


@_jit
def _enter(equity, side, raw, cfg):
    """Size an entry; return (units, fill price, signed cash flow); units 0.0 = skipped."""
    c = cfg[C_COMMISSION]
    fee = cfg[C_FEE]
    lot = cfg[C_LOT]
    price = raw * (1.0 + cfg[C_SLIPPAGE]) if side > 0 else raw * (1.0 - cfg[C_SLIPPAGE])
    budget = equity - fee
    if budget <= 0.0 or price <= 0.0:
        return 0.0, price, 0.0
    units = budget / (price * (1.0 + c))
    if lot > 0.0:
        units = math.floor(units / lot) * lot
    if units <= 0.0:
        return 0.0, price, 0.0
    flow = -(units * price * (1.0 + c) + fee) if side > 0 else units * price * (1.0 - c) - fee
    return units, price, flow


@_jit
def _exit(side, units, raw, cfg):
    """Close a position; return (fill price, signed cash flow)."""
    c = cfg[C_COMMISSION]
    fee = cfg[C_FEE]
    if side > 0:
        price = raw * (1.0 - cfg[C_SLIPPAGE])
        return price, units * price * (1.0 - c) - fee
    price = raw * (1.0 + cfg[C_SLIPPAGE])
    return price, -(units * price * (1.0 + c) + fee)


@_jit
def _stop_hit(side, entry_price, o, h, lo, cfg):
    """Return (reason, raw fill) of a stop touched in this bar, or (-1, nan). Stop-loss first."""
    sl = cfg[C_STOP_LOSS]
    tp = cfg[C_TAKE_PROFIT]
    if side > 0:
        if not math.isnan(sl):
            level = entry_price * (1.0 - sl)
            if lo <= level:
                return EXIT_STOP_LOSS, min(o, level)
        if not math.isnan(tp):
            level = entry_price * (1.0 + tp)
            if h >= level:
                return EXIT_TAKE_PROFIT, max(o, level)
    else:
        if not math.isnan(sl):
            level = entry_price * (1.0 + sl)
            if h >= level:
                return EXIT_STOP_LOSS, max(o, level)
        if not math.isnan(tp):
            level = entry_price * (1.0 - tp)
            if lo <= level:
                return EXIT_TAKE_PROFIT, min(o, level)
    return -1, math.nan


@_jit
def _close_trade(record, trades, k, acc, side, units, entry_idx, exit_idx, entry_price,
                 exit_price, flow_in, flow_out, reason):  # fmt: skip
    """Book one finished trade: a row in ``trades`` when recording, always the trade sums."""
    pnl = flow_in + flow_out
    ret = pnl / (units * entry_price)
    if record and k < trades.shape[0]:
        trades[k, T_ENTRY_IDX] = entry_idx
        trades[k, T_EXIT_IDX] = exit_idx
        trades[k, T_SIDE] = side
        trades[k, T_UNITS] = units
        trades[k, T_ENTRY_PRICE] = entry_price
        trades[k, T_EXIT_PRICE] = exit_price
        trades[k, T_PNL] = pnl
        trades[k, T_RETURN] = ret
        trades[k, T_REASON] = reason
    acc[A_TRADES] += 1.0
    if pnl > 0.0:
        acc[A_WINS] += 1.0
        acc[A_GROSS_PROFIT] += pnl
    elif pnl < 0.0:
        acc[A_GROSS_LOSS] -= pnl
    acc[A_SUM_TRADE_RET] += ret
    return k + 1


@_jit
def _stop_exit(t, cash, side, units, blocked, entry_price, entry_flow, entry_idx, o, h, lo, cfg,
               record, trades, acc, k):  # fmt: skip
    """Exit on a stop touched in bar t (the position is then flat and its side blocked).

    Returns the new (cash, side, units, blocked, trade count).
    """
    reason, raw = _stop_hit(side, entry_price, o, h, lo, cfg)
    if reason < 0:
        return cash, side, units, blocked, k
    px, flow = _exit(side, units, raw, cfg)
    k = _close_trade(record, trades, k, acc, side, units, entry_idx, t, entry_price, px,
                     entry_flow, flow, reason)  # fmt: skip
    return cash + flow, 0, 0.0, side, k


@_jit
def _ruin_exit(t, side, units, raw, entry_idx, entry_price, entry_flow, cfg, record, trades, acc,
               k):  # fmt: skip
    """Close the position at ``raw`` because equity reached 0 there (reason ``ruin``); the
    caller floors cash at 0. Returns the new trade count."""
    px, flow = _exit(side, units, raw, cfg)
    return _close_trade(record, trades, k, acc, side, units, entry_idx, t, entry_price, px,
                        entry_flow, flow, EXIT_RUIN)  # fmt: skip


@_jit
def _flat_rows(block, t, n, close, bench_scale, keep_cash):
    """Rows ``t..n-1`` of a ruined run: equity 0, drawdown 1, position 0, cash 0."""
    for j in range(t, n):
        block[ROW_EQUITY, j] = 0.0
        block[ROW_DRAWDOWN, j] = 1.0
        block[ROW_POSITION, j] = 0.0
        block[ROW_BENCHMARK, j] = bench_scale * close[j]
        if keep_cash:
            block[ROW_CASH, j] = 0.0


@_jit
def _flat_run(target, start, n, allow_short):
    """How many consecutive target values from ``start`` ask for flat (at most n - start)."""
    i = start
    while i < n and _side_of(target[i], allow_short) == 0:
        i += 1
    return i - start


@_jit
def _close_periods(t, eq, edges, periods, period, period_start_eq):
    """Book every period whose last bar is <= t at equity ``eq``; return (period, start eq).

    Equity is constant over a fast-forwarded flat stretch, so periods ending inside one get
    their return from the stretch's equity too.
    """
    last = edges.shape[0] - 1
    while period < last and edges[period + 1] - 1 <= t:
        # after a ruin equity stays 0: 0 / 0 is a flat period (x / x - 1 is 0.0 exactly)
        periods[period] = 0.0 if eq == period_start_eq else eq / period_start_eq - 1.0
        period_start_eq = eq
        period += 1
    return period, period_start_eq
