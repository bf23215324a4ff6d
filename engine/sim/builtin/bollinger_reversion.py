"""Built-in ``bollinger_reversion``: a strategy file of the same contract as a team's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.sim import indicators as ind
from engine.sim import signals as sig
from engine.sim import warmup as wu
from engine.sim.builtin._shared import Cache, cached, flat_warmup, sma, window

NAME = "bollinger_reversion"
DESCRIPTION = (
    "Long once close < SMA(window) - k*std, held until close >= SMA; short (if allowed) "
    "once close > SMA + k*std, held until close <= SMA (population std)."
)
PARAMS = {
    "window": window(20, "band window, bars", low=2),
    "k": {"type": "float", "default": 2.0, "min": 0.1, "max": 10.0,
          "help": "band width in standard deviations"},
}  # fmt: skip
CONSTRAINTS: list[Any] = []
warmup = wu.bollinger_reversion


def signal_cached(bars: Any, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    """The target (warm-up not applied); indicators shared through ``cache`` in a sweep."""
    w, k = p["window"], p["k"]
    mid = sma(bars, w, cache)
    sd = cached(cache, ("std", w, 0), lambda: ind.rolling_std(bars.close, w, 0))
    width = k * sd
    # no bands on a flat window: rounding noise around the mean must not trigger entries
    width[sd <= sig.REL_TOL * np.abs(mid)] = np.nan
    return sig.band_state(bars.close, mid - width, mid + width, mid, mid)


def signal(bars: Any, p: Mapping[str, Any]) -> np.ndarray:
    return flat_warmup(signal_cached, warmup, bars, p)
