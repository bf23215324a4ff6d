"""Bring your own strategy: a team's strategy files, validated, stored, loaded like built-ins.

- :func:`validate_source` checks a file in a subprocess (never imports it here) and returns
  its :class:`StrategyInfo`; every refusal is one :class:`StrategyError` line.
- :func:`put_strategy`, :func:`list_strategies`, :func:`get_strategy`,
  :func:`delete_strategy`: ``strategies/<NAME>.py`` + ``.json`` sidecar in the input bucket
  (no user code runs).
- :func:`resolve_strategy`: a built-in first, then the stored file, loaded into a
  :class:`engine.sim.strategies.Strategy` (engine processes only: it runs the file).

The contract is in :mod:`engine.sim.contract`.
"""

from engine.errors import StrategyError
from engine.userstrat.library import (
    STRATEGY_PREFIX,
    delete_strategy,
    get_strategy,
    list_strategies,
    put_strategy,
    sidecar_key,
    source_key,
)
from engine.userstrat.resolve import load_pinned, load_strategy_file, resolve_strategy
from engine.userstrat.validate import StrategyInfo, validate_source

__all__ = [
    "STRATEGY_PREFIX",
    "StrategyError",
    "StrategyInfo",
    "delete_strategy",
    "get_strategy",
    "list_strategies",
    "load_pinned",
    "load_strategy_file",
    "put_strategy",
    "resolve_strategy",
    "sidecar_key",
    "source_key",
    "validate_source",
]
