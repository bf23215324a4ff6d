"""Strategy files written by the tests (the contract of the [strategies] issue), as text."""

from __future__ import annotations


def close_above_sma(name: str, description: str = "Long while close > SMA(close, window).") -> str:
    """A valid file: one int parameter, one rule (window above 3), plain numpy."""
    return f'''import numpy as np

NAME = "{name}"
DESCRIPTION = "{description}"
PARAMS = {{
    "window": {{"type": "int", "default": 15, "min": 2, "max": 500, "help": "SMA window, bars"}},
}}
CONSTRAINTS = [("window above 3", lambda p: p["window"] > 3)]


def signal(bars, p):
    close, w = bars.close, p["window"]
    out = np.zeros(close.shape[0])
    sums = np.cumsum(close)
    sma = (sums[w - 1 :] - np.concatenate(([0.0], sums[:-w]))) / w
    out[w - 1 :] = np.where(close[w - 1 :] > sma, 1.0, 0.0)
    return out
'''


def short_output(name: str) -> str:
    """A file whose signal returns one target too few (refused by validation)."""
    return close_above_sma(name).replace("    return out\n", "    return out[:-1]\n")


def raising_rule(name: str) -> str:
    """A valid schema whose rule raises KeyError on its line 8 when evaluated."""
    return close_above_sma(name).replace('p["window"] > 3', 'p["nope"] > 3')
