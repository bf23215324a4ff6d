"""Pure data preparation behind the charts: monthly return tables, sweep pivots, colour scales.

No plotting here, so pages can also show these tables as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DataError, ParamError

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
AGGREGATIONS = ("median", "mean", "max", "min")
METRIC_COLUMNS = frozenset(
    {
        "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown",
        "max_drawdown_duration", "calmar", "n_trades", "win_rate", "profit_factor",
        "avg_trade_return", "exposure", "final_equity", "buy_hold_return", "periods_per_year",
    }
)  # fmt: skip

# Metrics where a smaller number is better (drawn with a reversed scale).
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_duration", "volatility"})
# Metrics with a natural neutral point other than 0.
NEUTRAL_POINT = {"profit_factor": 1.0, "win_rate": 0.5}
# Metrics that are sizes or counts, not good/bad around a neutral point.
SEQUENTIAL = frozenset({"n_trades", "exposure", "final_equity"})
# Metrics whose sign is the verdict (centred on 0).
SIGNED = frozenset(
    {"total_return", "cagr", "sharpe", "sortino", "calmar", "avg_trade_return", "buy_hold_return"}
)
DIVERGING = "RdYlGn"
SEQUENTIAL_SCALE = "Viridis"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise DataError naming the columns ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(f"{what} lacks column(s) {', '.join(missing)} (has: {have})")


def monthly_returns(equity: pd.DataFrame) -> pd.DataFrame:
    """Compounded returns per calendar month: one row per year, columns Jan..Dec and Year.

    A month's return is its last equity over the previous month's last equity (the first
    month: over the first equity value) minus 1; Year compounds the year's months. Months
    without data are NaN.
    """
    require_columns(equity, ["equity"], "equity frame")
    if not isinstance(equity.index, pd.DatetimeIndex):
        raise DataError("equity frame must be indexed by timestamp for monthly returns")
    eq = equity["equity"].astype(float).dropna()
    if len(eq) < 2:
        return pd.DataFrame(columns=[*MONTHS, "Year"], dtype=float)
    month_end = eq.resample("ME").last()
    previous = month_end.ffill().shift(1)
    previous.iloc[0] = eq.iloc[0]
    rets = month_end / previous - 1.0
    stamps = pd.DatetimeIndex(rets.index)
    years = stamps.year
    table = pd.DataFrame({"year": years, "month": stamps.month, "ret": rets.to_numpy()}).pivot(
        index="year", columns="month", values="ret"
    )
    table = table.reindex(columns=range(1, 13))
    table.columns = pd.Index(MONTHS)
    yearly = (1.0 + rets).groupby(years).prod(min_count=1) - 1.0
    table["Year"] = yearly.reindex(table.index).to_numpy()
    table.index.name = "year"
    table.columns.name = None
    return table


def _sorted_unique(values: pd.Series) -> list[Any]:
    uniq = pd.unique(values.dropna())
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)


def sweep_pivot(
    summary: pd.DataFrame,
    x: str,
    y: str,
    metric: str,
    *,
    agg: str = "median",
    fixed: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Pivot a sweep summary to ``metric`` by (``y`` rows, ``x`` columns).

    Rows are first restricted to ``fixed`` (parameter -> value); the parameters left over are
    aggregated with ``agg`` (median, mean, max, min). Rows and columns span every value of
    ``x`` and ``y`` in the whole summary; combinations without a row are NaN.
    """
    if x == y:
        raise ParamError(f"pick two different parameters for the heatmap (both are {x!r})")
    if agg not in AGGREGATIONS:
        raise ParamError(f"agg must be one of {', '.join(AGGREGATIONS)}, got {agg!r}")
    fixed = dict(fixed or {})
    require_columns(summary, [x, y, metric, *fixed], "sweep summary")
    if x in fixed or y in fixed:
        raise ParamError("a heatmap axis cannot also be a fixed parameter")
    rows = summary
    for name, value in fixed.items():
        rows = rows[rows[name] == value]
    values = pd.to_numeric(rows[metric], errors="coerce")
    grid = values.groupby([rows[y], rows[x]]).agg(agg).unstack(x)
    grid = grid.reindex(index=_sorted_unique(summary[y]), columns=_sorted_unique(summary[x]))
    grid.index.name, grid.columns.name = y, x
    return grid.astype(float)


def aggregated_parameters(
    summary: pd.DataFrame, x: str, y: str, fixed: Mapping[str, Any] | None = None
) -> list[str]:
    """The summary's parameter columns (not metrics) that a heatmap of x by y aggregates over."""
    skip = {x, y, *(fixed or {})}
    return [c for c in summary.columns if c not in METRIC_COLUMNS and c not in skip]


def metric_colour(metric: str, values: np.ndarray) -> dict[str, Any]:
    """Plotly colour settings for ``metric``.

    Return-like metrics get a red-green scale centred on 0 (profit_factor on 1, win_rate on
    0.5); risk metrics (drawdown, volatility) a reversed sequential scale; counts and sizes a
    sequential one. An unknown metric is centred on 0 only when its values straddle 0.
    Returns keys colorscale, reversescale and, when centred, zmid.
    """
    if metric in SEQUENTIAL or metric in LOWER_IS_BETTER:
        return {"colorscale": SEQUENTIAL_SCALE, "reversescale": metric in LOWER_IS_BETTER}
    mid = NEUTRAL_POINT.get(metric, 0.0)
    finite = values[np.isfinite(values)]
    straddles = bool(finite.size) and finite.min() < mid < finite.max()
    if metric in NEUTRAL_POINT or metric in SIGNED or straddles:
        return {"colorscale": DIVERGING, "reversescale": False, "zmid": mid}
    return {"colorscale": SEQUENTIAL_SCALE, "reversescale": False}
