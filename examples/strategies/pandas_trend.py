"""A plain-pandas strategy: no numba, just Series arithmetic on the bars."""

import numpy as np
import pandas as pd

NAME = "pandas_trend"
DESCRIPTION = (
    "Long while close > EMA(close, span) and the lookback-bar return is positive; "
    "short (if allowed) while both point down."
)
PARAMS = {
    "span": {"type": "int", "default": 30, "min": 2, "max": 500, "help": "EMA span, bars"},
    "lookback": {"type": "int", "default": 20, "min": 1, "max": 500, "help": "return bars"},
}


def signal(bars, p):
    close = pd.Series(bars.close, index=bars.index)
    trend = close.ewm(span=p["span"], adjust=False, min_periods=p["span"]).mean()
    change = close.pct_change(p["lookback"])
    up = (close > trend) & (change > 0)
    down = (close < trend) & (change < 0)
    return np.where(up, 1.0, np.where(down, -1.0, 0.0))
