"""Built-in ``buy_and_hold``: a strategy file of the same contract as a team's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.sim import warmup as wu
from engine.sim.builtin._shared import Cache, flat_warmup

NAME = "buy_and_hold"
DESCRIPTION = "Always long."
PARAMS: dict[str, Any] = {}
CONSTRAINTS: list[Any] = []
warmup = wu.buy_and_hold


def signal_cached(bars: Any, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    """The target: long on every bar."""
    return np.ones(bars.close.shape[0])


def signal(bars: Any, p: Mapping[str, Any]) -> np.ndarray:
    return flat_warmup(signal_cached, warmup, bars, p)
