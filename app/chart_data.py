"""Pure data preparation behind the charts: monthly return tables, axis bins, colour scales.

No plotting here, so pages can also show these tables as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DataError, ParamError
from engine.sim import metric_registry
from engine.sim.metric_registry import FLAG_NAMES, LOWER_IS_BETTER, NUMERIC_NAMES

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
AGGREGATIONS = ("median", "mean", "max", "min")
# The numeric metrics of a summary (engine.sim.metric_registry; the ruin flags are not metrics).
METRIC_COLUMNS = NUMERIC_NAMES

# Columns of a sweep summary that are neither parameters nor metrics.
NOT_PARAMETERS = frozenset({"combo_id", "source_key", *FLAG_NAMES})
MAX_AXIS_CELLS = 100  # a heatmap axis with more distinct values is binned to this many cells

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
    """Distinct values in order: numerically when they are numbers, else as text."""
    uniq = pd.unique(values.dropna())
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)


def sorted_values(values: pd.Series) -> list[Any]:
    """Distinct non-missing values as plain Python scalars, numeric order (5, 10, 15)."""
    return [v.item() if hasattr(v, "item") else v for v in _sorted_unique(values)]


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class AxisBins:
    """How one heatmap axis maps values to cells: ``labels`` per cell, ``per_cell`` distinct
    values in each (1 when every value has its own cell), ``n_values`` distinct values."""

    labels: list[Any]
    per_cell: int
    n_values: int
    uniques: list[Any]

    @property
    def binned(self) -> bool:
        """True when several values share a cell."""
        return self.per_cell > 1

    def codes(self, values: pd.Series) -> np.ndarray:
        """Cell index of each value (-1 for a value not on the axis)."""
        index = pd.Index(self.uniques).get_indexer(values)
        return np.where(index >= 0, index // self.per_cell, -1)


def axis_bins(values: pd.Series, max_cells: int = MAX_AXIS_CELLS) -> AxisBins:
    """Cells for an axis: one per distinct value up to ``max_cells``, else runs of
    consecutive distinct values (in sorted order) labelled "lo–hi", at most ``max_cells``."""
    if max_cells < 1:
        raise ParamError(f"max_cells must be at least 1, got {max_cells}")
    uniq = _sorted_unique(values)
    per_cell = max(1, -(-len(uniq) // max_cells))
    if per_cell == 1:
        return AxisBins([v.item() if hasattr(v, "item") else v for v in uniq], 1, len(uniq), uniq)
    labels = []
    for start in range(0, len(uniq), per_cell):
        lo, hi = uniq[start], uniq[min(start + per_cell, len(uniq)) - 1]
        labels.append(_label(lo) if lo == hi else f"{_label(lo)}–{_label(hi)}")
    return AxisBins(labels, per_cell, len(uniq), uniq)


def metric_colour(metric: str, values: np.ndarray) -> dict[str, Any]:
    """Plotly colour settings for ``metric``.

    Return-like metrics get a red-green scale centred on 0 (profit_factor on 1, win_rate on
    0.5); risk metrics (drawdown, volatility) a reversed sequential scale; counts and sizes a
    sequential one. An unknown metric is centred on 0 only when its values straddle 0.
    Returns keys colorscale, reversescale and, when centred, zmid.
    """
    entry = metric_registry.metric(metric)
    if entry is not None and entry.better != "higher":  # risk (reversed), sizes and counts
        return {"colorscale": SEQUENTIAL_SCALE, "reversescale": entry.better == "lower"}
    neutral = entry.neutral if entry is not None else None
    mid = 0.0 if neutral is None else neutral
    finite = values[np.isfinite(values)]
    straddles = bool(finite.size) and finite.min() < mid < finite.max()
    if neutral is not None or straddles:
        return {"colorscale": DIVERGING, "reversescale": False, "zmid": mid}
    return {"colorscale": SEQUENTIAL_SCALE, "reversescale": False}


def ruined_mask(summary: pd.DataFrame) -> np.ndarray:
    """The ``ruined`` column as booleans (all False for sweeps written before it existed)."""
    if "ruined" not in summary.columns:
        return np.zeros(len(summary), dtype=bool)
    return summary["ruined"].fillna(False).astype(bool).to_numpy()


def best_order(summary: pd.DataFrame, metric: str) -> np.ndarray:
    """Row positions best first by ``metric`` (lowest first for drawdown/volatility); rows
    without a value next, ruined rows last (never "best"); ties keep summary order."""
    values = pd.to_numeric(summary[metric], errors="coerce").to_numpy(dtype=float)
    key = values if metric in LOWER_IS_BETTER else -values
    ruined = ruined_mask(summary)
    parts = []
    for rows in (np.flatnonzero(~ruined), np.flatnonzero(ruined)):
        parts.append(rows[np.argsort(key[rows], kind="stable")])  # NaN sorts last
    return np.concatenate(parts)


@dataclass(frozen=True)
class Sample:
    """Rows of a large sweep chosen for a chart: ``rows`` and ``note`` saying which."""

    rows: pd.DataFrame
    note: str


PARCOORDS_TOP = 1000
PARCOORDS_RANDOM = 2000
SAMPLE_SEED = 0


@dataclass(frozen=True)
class SampleSize:
    """How many rows :func:`parcoords_sample` keeps: the ``top`` best plus ``n_random``
    others drawn with ``seed``."""

    top: int = PARCOORDS_TOP
    n_random: int = PARCOORDS_RANDOM
    seed: int = SAMPLE_SEED


DEFAULT_SAMPLE = SampleSize()


def parcoords_sample(
    summary: pd.DataFrame,
    metric: str,
    *,
    size: SampleSize = DEFAULT_SAMPLE,
    order: np.ndarray | None = None,
) -> Sample:
    """Every row with a ``metric`` value when there are at most ``top + n_random`` (of
    ``size``); otherwise the ``top`` best (ruined rows excluded) plus ``n_random`` of the
    others drawn with a fixed ``seed`` (the same rows on every rerun), in summary order.
    ``order`` is :func:`best_order`'s result when the caller has it already."""
    top, n_random, seed = size.top, size.n_random, size.seed
    values = pd.to_numeric(summary[metric], errors="coerce").to_numpy(dtype=float)
    has = ~np.isnan(values)
    n_has = int(has.sum())
    if n_has <= top + n_random:
        return Sample(summary.iloc[np.flatnonzero(has)], "")
    order = best_order(summary, metric) if order is None else order
    candidates = order[~ruined_mask(summary)[order] & has[order]]
    best = candidates[:top]
    rest = has.copy()
    rest[best] = False
    rng = np.random.default_rng(seed)
    others = np.flatnonzero(rest)
    picked = rng.choice(others, size=min(n_random, len(others)), replace=False)
    chosen = np.sort(np.concatenate([best, picked]))
    note = (
        f"{len(chosen):,} of the {n_has:,} combinations with a {metric}: the top {len(best):,} "
        f"by {metric} plus {len(picked):,} others drawn at random (seed {seed})"
    )
    return Sample(summary.iloc[chosen], note)
