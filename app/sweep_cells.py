"""The cells a sweep chart draws (heatmap: two parameters; line: one), bounded whatever the
sweep's size, with what hover and click need: per cell the aggregated metric, how many
combinations it holds, and every parameter and metric of its best combination (the one a
click opens). Pure pandas/numpy, no Streamlit, no plotting.

"Best" is as in :func:`app.chart_data.best_order`: highest (lowest for drawdown/volatility)
metric, the first in summary order on a tie, rows without a value and ruined rows never best.
A cell whose combinations are all ruined or without a value has no best combination (its best
columns are empty).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.chart_data import (
    AGGREGATIONS,
    METRIC_COLUMNS,
    NOT_PARAMETERS,
    AxisBins,
    axis_bins,
    require_columns,
    ruined_mask,
)
from engine.errors import ParamError
from engine.sim.metric_registry import LOWER_IS_BETTER

# Cells per heatmap axis (every cell carries its best combination's parameters and metrics for
# the hover: 2,500 cells x ~25 columns stay ~0.5 MB) and points of a one-parameter line.
MAX_HEATMAP_AXIS = 50
MAX_LINE_POINTS = 500
VALUE, COUNT, RUINED_COUNT, TEXT = "value", "n", "n_ruined", "text"
XI, YI, X_LABEL, Y_LABEL, ROW = "xi", "yi", "x_label", "y_label", "row"
SIGNIFICANT = 4  # digits kept for hover values (the table has the full values)


@dataclass(frozen=True)
class ChartChoice:
    """What the user picked: the metric, the x (and y, None for a line) parameter, how cells
    aggregate, and parameters held at one value."""

    metric: str
    x: str
    y: str | None = None
    agg: str = "median"
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        """A hashable identity (for caches and widget keys)."""
        return (self.metric, self.x, self.y, self.agg, tuple(sorted(self.fixed.items())))


@dataclass(frozen=True)
class BestMark:
    """The best combination of the charted rows and the cell it falls in."""

    xi: int
    yi: int
    row: int  # position in the summary
    params: dict[str, Any]
    value: float


@dataclass(frozen=True)
class Cells:
    """One row per cell holding at least one combination (see the column constants), the
    axis labels, the best mark and what the cells aggregate over."""

    choice: ChartChoice
    frame: pd.DataFrame
    x_labels: list[Any]
    y_labels: list[Any]
    bins: dict[str, AxisBins]
    others: list[str]
    params: list[str]
    metrics: list[str]
    best: BestMark | None

    @property
    def n_cells(self) -> int:
        """Cells with at least one combination."""
        return len(self.frame)

    def at(self, index: int) -> dict[str, Any] | None:
        """The cell at dataset row ``index`` as a dict, or None when out of range."""
        if not 0 <= int(index) < len(self.frame):
            return None
        return {str(k): v for k, v in self.frame.iloc[int(index)].to_dict().items()}


def round_significant(values: np.ndarray, digits: int = SIGNIFICANT) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (NaN and 0 kept).

    >>> round_significant(np.array([123456.0, 0.000123456, -1.23456, 0.0])).tolist()
    [123500.0, 0.0001235, -1.235, 0.0]
    """
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(v)))
    scale = np.where(np.isfinite(mag), 10.0 ** (digits - 1 - np.where(np.isfinite(mag), mag, 0)), 1)
    return np.round(v * scale) / scale


def _text(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.3g}"


def _check(summary: pd.DataFrame, choice: ChartChoice, params: Sequence[str]) -> None:
    if choice.agg not in AGGREGATIONS:
        raise ParamError(f"agg must be one of {', '.join(AGGREGATIONS)}, got {choice.agg!r}")
    axes = [choice.x] if choice.y is None else [choice.x, choice.y]
    if choice.y == choice.x:
        raise ParamError(f"pick two different parameters for the heatmap (both are {choice.x!r})")
    for axis in axes:
        if axis not in params:
            raise ParamError(f"unknown parameter {axis!r}; pick one of {', '.join(params)}")
        if axis in choice.fixed:
            raise ParamError("a chart axis cannot also be a fixed parameter")
    require_columns(summary, [*axes, choice.metric, *choice.fixed], "sweep summary")


def sweep_cells(
    summary: pd.DataFrame, params: Sequence[str], choice: ChartChoice, max_cells: int | None = None
) -> Cells:
    """The cells of ``choice`` over ``summary`` (``params``: the swept parameter columns).

    Rows are restricted to ``choice.fixed``; each axis spans every value of its parameter in
    the whole summary and is binned to ``max_cells`` (default MAX_HEATMAP_AXIS for a heatmap,
    MAX_LINE_POINTS for a line). A cell's ``value`` is ``choice.agg`` of the metric over its
    combinations; its other columns are its best combination's parameters and metrics.
    """
    _check(summary, choice, params)
    limit = max_cells or (MAX_HEATMAP_AXIS if choice.y is not None else MAX_LINE_POINTS)
    keep = np.ones(len(summary), dtype=bool)
    for name, value in choice.fixed.items():
        keep &= (summary[name] == value).to_numpy()
    positions = np.flatnonzero(keep)
    rows = summary.iloc[positions]
    x_bins = axis_bins(summary[choice.x], limit)
    bins = {choice.x: x_bins}
    cy = np.zeros(len(rows), dtype=np.int64)
    y_labels: list[Any] = [""]
    if choice.y is not None:
        y_bins = axis_bins(summary[choice.y], limit)
        bins[choice.y] = y_bins
        cy, y_labels = y_bins.codes(rows[choice.y]), y_bins.labels
    cx = x_bins.codes(rows[choice.x])
    on_axes = (cx >= 0) & (cy >= 0)  # a missing parameter value is on no cell
    if not on_axes.all():
        positions, rows, cx, cy = positions[on_axes], rows[on_axes], cx[on_axes], cy[on_axes]
    key = cy * len(x_bins.labels) + cx
    values = pd.to_numeric(rows[choice.metric], errors="coerce").to_numpy(dtype=float)
    ruined = ruined_mask(rows)
    # the best of each cell without sorting a million rows: the first highest score per cell
    # (the metric, negated when lower is better; -inf for ruined rows and rows without one)
    score = -values if choice.metric in LOWER_IS_BETTER else values.copy()
    score[ruined | ~np.isfinite(values)] = -np.inf
    grouped = pd.DataFrame({VALUE: values, "score": score}).groupby(key)  # one grouping
    stats = pd.DataFrame({VALUE: grouped[VALUE].agg(choice.agg)})
    cells_total = len(x_bins.labels) * len(y_labels)
    stats[COUNT] = np.bincount(key, minlength=cells_total)[stats.index]
    stats[RUINED_COUNT] = np.bincount(key, weights=ruined, minlength=cells_total)[
        stats.index
    ].astype(np.int64)
    cell_best = grouped["score"].idxmax()
    best_local = cell_best[np.isfinite(score[cell_best.to_numpy()])]
    top_score = int(np.argmax(score)) if score.size else -1
    metrics = [c for c in rows.columns if c in METRIC_COLUMNS]
    local = best_local.reindex(stats.index)
    has = local.notna().to_numpy()
    picked = local.to_numpy()[has].astype(np.int64)
    frame = _cell_frame(stats, has, rows.iloc[picked], positions[picked], (params, metrics))
    n_x = len(x_bins.labels)
    frame.insert(0, YI, (frame.index // n_x).astype(np.int64))
    frame.insert(0, XI, (frame.index % n_x).astype(np.int64))
    frame.insert(2, X_LABEL, [str(x_bins.labels[i]) for i in frame[XI]])
    frame.insert(3, Y_LABEL, [str(y_labels[i]) for i in frame[YI]])
    best = None
    if top_score >= 0 and np.isfinite(score[top_score]):
        top = top_score
        best = BestMark(
            int(cx[top]), int(cy[top]), int(positions[top]),
            {p: _plain(rows.iloc[top][p]) for p in params}, float(values[top]),
        )  # fmt: skip
    skip = {choice.x, choice.y, *choice.fixed, *NOT_PARAMETERS}
    others = [p for p in params if p not in skip]
    if "source_key" in rows.columns and rows["source_key"].nunique() > 1:
        others.append("source_key")
    return Cells(
        choice, frame.reset_index(drop=True), list(x_bins.labels), list(y_labels), bins,
        others, list(params), metrics, best,
    )  # fmt: skip


def _cell_frame(
    stats: pd.DataFrame,
    has: np.ndarray,
    best_rows: pd.DataFrame,
    best_positions: np.ndarray,
    columns: tuple[Sequence[str], Sequence[str]],
) -> pd.DataFrame:
    """Per cell (index: cell key): value, n, n_ruined, text, row (summary position of the best;
    -1 where ``has`` is False: no best), then the best combination's parameters and metrics
    (``columns``: the two lists; hover values)."""
    params, metrics = columns
    frame = stats.copy()
    frame[VALUE] = round_significant(frame[VALUE].to_numpy(dtype=float))
    frame[TEXT] = [_text(v) for v in frame[VALUE]]
    row = np.full(len(frame), -1, dtype=np.int64)
    row[has] = best_positions
    frame[ROW] = row
    for p in params:
        picked = np.full(len(frame), None, dtype=object)
        picked[has] = [_plain(v) for v in best_rows[p]]
        numeric = pd.api.types.is_numeric_dtype(best_rows[p])
        frame[p] = pd.to_numeric(pd.Series(picked)).to_numpy() if numeric else picked
    for m in metrics:
        column = np.full(len(frame), np.nan)
        column[has] = pd.to_numeric(best_rows[m], errors="coerce").to_numpy(dtype=float)
        frame[m] = round_significant(column)
    return frame


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def neighbourhood(cells: Cells) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The best cell's neighbourhood (one cell on each side, clipped to the axes) as
    ((x from, y from), (x to, y to)); None without a best."""
    if cells.best is None:
        return None
    nx, ny = len(cells.x_labels), len(cells.y_labels)
    b = cells.best
    return (max(0, b.xi - 1), max(0, b.yi - 1)), (min(nx - 1, b.xi + 1), min(ny - 1, b.yi + 1))
