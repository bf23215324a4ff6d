"""ECharts options (plain dicts for ``st.echarts_chart``) for the sweep pages: the heatmap of
two parameters, the line of one, the PBO logit histogram and the in-sample vs out-of-sample
scatter. No Streamlit here.

Why ECharts and not plotly for these: a fresh browser loads Streamlit's ECharts chunk (1.2 MB)
and draws a 100 x 100 heatmap in about half the time plotly's 4.7 MB chunk takes (measured in
Chromium, bench/browser_bench.py; README "Sweep results in a real browser"), and the first
chart is what the 3 s target is about. The chart area sits at fixed pixel margins
(:data:`GRID`), so a cell's position on the canvas follows from its index (the e2e test clicks
one). Cell data go as a dataframe (``dataset.source``: Arrow, not JSON lists).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.chart_data import DIVERGING, metric_colour
from app.sweep_cells import (
    COUNT,
    RUINED_COUNT,
    TEXT,
    VALUE,
    X_LABEL,
    XI,
    Y_LABEL,
    YI,
    Cells,
    neighbourhood,
)

# Fixed chart margins in pixels (the e2e test maps a cell index to a click position).
# "outerBoundsMode": "none" keeps ECharts 6 from shrinking the grid to fit the axis labels.
GRID = {"left": 110, "right": 120, "top": 90, "bottom": 100, "outerBoundsMode": "none"}
MAX_LABELLED_CELLS = 400  # values are printed in the cells up to this many
HEATMAP_HEIGHT = 640
LINE_HEIGHT = 460
BEST_COLOUR = "#111111"
PLATEAU_COLOUR = "#1f4fd1"
SCALES = {
    DIVERGING: ["#a50026", "#d73027", "#f46d43", "#fdae61", "#fee08b", "#ffffbf", "#d9ef8b",
                "#a6d96a", "#66bd63", "#1a9850", "#006837"],
    "Viridis": ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
                "#6ece58", "#b5de2b", "#fde725"],
}  # fmt: skip


def _esc(value: Any) -> str:
    return html.escape(str(value))


def colour_map(metric: str, values: np.ndarray, dimension: int) -> dict[str, Any]:
    """A continuous visualMap for ``metric`` (the colour rules of chart_data.metric_colour:
    centred on the neutral point for returns and ratios, reversed for drawdown/volatility)."""
    style = metric_colour(metric, values)
    colours = list(SCALES.get(style["colorscale"], SCALES["Viridis"]))
    if style.get("reversescale"):
        colours.reverse()
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if "zmid" in style:
        mid = float(style["zmid"])
        span = max(abs(hi - mid), abs(mid - lo)) or 1e-9
        lo, hi = mid - span, mid + span
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return {
        "type": "continuous", "dimension": dimension, "min": lo, "max": hi,
        "inRange": {"color": colours}, "calculable": True, "orient": "vertical",
        "right": 10, "top": "middle", "itemHeight": 300, "text": [f"{hi:.3g}", f"{lo:.3g}"],
        "precision": _precision(lo, hi), "seriesIndex": 0,
    }  # fmt: skip


def _precision(lo: float, hi: float) -> int:
    """Decimals for the colour bar's handle labels (ECharts rounds them to 0 by default, so
    a Sharpe range of -0.405..0.405 read "-0".."0"): three significant digits of the span.

    >>> _precision(-0.405, 0.405), _precision(0.0, 250.0)
    (3, 0)
    """
    span = abs(hi - lo)
    if not np.isfinite(span) or span == 0:
        return 3
    return int(max(0, 2 - np.floor(np.log10(span))))


def tooltip(cells: Cells) -> str:
    """The hover template: the cell, its aggregate, then every parameter and metric of the
    cell's best combination ({@column} placeholders; ECharts escapes the values)."""
    choice = cells.choice
    where = f"{_esc(choice.x)} {{@{X_LABEL}}}"
    if choice.y is not None:
        where += f" · {_esc(choice.y)} {{@{Y_LABEL}}}"
    lines = [
        f"<b>{where}</b>",
        f"{_esc(choice.agg)} {_esc(choice.metric)}: <b>{{@{VALUE}}}</b> over {{@{COUNT}}} "
        f"combination(s), {{@{RUINED_COUNT}}} ruined",
        "best in cell (a click opens it): "
        + ", ".join(f"{_esc(p)}={{@{p}}}" for p in cells.params),
    ]
    lines += [f"{_esc(m)}: {{@{m}}}" for m in cells.metrics]
    return "<br/>".join(lines)


def _axis(name: str, labels: Sequence[Any], many: int) -> dict[str, Any]:
    return {
        "type": "category", "data": [str(v) for v in labels], "name": name,
        "nameLocation": "middle", "nameGap": 70, "splitArea": {"show": False},
        "axisLabel": {"hideOverlap": True, "rotate": 45 if len(labels) > many else 0},
    }  # fmt: skip


def title_note(cells: Cells) -> str:
    """What each cell aggregates ('median over p2'; binned axes: 'median per cell ...')."""
    choice, over = cells.choice, ""
    if cells.others:
        over = f"{choice.agg} over {', '.join(map(str, cells.others))}"
    binned = [
        f"{name}: {b.n_values:,} values in {len(b.labels)} cells of {b.per_cell}"
        for name, b in cells.bins.items()
        if b.binned
    ]
    if binned:
        per = f"{choice.agg} per cell" + (
            f" over {', '.join(cells.others)}" if cells.others else ""
        )
        over = f"{per}; binned {'; '.join(binned)}"
    return f"({over})" if over else ""


def _marks(cells: Cells, series: dict[str, Any]) -> None:
    best = cells.best
    if best is None:
        return
    coord = [best.xi, best.yi] if cells.choice.y is not None else [best.xi, best.value]
    series["markPoint"] = {
        "symbol": "pin", "symbolSize": 38, "silent": True,
        "itemStyle": {"color": BEST_COLOUR},
        "label": {"show": True, "formatter": "best", "color": "#fff", "fontSize": 9},
        "data": [{"name": "best", "coord": coord}],
    }  # fmt: skip


def plateau_series(cells: Cells) -> dict[str, Any] | None:
    """The best cell's neighbourhood (the plateau it sits on) as dashed outlines: a second,
    silent heatmap series of transparent cells (clicks and hover go to the cells below)."""
    box = neighbourhood(cells)
    if box is None or cells.choice.y is None:
        return None
    (x0, y0), (x1, y1) = box
    outline = [[x, y, 0] for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return {
        "type": "heatmap", "name": "plateau", "silent": True, "z": 3, "data": outline,
        "itemStyle": {"color": "rgba(0,0,0,0)", "borderColor": PLATEAU_COLOUR,
                      "borderWidth": 2, "borderType": "dashed"},
        "tooltip": {"show": False}, "label": {"show": False},
    }  # fmt: skip


def heatmap_option(cells: Cells) -> dict[str, Any]:
    """The heatmap of ``cells`` (x columns, y rows): colour by the aggregated metric, values
    printed when at most MAX_LABELLED_CELLS cells, the best combination's cell pinned and its
    neighbourhood (the plateau) boxed, one cell selectable by a click."""
    choice = cells.choice
    frame = cells.frame
    title = f"{choice.metric} by {choice.x} and {choice.y}"
    values = frame[VALUE].to_numpy(dtype=float)
    labelled = len(cells.x_labels) * len(cells.y_labels) <= MAX_LABELLED_CELLS
    series: dict[str, Any] = {
        "type": "heatmap", "name": choice.metric, "progressive": 0,
        "encode": {"x": XI, "y": YI, "value": VALUE}, "selectedMode": "single",
        "label": {"show": labelled, "formatter": f"{{@{TEXT}}}", "fontSize": 10},
        "emphasis": {"itemStyle": {"borderColor": "#000", "borderWidth": 1}},
        "select": {"itemStyle": {"borderColor": "#000", "borderWidth": 3}},
    }  # fmt: skip
    _marks(cells, series)
    return {
        "title": {"text": title, "subtext": title_note(cells), "left": "center"},
        "grid": dict(GRID),
        "tooltip": {"trigger": "item", "formatter": tooltip(cells), "confine": True},
        "xAxis": _axis(str(choice.x), cells.x_labels, 20),
        "yAxis": _axis(str(choice.y), cells.y_labels, 10**9),
        "visualMap": colour_map(choice.metric, values, list(frame.columns).index(VALUE)),
        "dataset": {"source": frame},
        "series": [series, *([plateau] if (plateau := plateau_series(cells)) else [])],
    }


def line_option(cells: Cells) -> dict[str, Any]:
    """One swept parameter: the aggregated metric along it (points selectable, best pinned)."""
    choice = cells.choice
    title = f"{choice.metric} by {choice.x}"
    series: dict[str, Any] = {
        "type": "line", "name": choice.metric, "encode": {"x": XI, "y": VALUE},
        "showSymbol": True, "symbolSize": 6, "selectedMode": "single", "connectNulls": False,
        "select": {"itemStyle": {"borderColor": "#000", "borderWidth": 3}},
    }  # fmt: skip
    _marks(cells, series)
    return {
        "title": {"text": title, "subtext": title_note(cells), "left": "center"},
        "grid": dict(GRID),
        "tooltip": {"trigger": "item", "formatter": tooltip(cells), "confine": True},
        "xAxis": _axis(str(choice.x), cells.x_labels, 20),
        "yAxis": {"type": "value", "name": choice.metric, "scale": True},
        "dataset": {"source": cells.frame},
        "series": [series],
    }


def describe(cells: Cells) -> str:
    """The chart's accessible name: its title, what the cells aggregate and the best mark
    (screen readers read it; the browser tests find the chart by it)."""
    choice = cells.choice
    kind = "Line" if choice.y is None else "Heatmap"
    title = f"{choice.metric} by {choice.x}" + ("" if choice.y is None else f" and {choice.y}")
    best = cells.best
    mark = "no best combination"
    if best is not None:
        mark = "best " + ", ".join(f"{k}={v}" for k, v in best.params.items())
        mark += f" in cell {best.xi + 1} of {len(cells.x_labels)}"
        if choice.y is not None:
            mark += f", row {best.yi + 1} of {len(cells.y_labels)}"
    note = title_note(cells)
    size = f"{len(cells.x_labels)} x {len(cells.y_labels)} grid, {cells.n_cells:,} cells"
    if choice.y is None:
        size = f"{cells.n_cells:,} points"
    return f"{kind}: {title} {note}".strip() + f"; {size}; {mark}"


def placeholder_option(text: str) -> dict[str, Any]:
    """A chart with nothing but ``text`` (shown while the sweep is read; it also makes the
    browser fetch the chart code while the server works)."""
    return {"title": {"text": text, "left": "center", "top": "middle",
                      "textStyle": {"fontSize": 13, "fontWeight": "normal"}}}  # fmt: skip


def histogram_option(
    values: np.ndarray, *, title: str, x_name: str, threshold: float | None = None, bins: int = 40
) -> dict[str, Any]:
    """A histogram of ``values`` (NaN dropped) with an optional vertical line at ``threshold``."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    counts, edges = np.histogram(finite, bins=bins) if finite.size else (np.array([]), [0.0])
    frame = pd.DataFrame({
        "from": np.round(edges[:-1], 4), "to": np.round(edges[1:], 4),
        "mid": np.round((np.asarray(edges[:-1]) + np.asarray(edges[1:])) / 2, 4),
        "count": counts.astype(np.int64),
    })  # fmt: skip
    series: dict[str, Any] = {
        "type": "bar",
        "encode": {"x": "mid", "y": "count"},
        "barCategoryGap": "0%",
        "itemStyle": {"color": "#4c78a8"},
    }
    if threshold is not None:
        series["markLine"] = {"silent": True, "symbol": "none",
                              "lineStyle": {"color": "#d62728", "type": "dashed"},
                              "data": [{"xAxis": threshold}]}  # fmt: skip
    return {
        "title": {"text": title, "left": "center"},
        "grid": {"left": 70, "right": 30, "top": 60, "bottom": 60},
        "tooltip": {"trigger": "item", "formatter": "{@from} to {@to}: {@count}"},
        "xAxis": {"type": "value", "name": x_name, "nameLocation": "middle", "nameGap": 30,
                  "scale": True},
        "yAxis": {"type": "value", "name": "count"},
        "dataset": {"source": frame},
        "series": [series],
    }  # fmt: skip


def scatter_option(
    points: pd.DataFrame, *, title: str, x: str, y: str, tip: Mapping[str, str]
) -> dict[str, Any]:
    """``points[x]`` against ``points[y]`` with the diagonal y = x; ``tip`` maps columns to
    their hover labels."""
    finite = points[[x, y]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite).all(axis=1)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return {
        "title": {"text": title, "left": "center"},
        "grid": {"left": 80, "right": 40, "top": 60, "bottom": 70},
        "tooltip": {"trigger": "item",
                    "formatter": "<br/>".join(f"{_esc(v)}: {{@{k}}}" for k, v in tip.items())},
        "xAxis": {"type": "value", "name": x, "nameLocation": "middle", "nameGap": 35,
                  "scale": True},
        "yAxis": {"type": "value", "name": y, "nameLocation": "middle", "nameGap": 50,
                  "scale": True},
        "dataset": {"source": points},
        "series": [
            {"type": "scatter", "encode": {"x": x, "y": y}, "symbolSize": 5,
             "itemStyle": {"color": "#4c78a8", "opacity": 0.6}},
            {"type": "line", "data": [[lo, lo], [hi, hi]], "showSymbol": False, "silent": True,
             "lineStyle": {"color": "#999", "type": "dashed"}, "tooltip": {"show": False}},
        ],
    }  # fmt: skip


def parallel_option(rows: pd.DataFrame, params: Sequence[str], metric: str) -> dict[str, Any]:
    """Parallel coordinates: one line per row of ``rows`` (a bounded sample) across the
    ``params`` axes and ``metric``, coloured by ``metric``; drag along an axis to filter (ECharts
    draws it on a canvas: no WebGL needed). Text-valued parameters get category axes."""
    dims = [*params, metric]
    data = rows[dims].reset_index(drop=True)
    axes = []
    for i, name in enumerate(dims):
        axis: dict[str, Any] = {"dim": i, "name": str(name), "nameLocation": "start"}
        if not pd.api.types.is_numeric_dtype(data[name]):
            labels = sorted(data[name].astype(str).unique())
            axis.update(type="category", data=labels)
            data[name] = data[name].astype(str)
        else:
            axis["scale"] = True
        axes.append(axis)
    values = pd.to_numeric(data[metric], errors="coerce").to_numpy(dtype=float)
    colours = colour_map(metric, values, len(dims) - 1)
    colours.pop("seriesIndex", None)
    return {
        "parallel": {"left": 80, "right": 140, "top": 90, "bottom": 50,
                     "parallelAxisDefault": {"nameTextStyle": {"fontSize": 12},
                                             "areaSelectStyle": {"width": 16}}},
        "parallelAxis": axes,
        "visualMap": colours,
        "dataset": {"source": data},
        "series": [{"type": "parallel", "lineStyle": {"width": 1, "opacity": 0.35},
                    "emphasis": {"lineStyle": {"width": 2, "opacity": 1}},
                    "inactiveOpacity": 0.02, "activeOpacity": 0.6, "progressive": 0}],
    }  # fmt: skip
