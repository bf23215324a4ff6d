"""Warm-ups derived from where indicators become defined (DESIGN.md "Warm-up").

A rule's target is flat only while one of its indicators is undefined; on the first bar where
all are defined it is what the rule says. Each indicator of :mod:`engine.sim.indicators`
declares its *lookback*: the index of its first defined value for finite input (NaN before,
defined from there on). A strategy's warm-up is the largest lookback of its indicators:
the number of leading bars whose target is forced flat, and so the first bar it may act on.
A run needs ``warmup + 1`` bars (at least one bar where the rule is defined).

tests/engine/test_warmup.py checks every declared lookback against the indicator arrays and
every built-in's warm-up against the first bar where its indicators (computed independently
with pandas) are all finite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# kind -> window -> index of the first defined value
LOOKBACKS: dict[str, Callable[[int], int]] = {
    "sma": lambda window: window - 1,  # mean of x[i-window+1..i]
    "ema": lambda span: span - 1,  # seeded with the mean of the first span values
    "rsi": lambda period: period,  # period changes need period + 1 values
    "rolling_std": lambda window: window - 1,
    "rolling_max": lambda window: window - 1,
    "rolling_min": lambda window: window - 1,
    "roc": lambda lookback: lookback,  # x[i] / x[i - lookback] - 1
    "shift": lambda periods: periods,  # of a series defined from bar 0
}


def lookback(kind: str, window: int) -> int:
    """First defined index of indicator ``kind`` (a key of :data:`LOOKBACKS`) with ``window``."""
    return LOOKBACKS[kind](int(window))


def prior_lookback(kind: str, window: int, periods: int = 1) -> int:
    """First defined index of ``shift(kind(x, window), periods)`` (e.g. a prior channel)."""
    return lookback(kind, window) + int(periods)


def warmup_from_lookbacks(*lookbacks: int) -> int:
    """The warm-up of a rule on indicators with these lookbacks: the first bar where every
    one is defined (0 for a rule on no indicator)."""
    return max((int(b) for b in lookbacks), default=0)


# --- the seven built-ins: each from its indicators' lookbacks --------------------------------

Params = Mapping[str, Any]


def sma_cross(p: Params) -> int:
    """SMA(fast) and SMA(slow): from bar ``max(fast, slow) - 1``."""
    return warmup_from_lookbacks(lookback("sma", p["fast"]), lookback("sma", p["slow"]))


def ema_cross(p: Params) -> int:
    """EMA(fast) and EMA(slow): from bar ``max(fast, slow) - 1``."""
    return warmup_from_lookbacks(lookback("ema", p["fast"]), lookback("ema", p["slow"]))


def rsi_reversion(p: Params) -> int:
    """RSI(period): from bar ``period``."""
    return warmup_from_lookbacks(lookback("rsi", p["period"]))


def bollinger_reversion(p: Params) -> int:
    """SMA(window) and the population std over window: from bar ``window - 1``."""
    w = p["window"]
    return warmup_from_lookbacks(lookback("sma", w), lookback("rolling_std", w))


def donchian_breakout(p: Params) -> int:
    """The prior ``entry``- and ``exit``-bar high/low channels: from bar ``max(entry, exit)``."""
    return warmup_from_lookbacks(
        *(prior_lookback(kind, p[name]) for kind in ("rolling_max", "rolling_min")
          for name in ("entry", "exit"))
    )  # fmt: skip


def momentum(p: Params) -> int:
    """ROC(lookback): from bar ``lookback``."""
    return warmup_from_lookbacks(lookback("roc", p["lookback"]))


def buy_and_hold(p: Params) -> int:
    """No indicator: acts from bar 0."""
    return warmup_from_lookbacks()


BUILTIN: dict[str, Callable[[Params], int]] = {
    "sma_cross": sma_cross,
    "ema_cross": ema_cross,
    "rsi_reversion": rsi_reversion,
    "bollinger_reversion": bollinger_reversion,
    "donchian_breakout": donchian_breakout,
    "momentum": momentum,
    "buy_and_hold": buy_and_hold,
}
