"""Built-in ``sma_cross``: a module of the strategy-file contract (engine.sim.contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.sim import signals as sig
from engine.sim import warmup as wu
from engine.sim.builtin._shared import Cache, flat_warmup, less, sma, window

NAME = "sma_cross"
DESCRIPTION = "Long while SMA(close, fast) > SMA(close, slow); short (if allowed) while below."
PARAMS = {
    "fast": window(10, "fast moving-average window, bars"),
    "slow": window(50, "slow moving-average window, bars", low=2),
}
CONSTRAINTS = [less("fast", "slow")]
warmup = wu.sma_cross


def signal_cached(bars: Any, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    """The target (warm-up not applied); indicators shared through ``cache`` in a sweep."""
    if cache is None:  # one pass, no SMA arrays: bit-identical to the cached path below
        out = np.empty(bars.close.shape[0])
        sig.sma_cross_into(bars.close, p["fast"], p["slow"], out)
        return out
    return sig.cross_sign(sma(bars, p["fast"], cache), sma(bars, p["slow"], cache))


def signal(bars: Any, p: Mapping[str, Any]) -> np.ndarray:
    return flat_warmup(signal_cached, warmup, bars, p)
