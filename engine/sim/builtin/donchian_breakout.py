"""Built-in ``donchian_breakout``: a strategy file of the same contract as a team's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.sim import indicators as ind
from engine.sim import signals as sig
from engine.sim import warmup as wu
from engine.sim.builtin._shared import Cache, cached, flat_warmup, window

NAME = "donchian_breakout"
DESCRIPTION = (
    "Long on a close above the prior `entry`-bar high, exit on a close below the prior "
    "`exit`-bar low; short (if allowed) mirrors it."
)
PARAMS = {
    "entry": window(20, "breakout channel, bars (excluding the current bar)"),
    "exit": window(10, "exit channel, bars (excluding the current bar)"),
}
CONSTRAINTS: list[Any] = []
warmup = wu.donchian_breakout


def signal_cached(bars: Any, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    """The target (warm-up not applied); indicators shared through ``cache`` in a sweep."""

    def prior(kind: str, w: int) -> np.ndarray:
        fn = ind.rolling_max if kind == "max" else ind.rolling_min
        src = bars.high if kind == "max" else bars.low
        return cached(cache, ("prior_" + kind, w), lambda: ind.shift(fn(src, w), 1))

    hi_n, lo_n = prior("max", p["entry"]), prior("min", p["entry"])
    hi_m, lo_m = prior("max", p["exit"]), prior("min", p["exit"])
    # the state machine starts flat on the first bar where all four channels exist (as
    # backtrader's next() does): with entry < exit an entry before the exit channel exists
    # would otherwise be held, unseen behind the warm-up, into the first defined bar
    start = wu.donchian_breakout(p)
    out = np.zeros(bars.close.shape[0])
    levels = (a[start:] for a in (bars.close, hi_n, lo_n, hi_m, lo_m))
    out[start:] = sig.breakout_state(*levels)
    return out


def signal(bars: Any, p: Mapping[str, Any]) -> np.ndarray:
    return flat_warmup(signal_cached, warmup, bars, p)
