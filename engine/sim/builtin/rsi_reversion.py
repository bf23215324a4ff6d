"""Built-in ``rsi_reversion``: a strategy file of the same contract as a team's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.sim import indicators as ind
from engine.sim import signals as sig
from engine.sim import warmup as wu
from engine.sim.builtin._shared import Cache, cached, flat_warmup, less, window

NAME = "rsi_reversion"
DESCRIPTION = (
    "Long once Wilder RSI(period) < lower, held until RSI > upper; short (if allowed) "
    "once RSI > upper, held until RSI < lower."
)
PARAMS = {
    "period": window(14, "RSI period, bars", low=2),
    "lower": {"type": "float", "default": 30.0, "min": 0.0, "max": 100.0,
              "help": "oversold level: go long below it"},
    "upper": {"type": "float", "default": 70.0, "min": 0.0, "max": 100.0,
              "help": "overbought level: exit / short above it"},
}  # fmt: skip
CONSTRAINTS = [less("lower", "upper")]
warmup = wu.rsi_reversion


def signal_cached(bars: Any, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    """The target (warm-up not applied); indicators shared through ``cache`` in a sweep."""
    r = cached(cache, ("rsi", p["period"]), lambda: ind.rsi(bars.close, p["period"]))
    n = r.shape[0]
    lower, upper = np.full(n, float(p["lower"])), np.full(n, float(p["upper"]))
    # long after RSI < lower until RSI > upper (which flips to short, i.e. flat when long-only)
    return sig.band_state(r, lower, upper, np.full(n, np.inf), np.full(n, -np.inf))


def signal(bars: Any, p: Mapping[str, Any]) -> np.ndarray:
    return flat_warmup(signal_cached, warmup, bars, p)
