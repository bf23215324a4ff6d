"""The kernels' data layout: the config array, the trades table, the per-bar block, the
online accumulators and the metrics row's slots (plain Python constants; no numba here).

The compiled kernels (:mod:`engine.sim.kernels` and the modules it is split into) freeze these
values into numba's on-disk cache; kernels.py's ``PARTS_DIGEST`` (checked by a test) makes an
edit here come with an edit of kernels.py, which refreshes that cache.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

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
# numba freezes these globals into its on-disk cache, which is keyed on the kernels' files
# only: the row's length and a digest of its order are literals here, so a change to the
# registry's row must come with an edit of this file (then of kernels.py's PARTS_DIGEST, which
# refreshes the cache) or the import fails.
N_METRICS = 17
ROW_DIGEST = "329331018bf3f60b"  # sha256 of ",".join(ROW_NAMES), first 16 hex digits
if (
    len(METRIC_ORDER) != N_METRICS
    or hashlib.sha256(",".join(METRIC_ORDER).encode()).hexdigest()[:16] != ROW_DIGEST
):
    raise ImportError(
        "engine.sim.metric_registry's metrics row changed: update N_METRICS, ROW_DIGEST and "
        "_finish_metrics in engine/sim/kernel_metrics.py together"
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
