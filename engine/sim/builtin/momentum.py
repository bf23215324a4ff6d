"""Built-in ``momentum``: a strategy file of the same contract as a team's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.sim import indicators as ind
from engine.sim import warmup as wu
from engine.sim.builtin._shared import Cache, cached, flat_warmup, window

NAME = "momentum"
DESCRIPTION = (
    "Long while close / close[lookback bars ago] - 1 > threshold; short (if allowed) "
    "while it is < -threshold."
)
PARAMS = {
    "lookback": window(60, "rate-of-change lookback, bars"),
    "threshold": {"type": "float", "default": 0.0, "min": 0.0, "max": 10.0,
                  "help": "minimum |return| to hold, a fraction"},
}  # fmt: skip
CONSTRAINTS: list[Any] = []
warmup = wu.momentum


def signal_cached(bars: Any, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    """The target (warm-up not applied); indicators shared through ``cache`` in a sweep."""
    r = cached(cache, ("roc", p["lookback"]), lambda: ind.roc(bars.close, p["lookback"]))
    t = float(p["threshold"])
    out = np.zeros(r.shape[0])
    out[r > t] = 1.0
    out[r < -t] = -1.0
    return out


def signal(bars: Any, p: Mapping[str, Any]) -> np.ndarray:
    return flat_warmup(signal_cached, warmup, bars, p)
