"""The seven built-in strategies, each a module of the strategy-file contract.

Each ``engine/sim/builtin/<name>.py`` has what a team's file has (``NAME``, ``DESCRIPTION``,
``PARAMS``, ``CONSTRAINTS``, ``signal(bars, p)``) and is read by the same contract reader
(:func:`engine.sim.contract.read_module`), so a built-in and a team's file are one kind of
thing. A built-in adds two things a file may not: ``signal_cached(bars, p, cache)`` (the
target, sharing indicator arrays between the combinations of a sweep: the fused sweep path's
speed) and ``warmup(p)`` (the bars forced flat, from :mod:`engine.sim.warmup`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.sim.strategies import Strategy

NAMES = (
    "sma_cross",
    "ema_cross",
    "rsi_reversion",
    "bollinger_reversion",
    "donchian_breakout",
    "momentum",
    "buy_and_hold",
)


def load() -> dict[str, Strategy]:
    """Every built-in as a registry Strategy, in :data:`NAMES` order."""
    from engine.sim import contract as ct
    from engine.sim.strategies import Strategy

    out: dict[str, Strategy] = {}
    for module_name in NAMES:
        module = importlib.import_module(f"{__name__}.{module_name}")
        filename = f"engine/sim/builtin/{module_name}.py"
        name, description, params, constraints, _ = ct.read_module(module, filename, frozenset())
        out[name] = Strategy(
            name, description, params, constraints, module.signal_cached, module.warmup
        )
    return out
