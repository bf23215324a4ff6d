"""Strategy files for the TPE tests of stored strategies (tests/jobs/test_search_stored*.py)."""

from __future__ import annotations

NAME = "sma_pair_file"

# two windows and a rule (fast < slow), plain numpy: long while SMA(fast) > SMA(slow)
SMA_PAIR = """import numpy as np

NAME = "sma_pair_file"
DESCRIPTION = "Long while SMA(close, fast) > SMA(close, slow)."
PARAMS = {
    "fast": {"type": "int", "default": 5, "min": 2, "max": 200, "help": "fast window, bars"},
    "slow": {"type": "int", "default": 20, "min": 3, "max": 400, "help": "slow window, bars"},
}
CONSTRAINTS = [("fast < slow", lambda p: p["fast"] < p["slow"])]


def _sma(close, w):
    out = np.full(close.shape[0], np.nan)
    sums = np.cumsum(close)
    out[w - 1 :] = (sums[w - 1 :] - np.concatenate(([0.0], sums[:-w]))) / w
    return out


def signal(bars, p):
    close = bars.close
    fast, slow = _sma(close, p["fast"]), _sma(close, p["slow"])
    out = np.zeros(close.shape[0])
    ready = ~np.isnan(slow)
    out[ready] = np.where(fast[ready] > slow[ready], 1.0, 0.0)
    return out
"""

# the same schema, a stricter rule: rounds asked with it would differ
EDITED = SMA_PAIR.replace(
    'CONSTRAINTS = [("fast < slow", lambda p: p["fast"] < p["slow"])]',
    'CONSTRAINTS = [("fast + 40 <= slow", lambda p: p["fast"] + 40 <= p["slow"])]',
).replace('"default": 20,', '"default": 60,')
