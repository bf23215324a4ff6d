"""The metrics row of a run from the bar loop's online accumulators (:func:`_finish_metrics`):
the kernels' copy of ``engine.sim.metrics``' definitions (the tests hold the two to 1e-9).
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
    C_CASH,
    C_PPY,
    C_RISK_FREE,
    C_YEARS,
    M_AVG_TRADE_RETURN,
    M_BUY_HOLD_RETURN,
    M_CAGR,
    M_CALMAR,
    M_EXPOSURE,
    M_FINAL_EQUITY,
    M_MAX_DD_DURATION,
    M_MAX_DRAWDOWN,
    M_N_TRADES,
    M_PERIODS_PER_YEAR,
    M_PROFIT_FACTOR,
    M_RUINED,
    M_SHARPE,
    M_SORTINO,
    M_TOTAL_RETURN,
    M_VOLATILITY,
    M_WIN_RATE,
    N_METRICS,
)

# Not cached on their own: numba keys a cache on the file of the cached function only, so
# these compile with (and are stored inside) the cached entry points of kernels.py, whose
# PARTS_DIGEST covers this file.
_jit = njit(nogil=True, error_model="numpy")


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
