"""The metric registry: every metric a run or a sweep reports, defined once.

Like the strategy registry (engine/sim/strategies.py), it is the single source the other layers
read: ``engine.sim.metrics.METRIC_NAMES`` and the kernels' named row slots (engine/sim/kernels.py)
take their order from :data:`METRICS`; the dashboard takes labels, number formats
(app/run_format.py) and colour rules and "best" orderings (app/chart_data.py) from the same entries.

Each :class:`Metric` has a ``name`` (the key in metrics.json and the summary column), a
``label``, a ``fmt`` (``pct`` fraction shown as percent, ``ratio``, ``count``, ``money``),
``better`` (``"higher"``, ``"lower"``, or None for sizes and counts that are no verdict) and a
``neutral`` point (the value between good and bad: 0 for returns, 1 for the profit factor;
None when there is none). :data:`FLAGS` are the ruin fields (``ruined``, ``ruined_at``): flags,
not numeric metrics, never coloured, averaged or ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Format = Literal["pct", "ratio", "count", "money", "flag", "time"]
Better = Literal["higher", "lower"] | None


@dataclass(frozen=True)
class Metric:
    """One reported figure: name, label, format, which direction is better, neutral point."""

    name: str
    label: str
    fmt: Format
    better: Better
    neutral: float | None = None
    flag: bool = False


# In the kernels' row order (engine/sim/kernels.py writes its metrics row in this order).
METRICS: tuple[Metric, ...] = (
    Metric("total_return", "Total return", "pct", "higher", 0.0),
    Metric("cagr", "CAGR", "pct", "higher", 0.0),
    Metric("volatility", "Volatility", "pct", "lower"),
    Metric("sharpe", "Sharpe", "ratio", "higher", 0.0),
    Metric("sortino", "Sortino", "ratio", "higher", 0.0),
    Metric("max_drawdown", "Max drawdown", "pct", "lower"),
    Metric("max_drawdown_duration", "Longest DD (bars)", "count", "lower"),
    Metric("calmar", "Calmar", "ratio", "higher", 0.0),
    Metric("n_trades", "Trades", "count", None),
    Metric("win_rate", "Win rate", "pct", "higher", 0.5),
    Metric("profit_factor", "Profit factor", "ratio", "higher", 1.0),
    Metric("avg_trade_return", "Avg trade", "pct", "higher", 0.0),
    Metric("exposure", "Exposure", "pct", None),
    Metric("final_equity", "Final equity", "money", None),
    Metric("buy_hold_return", "Buy & hold", "pct", "higher", 0.0),
    Metric("periods_per_year", "Periods / year", "ratio", None),
)
# The ruin fields: ``ruined`` is the kernels' last row slot (1.0 / 0.0; a bool in metrics.json),
# ``ruined_at`` the ruin bar's time (single runs only).
FLAGS: tuple[Metric, ...] = (
    Metric("ruined", "Ruined", "flag", None, flag=True),
    Metric("ruined_at", "Ruined at", "time", None, flag=True),
)
# The kernels' metrics row: every numeric metric, then the ruin flag.
ROW_NAMES: tuple[str, ...] = (*(m.name for m in METRICS), "ruined")
# The order the dashboard shows metrics in (cards, tables, the report).
DISPLAY_ORDER: tuple[str, ...] = (
    "total_return", "cagr", "buy_hold_return", "sharpe", "sortino", "calmar", "max_drawdown",
    "max_drawdown_duration", "volatility", "n_trades", "win_rate", "profit_factor",
    "avg_trade_return", "exposure", "final_equity", "periods_per_year",
)  # fmt: skip
# Not meaningful across a ruin: NaN in a ruined run's metrics (single runs and sweeps alike).
RUIN_UNDEFINED: tuple[str, ...] = ("cagr", "volatility", "sharpe", "sortino", "calmar")

BY_NAME: dict[str, Metric] = {m.name: m for m in (*METRICS, *FLAGS)}
NUMERIC_NAMES: frozenset[str] = frozenset(m.name for m in METRICS)
FLAG_NAMES: frozenset[str] = frozenset(m.name for m in FLAGS)
LOWER_IS_BETTER: frozenset[str] = frozenset(m.name for m in METRICS if m.better == "lower")


def metric(name: str) -> Metric | None:
    """The registry entry for ``name`` (a metric or a flag), or None when unknown."""
    return BY_NAME.get(name)


def slot(name: str) -> int:
    """The index of ``name`` in the kernels' metrics row (:data:`ROW_NAMES`)."""
    return ROW_NAMES.index(name)


if sorted(DISPLAY_ORDER) != sorted(NUMERIC_NAMES):  # a metric added to one list only
    raise ImportError("engine.sim.metric_registry: DISPLAY_ORDER must list every metric once")
