"""Built-in ``ema_cross``: a module of the strategy-file contract (engine.sim.contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.sim import signals as sig
from engine.sim import warmup as wu
from engine.sim.builtin._shared import Cache, ema, flat_warmup, less, window

NAME = "ema_cross"
DESCRIPTION = "Long while EMA(close, fast) > EMA(close, slow); short (if allowed) while below."
PARAMS = {
    "fast": window(12, "fast EMA span, bars"),
    "slow": window(26, "slow EMA span, bars", low=2),
}
CONSTRAINTS = [less("fast", "slow")]
warmup = wu.ema_cross


def signal_cached(bars: Any, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    """The target (warm-up not applied); indicators shared through ``cache`` in a sweep."""
    return sig.cross_sign(ema(bars, p["fast"], cache), ema(bars, p["slow"], cache))


def signal(bars: Any, p: Mapping[str, Any]) -> np.ndarray:
    return flat_warmup(signal_cached, warmup, bars, p)
