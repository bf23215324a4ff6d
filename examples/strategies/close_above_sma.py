"""The reference system's rule: long while the close is above its simple moving average."""

import numpy as np

from engine import helpers as h

NAME = "close_above_sma"
DESCRIPTION = "Long while close > SMA(close, window); flat otherwise (and until the SMA exists)."
PARAMS = {
    "window": {"type": "int", "default": 15, "min": 2, "max": 500, "help": "SMA window, bars"},
}
CONSTRAINTS = []


def signal(bars, p):
    average = h.sma(bars.close, p["window"])  # NaN for the first window - 1 bars
    return np.where(bars.close > average, 1.0, 0.0)  # NaN compares False: flat
