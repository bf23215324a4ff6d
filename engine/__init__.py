"""The backtest engine: data loading, strategies, compiled kernels, metrics, storage, CLI.

The public API is imported lazily (``import engine`` stays cheap for the CLI and the jobs):

>>> from engine import load_prices, run_backtest, run_sweep, BacktestResult
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["BacktestResult", "__version__", "load_prices", "run_backtest", "run_sweep"]

_LAZY = {
    "load_prices": "engine.data",
    "run_backtest": "engine.api",
    "run_sweep": "engine.api",
    "BacktestResult": "engine.api",
}

if TYPE_CHECKING:
    from engine.api import BacktestResult, run_backtest, run_sweep
    from engine.data import load_prices


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
