"""Parallel coordinates drawn as plain SVG lines (a plotly Scatter per colour band).

Plotly's own ``parcoords`` trace needs WebGL: in a browser without a GPU (software GL) it takes
seconds to draw even 300 lines, whatever the row count. This figure draws the same picture
(one polyline per combination across the parameter axes and the metric, coloured by the
metric) with SVG paths, which any browser draws in well under a second for a few thousand
rows. Axis brushing is what it lacks; the page offers the WebGL figure for that.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from app.chart_data import metric_colour, require_columns

N_BANDS = 9  # colour bands (one trace each)
LINE_OPACITY = 0.35


def _axis(values: pd.Series) -> tuple[np.ndarray, list[float], list[str]]:
    """Values scaled to 0..1 and (tick positions, tick labels) for one axis."""
    if pd.api.types.is_numeric_dtype(values):
        v = values.to_numpy(dtype=float)
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        if hi == lo:
            return np.full(len(v), 0.5), [0.5], [f"{lo:.4g}"]
        ticks = [0.0, 0.5, 1.0]
        return (v - lo) / (hi - lo), ticks, [f"{lo + t * (hi - lo):.4g}" for t in ticks]
    codes, uniques = pd.factorize(values.astype(str), sort=True)
    n = max(len(uniques) - 1, 1)
    keep = range(len(uniques)) if len(uniques) <= 10 else (0, len(uniques) - 1)
    return codes / n, [i / n for i in keep], [html.escape(str(uniques[i])) for i in keep]


def _positions(colour: np.ndarray, style: dict[str, Any]) -> np.ndarray:
    """Each row's place (0..1) on the colour scale, as plotly's own scale would put it."""
    lo, hi = float(np.nanmin(colour)), float(np.nanmax(colour))
    if "zmid" in style:
        mid = float(style["zmid"])
        span = max(abs(lo - mid), abs(hi - mid)) or 1.0
        t = 0.5 + (colour - mid) / (2 * span)
    else:
        t = (colour - lo) / ((hi - lo) or 1.0)
    t = np.clip(t, 0.0, 1.0)
    return 1.0 - t if style["reversescale"] else t


def _colourbar(metric: str, colour: np.ndarray, style: dict[str, Any]) -> go.Scatter:
    """An invisible trace that carries the metric's colour bar."""
    lo, hi = float(np.nanmin(colour)), float(np.nanmax(colour))
    marker: dict[str, Any] = {
        "color": [lo, hi],
        "colorscale": style["colorscale"],
        "cmin": lo,
        "cmax": hi,
        "reversescale": style["reversescale"],
        "showscale": True,
        "size": 0.1,
        "colorbar": {"title": {"text": html.escape(metric)}},
    }
    if "zmid" in style:
        marker["cmid"] = style["zmid"]
    return go.Scatter(
        x=[0, 0],
        y=[0.5, 0.5],
        mode="markers",
        marker=marker,
        showlegend=False,
        hoverinfo="skip",
        opacity=0,
    )


def parallel_lines(
    rows: pd.DataFrame, params: Sequence[str], metric: str, *, note: str = ""
) -> go.Figure:
    """One line per row across the ``params`` axes and ``metric``, coloured by ``metric``
    in N_BANDS bands; rows without a metric value are left out. ``note`` goes under the title."""
    title = html.escape(f"{metric} across {', '.join(params)}")
    require_columns(rows, [*params, metric], "sweep summary")
    rows = rows[pd.to_numeric(rows[metric], errors="coerce").notna()]
    fig = go.Figure()
    if rows.empty:
        fig.add_annotation(
            text=html.escape(f"No values of {metric} to draw."),
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
        fig.update_layout(title=title, template="plotly_white", height=300)
        return fig
    names = [*params, metric]
    axes = [_axis(rows[n]) for n in names]
    ys = np.column_stack([*(a[0] for a in axes), np.full(len(rows), np.nan)])  # NaN: line end
    xs = np.tile(np.append(np.arange(len(names), dtype=float), np.nan), (len(rows), 1))
    colour = rows[metric].to_numpy(dtype=float)
    style = metric_colour(metric, colour)
    place = _positions(colour, style)
    band = np.minimum((place * N_BANDS).astype(int), N_BANDS - 1)
    scale = style["colorscale"]
    colours = sample_colorscale(scale, [(b + 0.5) / N_BANDS for b in range(N_BANDS)])
    for b in range(N_BANDS):
        members = band == b
        if members.any():
            fig.add_trace(
                go.Scatter(
                    x=xs[members].ravel(),
                    y=ys[members].ravel(),
                    mode="lines",
                    line={"color": colours[b], "width": 1},
                    opacity=LINE_OPACITY,
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    fig.add_trace(_colourbar(metric, colour, style))
    for i, (_, positions, labels) in enumerate(axes):
        fig.add_shape(type="line", x0=i, x1=i, y0=0, y1=1, line={"color": "#444", "width": 1})
        for y, text in zip(positions, labels, strict=True):
            fig.add_annotation(
                x=i,
                y=y,
                text=text,
                showarrow=False,
                xanchor="right",
                xshift=-4,
                font={"size": 11},
                bgcolor="rgba(255,255,255,0.7)",
            )
    if note:
        title += f"<br><sup>{html.escape(note)}</sup>"
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=500,
        margin={"l": 90, "r": 40, "t": 130},
        meta={"kind": "parallel", "rows": len(rows)},
    )
    fig.update_xaxes(
        tickvals=list(range(len(names))),
        ticktext=[html.escape(n) for n in names],
        side="top",
        range=[-0.5, len(names) - 0.6],
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(visible=False, range=[-0.05, 1.05])
    return fig
