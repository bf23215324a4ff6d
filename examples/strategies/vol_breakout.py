"""A volatility-filtered channel breakout, built from the engine's numba helpers.

Long on a close above the prior `entry`-bar high, out on a close below the prior `exit`-bar
low (short mirrors it when shorting is allowed), but only while the market is calm: the
`vol_window`-bar standard deviation of the close, relative to its average, is at most
`max_vol`. A breakout in a volatile market is not taken (flat until it calms down).
"""

import numba
import numpy as np

from engine import helpers as h

NAME = "vol_breakout"
DESCRIPTION = (
    "Donchian breakout (prior entry-bar high / exit-bar low) taken only while "
    "std(close, vol_window) / SMA(close, vol_window) <= max_vol."
)
PARAMS = {
    "entry": {"type": "int", "default": 20, "min": 2, "max": 500, "help": "breakout channel"},
    "exit": {"type": "int", "default": 10, "min": 2, "max": 500, "help": "exit channel"},
    "vol_window": {"type": "int", "default": 20, "min": 2, "max": 500, "help": "volatility bars"},
    "max_vol": {
        "type": "float",
        "default": 0.05,
        "min": 0.0,
        "max": 1.0,
        "help": "largest relative volatility at which a position is held",
    },
}
CONSTRAINTS = [("exit <= entry", lambda p: p["exit"] <= p["entry"])]


@numba.njit(cache=True)
def _calm_only(state, close, vol_window, max_vol):
    # the helpers work inside numba code too (same names, float64 arrays)
    rel = h.rolling_std(close, vol_window) / h.sma(close, vol_window)
    out = np.zeros(state.shape[0])
    for i in range(state.shape[0]):
        if rel[i] <= max_vol:  # NaN (warm-up) compares False: flat
            out[i] = state[i]
    return out


def signal(bars, p):
    hi_n = h.shift(h.rolling_max(bars.high, p["entry"]), 1)
    lo_n = h.shift(h.rolling_min(bars.low, p["entry"]), 1)
    hi_m = h.shift(h.rolling_max(bars.high, p["exit"]), 1)
    lo_m = h.shift(h.rolling_min(bars.low, p["exit"]), 1)
    state = h.breakout_state(bars.close, hi_n, lo_n, hi_m, lo_m)
    return _calm_only(state, bars.close, p["vol_window"], p["max_vol"])
