"""The sweep evaluator: many combinations on one price series, metrics + compact returns only.

:func:`evaluate` runs a list of parameter combinations of one strategy over one series of bars.
Indicator arrays are shared between combinations through the strategy's signal cache (bounded
by :class:`BoundedCache`), and each combination runs :func:`sweep_kernel`, which is
:func:`engine.sim.kernels.simulate_metrics_periods`: the one bar loop of the engine
(``engine.sim.kernel_loop._run``, same fills, stops and online metrics as ``simulate_metrics``) with
its period returns on, compounding the per-bar returns into at most ``n_periods`` contiguous
periods by the rule of :func:`engine.sweep.robustness.aggregate_returns` (period return = equity at
the period's last bar / equity before its first bar - 1, which is prod(1 + r) - 1 over its
bars). Nothing per bar is kept: memory is the price arrays, the indicator cache and
``n_combinations x (17 + n_periods)`` numbers.

A ruined combination (equity reached 0 at a mark; DESIGN.md "Ruin") has ``ruined`` = 1.0 in
its metrics row (a boolean column in every table built from it), NaN cagr, volatility, sharpe,
sortino and calmar, and period returns of -1 for the period of the ruin and 0 after it.

:func:`run_sweep` is the Python API's sweep with the SweepSpec space syntax (``"5:50:5"``
inclusive ranges, ``"a,b,c"`` lists, ``{"start", "stop", "step"}``) as well as Python iterables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.sim import kernels as k
from engine.sim.kernels import METRIC_ORDER
from engine.sim.strategies import Bars, Strategy
from engine.spec import SimOptions

RETURN_PERIODS = 64  # columns of the per-period return matrix kept for PBO
CACHE_BUDGET_BYTES = 96 * 2**20  # indicator arrays kept per price series (LRU)


def period_edges(n_bars: int, n_periods: int = RETURN_PERIODS) -> np.ndarray:
    """Period boundaries (int64, length P + 1) exactly as :func:`aggregate_returns` cuts them."""
    if n_bars <= n_periods:
        return np.arange(n_bars + 1, dtype=np.int64)
    return np.linspace(0, n_bars, n_periods + 1).astype(np.int64)


# One combination -> its metrics row (METRIC_ORDER), bit-identical to simulate_metrics;
# sweep_kernel(open_, high, low, close, target, cfg, edges, periods) fills periods[j] with the
# compounded return of bars edges[j]..edges[j+1]-1 (edges from period_edges).
sweep_kernel = k.simulate_metrics_periods


class BoundedCache(dict[tuple[Any, ...], np.ndarray]):
    """The strategy signal cache with a byte budget; the least recently used arrays go first.

    A grid's inner axis (e.g. every slow window) is read again for each outer value, so it
    stays; an outer value's array is used for one run of combinations and then ages out.
    """

    def __init__(self, budget_bytes: int = CACHE_BUDGET_BYTES) -> None:
        super().__init__()
        self.budget = int(budget_bytes)
        self.nbytes = 0

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        """The cached array (now the most recently used), or ``default``."""
        if key not in self:
            return default
        value = super().pop(key)
        super().__setitem__(key, value)
        return value

    def __setitem__(self, key: tuple[Any, ...], value: np.ndarray) -> None:
        if key in self:
            self.nbytes -= int(super().pop(key).nbytes)
        size = int(getattr(value, "nbytes", 0))
        while self and self.nbytes + size > self.budget:
            oldest = next(iter(self))
            self.nbytes -= int(super().pop(oldest).nbytes)
        super().__setitem__(key, value)
        self.nbytes += size


def sim_config(prices: pd.DataFrame, options: SimOptions) -> np.ndarray:
    """The kernel config of ``options`` on ``prices`` (annualisation from the data)."""
    from engine.sim.metrics import annual_periods, years_between

    ts = prices.index.to_numpy()
    years = years_between(ts[[0, -1]])
    ppy = annual_periods(len(prices), years, options.periods_per_year)
    return k.make_config(options, ppy, years)


def evaluate(
    prices: pd.DataFrame,
    strategy: Strategy,
    combos: Sequence[Mapping[str, Any]],
    options: SimOptions,
    *,
    n_periods: int = RETURN_PERIODS,
    cache: dict[tuple[Any, ...], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Metrics ``(len(combos), len(METRIC_ORDER))`` float64 and returns ``(len(combos), P)``
    float32 (P = min(n_periods, bars)) of every combination on ``prices``.

    ``combos`` are validated parameter dicts; ``prices`` a :func:`engine.load_prices` frame
    with enough bars for every combination (the caller checks).
    """
    bars = Bars.from_frame(prices)
    cfg = sim_config(prices, options)
    edges = period_edges(len(prices), n_periods)
    metrics = np.empty((len(combos), len(METRIC_ORDER)))
    returns = np.full((len(combos), len(edges) - 1), np.nan, dtype=np.float32)
    shared = BoundedCache() if cache is None else cache
    for i, params in enumerate(combos):
        target = np.ascontiguousarray(strategy.signal(bars, params, shared), dtype=np.float64)
        metrics[i] = sweep_kernel(
            bars.open, bars.high, bars.low, bars.close, target, cfg, edges, returns[i]
        )
    return metrics, returns
