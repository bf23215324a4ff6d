"""Plotly figures for the dashboard: pure functions, data in, ``go.Figure`` out.

No Streamlit here. Long series are downsampled for display (see :mod:`app.downsample`), so a
1,000,000-bar run charts as fast as a short one. An input with nothing to draw (no bars, a
single bar, no trades, no sweep rows) gives a figure carrying an explanatory annotation instead
of raising. Malformed frames (a missing column, an unknown metric) raise
:class:`engine.errors.DataError`.
User-supplied names shown inside figures are HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.chart_data import metric_colour, monthly_returns, require_columns
from app.downsample import DEFAULT_BUCKETS, downsample_series, resample_ohlc
from app.parallel_lines import parallel_lines
from app.report import ReportText, html_report

__all__ = [
    "ReportText",
    "compare_drawdown",
    "compare_equity",
    "drawdown_chart",
    "equity_chart",
    "html_report",
    "monthly_returns_heatmap",
    "parallel_coordinates",
    "parallel_lines",
    "price_chart",
    "trades_histogram",
]

TEMPLATE = "plotly_white"
STRATEGY_COLOUR = "#1f77b4"
BENCHMARK_COLOUR = "#7f7f7f"
DRAWDOWN_COLOUR = "#d62728"
# (side, kind) -> (symbol, colour): entries are filled triangles pointing the position's way,
# exits are crosses; each of the four has its own colour.
MARKER_STYLE = {
    ("long", "entry"): ("triangle-up", "#2ca02c"),
    ("long", "exit"): ("x-thin", "#d62728"),
    ("short", "entry"): ("triangle-down", "#9467bd"),
    ("short", "exit"): ("x-thin", "#ff7f0e"),
}
MARKERS_FEW, MARKERS_SOME = 200, 1000  # marker size/opacity steps (total markers shown)
MARKERS_MAX = 2000  # per trace; more are thinned evenly, and the title says so
MARKERS_GL_ABOVE = 1000  # more trade markers than this in one trace are drawn with WebGL
TRADE_MARKER_COLUMNS = ["entry_time", "exit_time", "side", "entry_price", "exit_price"]


def _empty(title: str, message: str) -> go.Figure:
    """A figure with no data and ``message`` in the middle."""
    fig = go.Figure()
    fig.add_annotation(
        text=html.escape(message),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14},
    )
    fig.update_layout(title=title, template=TEMPLATE, height=300)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _line(series: pd.Series, name: str, n_buckets: int, **style: Any) -> go.Scatter:
    small = downsample_series(series, n_buckets)
    return go.Scatter(x=small.index, y=small.to_numpy(), name=name, mode="lines", **style)


def _drawdown(equity: pd.DataFrame) -> pd.Series:
    """The frame's drawdown column, or one computed from equity (positive fraction)."""
    if "drawdown" in equity.columns:
        return equity["drawdown"].astype(float)
    eq = equity["equity"].astype(float)
    return 1.0 - eq / eq.cummax()


def _too_short(equity: pd.DataFrame, what: str) -> str | None:
    require_columns(equity, ["equity"], "equity frame")
    n = int(equity["equity"].notna().sum())
    if n < 2:
        return f"{n} bar(s) with equity: not enough data for {what}."
    return None


def _date_hover(fig: go.Figure, index: Any) -> None:
    """Hover dates without a time of day when every stamp is midnight (daily bars)."""
    if not isinstance(index, pd.DatetimeIndex) or index.empty:
        return
    daily = bool((index == index.normalize()).all())
    fig.update_xaxes(hoverformat="%Y-%m-%d" if daily else "%Y-%m-%d %H:%M")


def equity_chart(equity: pd.DataFrame, n_buckets: int = DEFAULT_BUCKETS) -> go.Figure:
    """Strategy equity against buy & hold (the ``benchmark`` column, when present)."""
    title = "Equity"
    if msg := _too_short(equity, "an equity curve"):
        return _empty(title, msg)
    fig = go.Figure()
    fig.add_trace(_line(equity["equity"], "Strategy", n_buckets, line={"color": STRATEGY_COLOUR}))
    if "benchmark" in equity.columns and equity["benchmark"].notna().any():
        style = {"line": {"color": BENCHMARK_COLOUR, "dash": "dot"}}
        fig.add_trace(_line(equity["benchmark"], "Buy & hold", n_buckets, **style))
    fig.update_layout(title=title, template=TEMPLATE, hovermode="x unified", yaxis_title="Equity")
    _date_hover(fig, equity.index)
    return fig


def drawdown_chart(equity: pd.DataFrame, n_buckets: int = DEFAULT_BUCKETS) -> go.Figure:
    """Underwater chart: minus the drawdown, filled down from 0, axis in percent."""
    title = "Drawdown"
    if msg := _too_short(equity, "a drawdown chart"):
        return _empty(title, msg)
    under = -_drawdown(equity)
    fig = go.Figure(
        _line(
            under,
            "Drawdown",
            n_buckets,
            fill="tozeroy",
            line={"color": DRAWDOWN_COLOUR, "width": 1},
            hovertemplate="%{x}<br>%{y:.2%}<extra></extra>",
        )
    )
    fig.update_layout(title=title, template=TEMPLATE, yaxis_tickformat=".0%")
    _date_hover(fig, equity.index)
    return fig


def monthly_returns_heatmap(equity: pd.DataFrame) -> go.Figure:
    """Years x months of compounded monthly returns plus a yearly total column.

    The colour scale is centred on 0 and spans the monthly returns, so the yearly totals
    (usually larger) saturate instead of washing the months out.
    """
    title = "Monthly returns"
    if msg := _too_short(equity, "monthly returns"):
        return _empty(title, msg)
    table = monthly_returns(equity)
    z = table.to_numpy(dtype=float)
    months = z[:, :12]
    span = float(np.nanmax(np.abs(months))) if np.isfinite(months).any() else 0.0
    span = span or 0.01
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(table.columns),
            y=[str(y) for y in table.index],
            colorscale="RdYlGn",
            zmid=0.0,
            zmin=-span,
            zmax=span,
            texttemplate="%{z:.1%}",
            hovertemplate="%{y} %{x}: %{z:.2%}<extra></extra>",
            colorbar={"tickformat": ".0%"},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(title=title, template=TEMPLATE, height=160 + 30 * len(table))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(side="top", type="category")
    return fig


def _marker_size(n: int) -> tuple[int, float]:
    """(size, opacity) for ``n`` markers: smaller and translucent when many, so the candles
    stay visible under ~1,800 trades."""
    if n <= MARKERS_FEW:
        return 10, 1.0
    if n <= MARKERS_SOME:
        return 7, 0.8
    return 5, 0.6


def _thin(rows: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most ``limit`` rows, evenly spaced (first and last kept)."""
    if len(rows) <= limit:
        return rows
    return rows.iloc[np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))]


def _trade_markers(trades: pd.DataFrame, start: Any, end: Any) -> tuple[list[go.Scatter], str]:
    """Entry and exit markers, one trace per (side, kind), for trades inside [start, end];
    entries and exits have their own colours and symbols. Above MARKERS_MAX per trace the
    markers are thinned evenly; the returned note says so (empty otherwise)."""
    picked: list[tuple[str, str, pd.DataFrame, str, str]] = []
    for side in ("long", "short"):
        rows = trades[trades["side"].astype(str).str.lower() == side]
        for kind, time_col, price_col in (
            ("entry", "entry_time", "entry_price"),
            ("exit", "exit_time", "exit_price"),
        ):
            when = pd.to_datetime(rows[time_col])
            inside = rows[when.notna() & (when >= start) & (when <= end)]
            if not inside.empty:
                picked.append((side, kind, inside, time_col, price_col))
    total = sum(len(p[2]) for p in picked)
    size, opacity = _marker_size(total)
    traces: list[go.Scatter] = []
    thinned = []
    for side, kind, inside, time_col, price_col in picked:
        shown = _thin(inside, MARKERS_MAX)
        if len(shown) < len(inside):
            plural = "entries" if kind == "entry" else "exits"
            thinned.append(f"{side} {plural} {len(shown):,} of {len(inside):,}")
        symbol, colour = MARKER_STYLE[(side, kind)]
        scatter = go.Scattergl if len(shown) > MARKERS_GL_ABOVE else go.Scatter
        line = {"width": 1.5, "color": colour} if symbol.startswith("x") else {"width": 0}
        traces.append(
            scatter(
                x=pd.to_datetime(shown[time_col]).to_numpy(),
                y=shown[price_col].to_numpy(dtype=float),
                name=f"{side} {kind}",
                mode="markers",
                marker={"symbol": symbol, "size": size, "color": colour, "line": line},
                opacity=opacity,
                hovertemplate=f"{side} {kind}<br>%{{x}}<br>price %{{y:.6g}}<extra></extra>",
            )
        )
    note = f"markers thinned evenly: {', '.join(thinned)}" if thinned else ""
    return traces, note


def price_chart(
    prices: pd.DataFrame,
    trades: pd.DataFrame | None = None,
    n_buckets: int = DEFAULT_BUCKETS,
) -> go.Figure:
    """Candlesticks with a volume subplot and entry/exit markers (long and short coloured).

    Bars are merged down to ``n_buckets`` candles when longer. Markers sit at the trades' own
    times and fill prices; only trades inside the shown window (first to last bar) are marked.
    """
    title = "Price"
    require_columns(prices, ["open", "high", "low", "close"], "price frame")
    if prices.empty:
        return _empty(title, "No bars in this window.")
    bars = resample_ohlc(prices, n_buckets)
    if len(bars) < len(prices):
        title += f" ({len(prices):,} bars shown as {len(bars):,} candles)"
    has_volume = "volume" in bars.columns
    fig = make_subplots(
        rows=2 if has_volume else 1,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        row_heights=[0.75, 0.25] if has_volume else None,
    )
    candles = go.Candlestick(
        x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"], close=bars["close"]
    )
    fig.add_trace(candles.update(name="Price"), row=1, col=1)
    if has_volume:
        volume = go.Bar(x=bars.index, y=bars["volume"], name="Volume", marker_color="#aab4c3")
        fig.add_trace(volume, row=2, col=1)
    markers: list[go.Scatter] = []
    if trades is not None and not trades.empty:
        require_columns(trades, TRADE_MARKER_COLUMNS, "trades frame")
        markers, thinned = _trade_markers(trades, prices.index[0], prices.index[-1])
        if thinned:
            title += f"<br><sup>{html.escape(thinned)}</sup>"
    for trace in markers:
        fig.add_trace(trace, row=1, col=1)
    if not markers:
        fig.add_annotation(
            text="No trades in this window.", xref="paper", yref="paper", x=0.01, y=0.99,
            showarrow=False, xanchor="left", yanchor="top",
        )  # fmt: skip
    fig.update_layout(title=title, template=TEMPLATE, xaxis_rangeslider_visible=False, height=600)
    _date_hover(fig, prices.index)
    return fig


def _dimension(values: pd.Series, label: str) -> dict[str, Any]:
    if pd.api.types.is_numeric_dtype(values):
        return {"label": html.escape(label), "values": values.to_numpy(dtype=float)}
    codes, uniques = pd.factorize(values.astype(str), sort=True)
    return {
        "label": html.escape(label),
        "values": codes,
        "tickvals": list(range(len(uniques))),
        "ticktext": [html.escape(u) for u in uniques],
    }


def parallel_coordinates(
    summary: pd.DataFrame, params: Sequence[str], metric: str, *, note: str = ""
) -> go.Figure:
    """One line per row across the ``params`` axes and ``metric``, coloured by metric.

    Rows where the metric is NaN are left out; text-valued parameters become labelled codes.
    ``note`` (e.g. which sample of a large sweep the rows are) is shown under the title.
    Callers pass a bounded sample (:func:`app.chart_data.parcoords_sample`) for large sweeps.
    """
    title = html.escape(f"{metric} across {', '.join(params)}")
    require_columns(summary, [*params, metric], "sweep summary")
    rows = summary[pd.to_numeric(summary[metric], errors="coerce").notna()]
    if rows.empty:
        return _empty(title, f"No values of {metric} to draw.")
    colour = rows[metric].to_numpy(dtype=float)
    dims = [_dimension(rows[p], p) for p in params] + [_dimension(rows[metric], metric)]
    style = metric_colour(metric, colour)
    line = {
        "color": colour,
        "colorscale": style["colorscale"],
        "reversescale": style["reversescale"],
        "showscale": True,
    }
    if "zmid" in style:
        line["cmid"] = style["zmid"]
    fig = go.Figure(go.Parcoords(line=line, dimensions=dims))
    if note:
        title += f"<br><sup>{html.escape(note)}</sup>"
    # room for the axis titles drawn above the first and last axes (they were clipped)
    fig.update_layout(title=title, template=TEMPLATE, margin={"l": 90, "r": 90, "t": 130})
    fig.update_layout(meta={"kind": "parallel", "rows": len(rows)})
    return fig


def _compare(
    runs: Mapping[str, pd.DataFrame], title: str, column: str, n_buckets: int
) -> go.Figure:
    fig = go.Figure()
    skipped: list[str] = []
    for name, frame in runs.items():
        if _too_short(frame, title):
            skipped.append(name)
            continue
        if column == "equity":
            eq = frame["equity"].astype(float)
            series = eq / eq.loc[eq.first_valid_index()]
            style: dict[str, Any] = {}
        else:
            series = -_drawdown(frame)
            style = {"hovertemplate": "%{x}<br>%{y:.2%}"}
        fig.add_trace(_line(series, html.escape(str(name)), n_buckets, **style))
    if not fig.data:
        return _empty(title, "Pick at least one run with two or more bars to compare.")
    if skipped:
        text = "Not shown (fewer than 2 bars): " + ", ".join(map(str, skipped))
        fig.add_annotation(
            text=html.escape(text), xref="paper", yref="paper", x=0, y=1.08, showarrow=False
        )
    fig.update_layout(title=title, template=TEMPLATE, hovermode="x unified")
    stamps = [f.index for f in runs.values() if isinstance(f.index, pd.DatetimeIndex)]
    _date_hover(fig, stamps[0].append(stamps[1:]) if stamps else None)
    if column != "equity":
        fig.update_layout(yaxis_tickformat=".0%")
    return fig


def compare_equity(runs: Mapping[str, pd.DataFrame], n_buckets: int = DEFAULT_BUCKETS) -> go.Figure:
    """Overlay several runs' equity (name -> equity frame), each normalised to 1.0 at its start."""
    return _compare(runs, "Equity (normalised to 1.0)", "equity", n_buckets)


def compare_drawdown(
    runs: Mapping[str, pd.DataFrame], n_buckets: int = DEFAULT_BUCKETS
) -> go.Figure:
    """Overlay several runs' underwater curves (minus drawdown, percent axis)."""
    return _compare(runs, "Drawdown", "drawdown", n_buckets)


def trades_histogram(trades: pd.DataFrame, nbins: int = 40) -> go.Figure:
    """Distribution of per-trade returns (open trades included, valued at the last close)."""
    title = "Trade returns"
    if trades is None or trades.empty:
        return _empty(title, "No trades: nothing to draw.")
    require_columns(trades, ["return"], "trades frame")
    rets = pd.to_numeric(trades["return"], errors="coerce").dropna().to_numpy(dtype=float)
    if rets.size == 0:
        return _empty(title, "No trade returns: nothing to draw.")
    fig = go.Figure(
        go.Histogram(
            x=rets,
            nbinsx=nbins,
            name="Trades",
            marker_color=STRATEGY_COLOUR,
            hovertemplate="%{x}<br>%{y} trades<extra></extra>",
        )
    )
    fig.add_vline(x=0.0, line={"color": "black", "width": 1, "dash": "dot"})
    fig.update_layout(
        title=f"{title} ({rets.size} trades, mean {rets.mean():.2%})",
        template=TEMPLATE,
        xaxis_tickformat=".1%",
        yaxis_title="Trades",
        bargap=0.05,
    )
    return fig
