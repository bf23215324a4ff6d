# ruff: noqa: PLR0917  (numba kernels take their arrays positionally)
"""Compiled simulation kernels (numba): arrays in, arrays out, no pandas.

Entry points share one bar loop (:func:`_run`, inlined into each):

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
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from numba import njit

from engine.sim.metric_registry import slot
from engine.sim.metrics import METRIC_NAMES

# -- config layout -------------------------------------------------------------------------
C_CASH = 0
C_COMMISSION = 1
C_FEE = 2
C_SLIPPAGE = 3  # fraction, i.e. bps / 1e4
C_LOT = 4
C_SHORT = 5  # 1.0 allows -1 targets
C_STOP_LOSS = 6  # fraction (pct / 100); NaN = off
C_TAKE_PROFIT = 7  # fraction; NaN = off
C_FILL_CLOSE = 8  # 1.0 = fill at the signal bar's close
C_PPY = 9  # periods per year (metrics only)
C_YEARS = 10  # calendar years between first and last bar (metrics only)
C_RISK_FREE = 11  # annual risk-free rate (metrics only)
CONFIG_SIZE = 12

# -- trades table layout (columns of the float64 (k, 9) array returned by simulate) ------
T_ENTRY_IDX, T_EXIT_IDX, T_SIDE, T_UNITS, T_ENTRY_PRICE, T_EXIT_PRICE, T_PNL, T_RETURN = range(8)
T_REASON = 8
TRADE_COLUMNS = 9

EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_OPEN, EXIT_RUIN = 0, 1, 2, 3, 4
EXIT_REASONS = ("signal", "stop_loss", "take_profit", "open", "ruin")

# Order of the row returned by simulate_metrics: the metric registry's row order
# (engine.sim.metric_registry.ROW_NAMES); each metric's slot is named below after the registry.
METRIC_ORDER = METRIC_NAMES
M_TOTAL_RETURN = slot("total_return")
M_CAGR = slot("cagr")
M_VOLATILITY = slot("volatility")
M_SHARPE = slot("sharpe")
M_SORTINO = slot("sortino")
M_MAX_DRAWDOWN = slot("max_drawdown")
M_MAX_DD_DURATION = slot("max_drawdown_duration")
M_CALMAR = slot("calmar")
M_N_TRADES = slot("n_trades")
M_WIN_RATE = slot("win_rate")
M_PROFIT_FACTOR = slot("profit_factor")
M_AVG_TRADE_RETURN = slot("avg_trade_return")
M_EXPOSURE = slot("exposure")
M_FINAL_EQUITY = slot("final_equity")
M_BUY_HOLD_RETURN = slot("buy_hold_return")
M_PERIODS_PER_YEAR = slot("periods_per_year")
M_RUINED = slot("ruined")
# numba freezes these globals into its on-disk cache, which is keyed on this file only: the
# row's length and a digest of its order are literals here, so a change to the registry's row
# must come with an edit of this file (which refreshes the cache) or the import fails.
N_METRICS = 17
ROW_DIGEST = "329331018bf3f60b"  # sha256 of ",".join(ROW_NAMES), first 16 hex digits
if (
    len(METRIC_ORDER) != N_METRICS
    or hashlib.sha256(",".join(METRIC_ORDER).encode()).hexdigest()[:16] != ROW_DIGEST
):
    raise ImportError(
        "engine.sim.metric_registry's metrics row changed: update N_METRICS, ROW_DIGEST and "
        "_finish_metrics in engine/sim/kernels.py together"
    )


def make_config(options: Any, periods_per_year: float = 252.0, years: float = 0.0) -> np.ndarray:
    """Pack a validated :class:`engine.spec.SimOptions` (plus annualisation) for the kernels."""
    cfg = np.empty(CONFIG_SIZE, dtype=np.float64)
    cfg[C_CASH] = float(options.cash)
    cfg[C_COMMISSION] = float(options.commission)
    cfg[C_FEE] = float(options.fee)
    cfg[C_SLIPPAGE] = float(options.slippage_bps) / 1e4
    cfg[C_LOT] = float(options.lot_size)
    cfg[C_SHORT] = 1.0 if options.allow_short else 0.0
    sl, tp = options.stop_loss, options.take_profit
    cfg[C_STOP_LOSS] = math.nan if sl is None else float(sl) / 100.0
    cfg[C_TAKE_PROFIT] = math.nan if tp is None else float(tp) / 100.0
    cfg[C_FILL_CLOSE] = 1.0 if options.fill == "close" else 0.0
    cfg[C_PPY] = float(periods_per_year)
    cfg[C_YEARS] = float(years)
    cfg[C_RISK_FREE] = float(options.risk_free)
    return cfg


# accumulator slots for the online metrics
A_TRADES, A_WINS, A_GROSS_PROFIT, A_GROSS_LOSS, A_SUM_TRADE_RET = 0, 1, 2, 3, 4
ACC_SIZE = 5
STATS_SIZE = 8

# rows of the per-bar block written by simulate_into
ROW_EQUITY, ROW_DRAWDOWN, ROW_POSITION, ROW_BENCHMARK, ROW_CASH = range(5)
N_ROWS = 5

# -- small compiled helpers ----------------------------------------------------------------
_jit = njit(cache=True, nogil=True, error_model="numpy")
# The bar loop is inlined into each entry point (numba IR inlining), so its ``record`` and
# ``with_stats`` flags become constants there and the unused branches disappear: about a
# third off the fused sweep kernel.
_jit_inline = njit(nogil=True, error_model="numpy", inline="always")


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


@_jit
def _finish_metrics(close, cfg, acc, stats):
    nan = math.nan
    cash = cfg[C_CASH]
    ppy = cfg[C_PPY]
    years = cfg[C_YEARS]
    rf_bar = cfg[C_RISK_FREE] / ppy
    n = stats[0]
    mean = stats[1] / n if n > 0 else nan
    final = stats[7]
    out = np.full(N_METRICS, nan)
    ruined = final <= 0.0  # equity is floored at 0 and stays there once ruined
    out[M_TOTAL_RETURN] = final / cash - 1.0
    if years > 0.0:
        out[M_CAGR] = -1.0 if final <= 0.0 else (final / cash) ** (1.0 / years) - 1.0
    sqrt_ppy = math.sqrt(ppy)
    if n >= 2:
        var = (stats[2] - stats[1] * mean) / (n - 1)
        std = math.sqrt(var) if var > 0.0 else 0.0
        out[M_VOLATILITY] = std * sqrt_ppy
        if std != 0.0:
            out[M_SHARPE] = (mean - rf_bar) / std * sqrt_ppy
    if n >= 1:
        down = math.sqrt(stats[3] / n)
        if down != 0.0:
            out[M_SORTINO] = (mean - rf_bar) / down * sqrt_ppy
    out[M_MAX_DRAWDOWN] = stats[4]
    out[M_MAX_DD_DURATION] = stats[5]
    if stats[4] != 0.0:
        out[M_CALMAR] = out[M_CAGR] / stats[4]
    trades = acc[A_TRADES]
    out[M_N_TRADES] = trades
    if trades > 0:
        out[M_WIN_RATE] = acc[A_WINS] / trades
        out[M_AVG_TRADE_RETURN] = acc[A_SUM_TRADE_RET] / trades
    gp = acc[A_GROSS_PROFIT]
    gl = acc[A_GROSS_LOSS]
    if gl > 0.0:
        out[M_PROFIT_FACTOR] = gp / gl
    elif gp > 0.0:
        out[M_PROFIT_FACTOR] = math.inf
    out[M_EXPOSURE] = stats[6] / n if n > 0 else nan
    out[M_FINAL_EQUITY] = final
    out[M_BUY_HOLD_RETURN] = close[close.shape[0] - 1] / close[0] - 1.0
    out[M_PERIODS_PER_YEAR] = ppy
    out[M_RUINED] = 1.0 if ruined else 0.0
    if ruined:  # not meaningful across a ruin (engine.sim.metrics.RUIN_UNDEFINED)
        out[M_CAGR] = nan
        out[M_VOLATILITY] = nan
        out[M_SHARPE] = nan
        out[M_SORTINO] = nan
        out[M_CALMAR] = nan
    return out
