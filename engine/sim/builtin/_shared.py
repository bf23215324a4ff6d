"""Pieces the built-in strategy modules share: the indicator cache of a sweep, the parameter
and rule shapes they use (plain contract values: dicts and (name, function, names) tuples)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engine.sim import indicators as ind

Cache = dict[tuple[Any, ...], np.ndarray]


def cached(cache: Cache | None, key: tuple[Any, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
    """``cache[key]``, made once; without a cache (a single run) just ``make()``."""
    if cache is None:
        return make()
    arr = cache.get(key)
    if arr is None:
        arr = make()
        cache[key] = arr
    return arr


def sma(bars: Any, w: int, cache: Cache | None) -> np.ndarray:
    return cached(cache, ("sma", w), lambda: ind.sma(bars.close, w))


def ema(bars: Any, w: int, cache: Cache | None) -> np.ndarray:
    return cached(cache, ("ema", w), lambda: ind.ema(bars.close, w))


def window(default: int, help_: str, low: int = 1) -> dict[str, Any]:
    """A bar-count parameter: int ``low``..10,000."""
    return {"type": "int", "default": default, "min": low, "max": 10_000, "help": help_}


def less(a: str, b: str) -> tuple[str, Callable[[Mapping[str, Any]], bool], tuple[str, str]]:
    """The rule ``a < b``, named ``"a must be < b"``."""
    return (f"{a} must be < {b}", lambda p: p[a] < p[b], (a, b))


def flat_warmup(
    signal_cached: Callable[[Any, Mapping[str, Any], Cache | None], np.ndarray],
    warmup: Callable[[Mapping[str, Any]], int],
    bars: Any,
    p: Mapping[str, Any],
) -> np.ndarray:
    """The contract's ``signal(bars, p)`` of a built-in: its target, flat during the warm-up."""
    out = signal_cached(bars, p, None)
    out[: warmup(p)] = 0.0
    return out
