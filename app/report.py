"""One self-contained HTML report: title, metric table, plotly figures, data tables.

plotly.js is embedded inline once (with the first figure), so the file opens offline. Every
piece of text that comes from data or users (title, metric names and values, table headers,
index and cells) goes through :func:`html.escape`; nothing is rendered as raw HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

MAX_TABLE_ROWS = 10_000

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem;
       color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f4f6f8; } td.k, th.k { text-align: left; }
.note { color: #666; font-size: 0.85rem; }
.figure { margin: 1.5rem 0; }
.made { margin: 0.2rem 0; color: #333; }
.warning { margin: 1rem 0; padding: 0.75rem 1rem; border-radius: 0.4rem; font-weight: 600;
           color: #7d1010; background: #fde8e8; border: 1px solid #e02424; }
"""


def _fmt(value: Any) -> str:
    """A cell as escaped text: floats to 6 significant digits, missing values blank,
    timestamps at midnight as a date only."""
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else html.escape(f"{value:.6g}")
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return html.escape(value.strftime("%Y-%m-%d"))
    return html.escape(str(value))


def _metrics_table(metrics: Mapping[str, Any], helps: Mapping[str, str]) -> str:
    rows = []
    for k, v in metrics.items():
        tip = helps.get(str(k))
        title = f' title="{html.escape(tip, quote=True)}"' if tip else ""
        rows.append(f'<tr><th class="k">{html.escape(str(k))}</th><td{title}>{_fmt(v)}</td></tr>')
    return f'<table class="metrics">{"".join(rows)}</table>'


def _frame_table(frame: pd.DataFrame, max_rows: int) -> str:
    shown = frame.head(max_rows)
    index_name = html.escape(str(shown.index.name or ""))
    head = f'<th class="k">{index_name}</th>' + "".join(
        f"<th>{html.escape(str(c))}</th>" for c in shown.columns
    )
    body = []
    for idx, row in zip(shown.index, shown.itertuples(index=False, name=None), strict=True):
        cells = "".join(f"<td>{_fmt(v)}</td>" for v in row)
        body.append(f'<tr><td class="k">{_fmt(idx)}</td>{cells}</tr>')
    note = ""
    if len(frame) > max_rows:
        note = f'<p class="note">First {max_rows:,} of {len(frame):,} rows.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"


@dataclass(frozen=True)
class ReportText:
    """The words of a report around its data: ``title``; ``notes``, lines under the title
    (how the run was made); ``warning``, a red box above everything (e.g. a ruin);
    ``metric_help``, a tooltip (title) per metric name."""

    title: str
    notes: Sequence[str] = ()
    warning: str | None = None
    metric_help: Mapping[str, str] = field(default_factory=dict)


def html_report(
    text: ReportText,
    metrics: Mapping[str, Any],
    figures: Sequence[go.Figure],
    tables: Mapping[str, pd.DataFrame],
    max_rows: int = MAX_TABLE_ROWS,
) -> str:
    """Return one self-contained HTML document (plotly.js inline; all text escaped).

    ``metrics`` values are shown as given (strings as they are, floats to 6 digits), with
    the title, notes, warning and metric tooltips of ``text``.
    Tables longer than ``max_rows`` are cut, with a note saying so.
    """
    title, notes, warning, metric_help = text.title, text.notes, text.warning, text.metric_help
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="made">{html.escape(line)}</p>' for line in notes]
    if warning:
        parts.append(f'<div class="warning" role="alert">{html.escape(warning)}</div>')
    if metrics:
        parts += ["<h2>Metrics</h2>", _metrics_table(metrics, metric_help or {})]
    for i, fig in enumerate(figures):
        div = fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="450px")
        parts.append(f'<div class="figure">{div}</div>')
    for name, frame in tables.items():
        parts += [f"<h2>{html.escape(str(name))}</h2>", _frame_table(frame, max_rows)]
    parts.append("</body></html>")
    return "\n".join(parts)
