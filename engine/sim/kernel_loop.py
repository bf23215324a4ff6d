# ruff: noqa: PLR0912, PLR0913, PLR0915, PLR0917  (numba: one flat loop, arrays positionally)
"""The bar loop of every kernel (:func:`_run`), inlined into each entry point of
:mod:`engine.sim.kernels` (numba IR inlining), so its ``record`` and ``with_stats`` flags
become constants there and the unused branches disappear: about a third off the fused sweep
kernel. Semantics: :mod:`engine.sim.kernels` (DESIGN.md "Simulation semantics").
"""

from __future__ import annotations

import math

from numba import njit

from engine.sim.kernel_fills import (
    _close_periods,
    _close_trade,
    _enter,
    _exit,
    _flat_rows,
    _flat_run,
    _ruin_exit,
    _side_of,
    _stop_exit,
)
from engine.sim.kernel_layout import (
    C_CASH,
    C_FILL_CLOSE,
    C_PPY,
    C_RISK_FREE,
    C_SHORT,
    C_STOP_LOSS,
    C_TAKE_PROFIT,
    EXIT_OPEN,
    EXIT_SIGNAL,
    ROW_BENCHMARK,
    ROW_CASH,
    ROW_DRAWDOWN,
    ROW_EQUITY,
    ROW_POSITION,
)

# Inlined into the cached entry points of kernels.py (never compiled or cached on its own);
# kernels.py's PARTS_DIGEST covers this file.
_jit_inline = njit(nogil=True, error_model="numpy", inline="always")


@_jit_inline
def _run(open_, high, low, close, target, cfg, record, with_stats, block, trades, acc, stats,
         edges, periods):  # fmt: skip
    """The bar loop.

    ``record``: write per-bar rows into ``block`` (ROW_* layout) and trade rows into ``trades``.
    ``with_stats``: accumulate the online return/drawdown statistics into ``stats``
    [n, sum r, sum r^2, sum of squared downside, max drawdown, longest drawdown run,
    exposed bars, final equity]. Trade sums always go to ``acc``. ``edges`` (int64, P + 1
    period boundaries; empty = off): compound the equity into ``periods[j]``, the return of
    bars ``edges[j]..edges[j+1]-1`` (what the sweep keeps for PBO). Returns the trade count.
    Plain scalar state (no tuples) keeps the loop in registers.
    """
    n = close.shape[0]
    if n == 0:
        return 0
    allow_short = cfg[C_SHORT] > 0.0
    fill_close = cfg[C_FILL_CLOSE] > 0.0
    stops = not (math.isnan(cfg[C_STOP_LOSS]) and math.isnan(cfg[C_TAKE_PROFIT]))
    rf_bar = cfg[C_RISK_FREE] / cfg[C_PPY]
    bench_scale = cfg[C_CASH] / close[0]
    keep_cash = record and block.shape[0] > ROW_CASH

    cash = cfg[C_CASH]
    side = 0  # +1 long, -1 short, 0 flat
    units = 0.0  # > 0 while in a position
    entry_price = 0.0
    entry_flow = 0.0
    entry_idx = 0
    blocked = 0  # side stopped out; stays flat while the target still asks for it
    ruin_px = math.nan  # set (with a break out of the bar loop) when bar t ruins the run
    k = 0

    prev_eq = cash
    peak = cash
    trough = cash
    rec_peak = cash
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
    next_end = edges[1] - 1 if edges.shape[0] > 1 else n  # last bar of the open period

    t = -1
    while t < n - 1:
        t += 1
        c = close[t]
        # Ruin checks only leave the loop (the ruin is booked after it: no extra work per bar).
        # The open is a mark: a position held into this bar that opens at equity <= 0 is
        # closed there, before any fill or stop.
        if side != 0 and cash + (side * units) * open_[t] <= 0.0:
            ruin_px = open_[t]
            break
        if fill_close:
            # close mode: stops of a position held since an earlier bar come before the close
            if stops and side != 0:
                cash, side, units, blocked, k = _stop_exit(
                    t, cash, side, units, blocked, entry_price, entry_flow, entry_idx,
                    open_[t], high[t], low[t], cfg, record, trades, acc, k)  # fmt: skip
            # ... then the close mark, before the target's fill at that same price
            if side != 0 and cash + (side * units) * c <= 0.0:
                ruin_px = c
                break
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
                    k = _close_trade(record, trades, k, acc, side, units, entry_idx, t,
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
        # next_open mode: intrabar stops after the open's fill
        if not fill_close and stops and side != 0:
            cash, side, units, blocked, k = _stop_exit(
                t, cash, side, units, blocked, entry_price, entry_flow, entry_idx, open_[t],
                high[t], low[t], cfg, record, trades, acc, k)  # fmt: skip

        pos = side * units
        eq = cash + pos * c
        if eq <= 0.0:  # the close mark (or the cash left by this bar's fills and stops)
            ruin_px = c
            break
        if record:
            rec_peak = max(rec_peak, eq)
            block[ROW_EQUITY, t] = eq
            block[ROW_DRAWDOWN, t] = 1.0 - eq / rec_peak
            block[ROW_POSITION, t] = pos
            block[ROW_BENCHMARK, t] = bench_scale * c
            if keep_cash:
                block[ROW_CASH, t] = cash
        if with_stats:
            # divisions are the cost here: none while flat, one per bar in a position
            r = 0.0 if eq == prev_eq else eq / prev_eq - 1.0
            prev_eq = eq
            s1 += r
            s2 += r * r
            d = min(r - rf_bar, 0.0)  # branchless: the sign of r is a coin flip
            down_sq += d * d
            # drawdown 1 - eq/peak is monotone in eq for a fixed peak, so its maximum over a
            # peak's reign is reached at that reign's trough: one division per new peak.
            # eq < peak <=> 1 - eq/peak > 0 exactly (the quotient of eq < peak is < 1).
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
            # Fast-forward a flat stretch: while the target asks for flat nothing trades,
            # equity stays at this bar's cash (r = 0, same drawdown) and a post-stop block is
            # cleared; only the benchmark, the drawdown run and the downside sum move.
            skip = _flat_run(target, t + (0 if fill_close else -1) + 1, n, allow_short)
            skip = min(skip, n - 1 - t)
            if skip > 0:
                blocked = 0
                if record:
                    flat_dd = 1.0 - eq / rec_peak
                    for j in range(t + 1, t + 1 + skip):
                        block[ROW_EQUITY, j] = eq
                        block[ROW_DRAWDOWN, j] = flat_dd
                        block[ROW_POSITION, j] = 0.0
                        block[ROW_BENCHMARK, j] = bench_scale * close[j]
                        if keep_cash:
                            block[ROW_CASH, j] = cash
                if with_stats:
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

    if not math.isnan(ruin_px):
        # Ruined at bar t (DESIGN.md "Ruin"): close any position at the ruin's mark, floor the
        # account at 0 and stay flat to the end. Bar t's return is 0 / prev - 1 = -1, the rest
        # are 0; equity 0 is below every peak (> 0), so drawdown 1 and under water to the end.
        if side != 0:
            k = _ruin_exit(t, side, units, ruin_px, entry_idx, entry_price, entry_flow, cfg,
                           record, trades, acc, k)  # fmt: skip
        side = 0
        eq = 0.0
        rest = n - 1 - t
        if record:
            _flat_rows(block, t, n, close, bench_scale, keep_cash)
        if with_stats:
            s1 -= 1.0
            s2 += 1.0
            d = min(-1.0 - rf_bar, 0.0)
            down_sq += d * d
            d = min(-rf_bar, 0.0)
            down_sq += rest * (d * d)
            trough = 0.0
            run += 1 + rest
            max_run = max(max_run, run)
        _close_periods(n - 1, 0.0, edges, periods, period, period_start_eq)
    if side != 0:
        last = close[n - 1]
        flow = units * last if side > 0 else -units * last
        k = _close_trade(record, trades, k, acc, side, units, entry_idx, n - 1, entry_price,
                         last, entry_flow, flow, EXIT_OPEN)  # fmt: skip
    stats[0] = n
    stats[1] = s1
    stats[2] = s2
    stats[3] = down_sq
    stats[4] = max(max_dd, 1.0 - trough / peak)
    stats[5] = max_run
    stats[6] = exposed
    stats[7] = eq
    return k
