"""ECharts options (plain dicts for ``st.echarts_chart``) of a TPE search's Search tab: the
objective against the trial number with the running best and the round boundaries, and, with two
objectives, every trial's pair with the Pareto front highlighted. No Streamlit here.

Each chart comes as a :class:`SearchChart`: the option, the rows behind each selectable series
(a click's ``data_indices`` address them) and its accessible name. What reaches the browser is
bounded: at most :data:`MAX_POINTS` trials are drawn (every k-th, plus each trial that set a new
best, as the note says); the running best is drawn as its change points only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.search_service import (
    BEST_PREFIX,
    PARETO,
    ROUND,
    RUINED,
    TRIAL,
    SearchSettings,
    objective_label,
)
from app.sweep_cells import round_significant

MAX_POINTS = 5_000
POINT_COLOUR = "#4c78a8"
BEST_COLOUR = "#111111"
FRONT_COLOUR = "#d62728"
BOUNDARY_COLOUR = "#999999"
HEIGHT = 440
GRID = {
    "left": 90,
    "right": 40,
    "top": 70,
    "bottom": 70,
    "outerBoundsMode": "none",
}  # fixed margins


@dataclass(frozen=True)
class SearchChart:
    """An option, the rows of each selectable series (by series index) and the chart's name."""

    option: dict[str, Any]
    rows: dict[int, pd.DataFrame] = field(default_factory=dict)
    alt: str = ""
    note: str = ""

    def picked(self, event: Any) -> dict[str, Any] | None:
        """The trial a click selected (its row, each column's own type), or None."""
        try:
            groups = event.selection.selected
        except AttributeError:
            return None
        for group in groups or []:
            rows = self.rows.get(int(group.get("series_index", -1)))
            indices = group.get("data_indices") or []
            if rows is not None and indices and int(indices[0]) < len(rows):
                record = rows.iloc[[int(indices[0])]].to_dict("records")[0]
                return {str(k): v for k, v in record.items()}
        return None


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _tip(params: Sequence[str], values: Sequence[str]) -> str:
    lines = [f"<b>trial {{@{TRIAL}}}</b> (round {{@{ROUND}}})"]
    lines += [f"{_esc(v)}: {{@{v}}}" for v in values]
    lines += [f"{_esc(p)}={{@{p}}}" for p in params]
    return "<br/>".join(lines) + "<br/>(a click opens it)"


def bounded(trials: pd.DataFrame, keep: np.ndarray, limit: int = MAX_POINTS) -> tuple[Any, str]:
    """(rows to draw, note): all when at most ``limit``, else every k-th row plus the rows
    ``keep`` marks (the new bests), in trial order."""
    if len(trials) <= limit:
        return trials.reset_index(drop=True), ""
    step = -(-len(trials) // limit)
    chosen = np.zeros(len(trials), dtype=bool)
    chosen[::step] = True
    chosen |= keep
    note = (
        f"{int(chosen.sum()):,} of {len(trials):,} trials drawn (every {step:,}th, plus each "
        "trial that set a new best)"
    )
    return trials[chosen].reset_index(drop=True), note


def value_range(values: np.ndarray) -> tuple[float, float]:
    """An axis range holding every finite value with 5% room each side (explicit, so a value's
    pixel position follows from :data:`GRID`: the browser test clicks a point)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    pad = (hi - lo) * 0.05 or max(abs(hi) * 0.05, 0.5)
    return lo - pad, hi + pad


def _value_axis(name: str, values: np.ndarray, gap: int) -> dict[str, Any]:
    lo, hi = value_range(values)
    return {"type": "value", "name": name, "nameLocation": "middle", "nameGap": gap,
            "min": lo, "max": hi,
            "axisLabel": {"showMinLabel": False, "showMaxLabel": False}}  # fmt: skip


def _plain(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The columns as the browser gets them: floats to 4 significant digits (what the hover
    prints; a point moves by less than a pixel), text and flags as text."""
    out = frame[list(dict.fromkeys(columns))].copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype(str)
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = round_significant(out[c].to_numpy(dtype=float))
    return out


def boundaries(settings: SearchSettings, n_trials: int) -> list[float]:
    """x positions of the round boundaries: between the last trial of a round and the first of
    the next (trial r x round_size - 0.5), for the rounds that have trials shown."""
    last = min(settings.budget, max(0, n_trials))
    return [r * settings.round_size - 0.5 for r in range(1, settings.n_rounds)
            if r * settings.round_size < max(last, 1)]  # fmt: skip


def progress_chart(
    trials: pd.DataFrame, settings: SearchSettings, objective: str, params: Sequence[str]
) -> SearchChart:
    """``objective`` per trial (ruined trials and trials without a value left out) with the
    running best as a step line and a dashed line at each round boundary."""
    direction = settings.directions[settings.objectives.index(objective)]
    best_col = BEST_PREFIX + objective
    usable = trials[~trials[RUINED] & trials[objective].notna()].reset_index(drop=True)
    best = usable[best_col].to_numpy(dtype=float)
    new_best = np.r_[True, best[1:] != best[:-1]] if len(best) else np.zeros(0, dtype=bool)
    points, note = bounded(usable, new_best)
    steps = _plain(usable[new_best], [TRIAL, best_col])
    if len(trials):  # the line runs on to the last trial so far
        tail = pd.DataFrame({TRIAL: [int(trials[TRIAL].max())],
                             best_col: [float(best[-1]) if len(best) else np.nan]})  # fmt: skip
        steps = pd.concat([steps, tail], ignore_index=True)
    label = objective_label(objective)
    marks = [{"xAxis": x, "label": {"formatter": f"round {i + 1}", "position": "insideEndTop"}}
             for i, x in enumerate(boundaries(settings, int(trials[TRIAL].max()) + 1
                                              if len(trials) else 0))]  # fmt: skip
    option = {
        "title": {"text": f"{label} by trial", "subtext": note, "left": "center"},
        "grid": dict(GRID),
        "legend": {"top": 30, "data": ["trial", "best so far"]},
        "tooltip": {"trigger": "item"},
        "xAxis": {"type": "value", "name": "trial", "nameLocation": "middle", "nameGap": 30,
                  "min": -0.5, "max": max(settings.budget, len(trials)) - 0.5,
                  "axisLabel": {"showMinLabel": False, "showMaxLabel": False}},
        "yAxis": _value_axis(objective, usable[objective].to_numpy(dtype=float), 60),
        "dataset": [{"source": _plain(points, [TRIAL, ROUND, objective, *params])},
                    {"source": steps}],
        "series": [
            {"type": "scatter", "name": "trial", "datasetIndex": 0, "symbolSize": 6,
             "encode": {"x": TRIAL, "y": objective}, "selectedMode": "single",
             "itemStyle": {"color": POINT_COLOUR, "opacity": 0.7},
             "select": {"itemStyle": {"borderColor": "#000", "borderWidth": 2}},
             "tooltip": {"formatter": _tip(params, [objective])}},
            {"type": "line", "name": "best so far", "datasetIndex": 1, "step": "end",
             "encode": {"x": TRIAL, "y": best_col}, "showSymbol": False, "silent": True,
             "lineStyle": {"color": BEST_COLOUR, "width": 2}, "tooltip": {"show": False},
             "markLine": {"silent": True, "symbol": "none", "data": marks,
                          "lineStyle": {"color": BOUNDARY_COLOUR, "type": "dashed"}}},
        ],
    }  # fmt: skip
    final = f"{best[-1]:.4g}" if len(best) else "none yet"
    alt = (
        f"Search progress: {label} by trial; {len(trials):,} trials in "
        f"{int(trials[ROUND].nunique()) if len(trials) else 0} round(s), {len(points):,} drawn; "
        f"best {objective} {final} ({direction})"
    )
    return SearchChart(option, {0: points}, alt, note)


def pareto_chart(
    trials: pd.DataFrame, settings: SearchSettings, params: Sequence[str]
) -> SearchChart:
    """Two objectives: every usable trial as a point, the front's trials highlighted and joined
    (when collect marked them: the ``pareto`` column)."""
    x, y = settings.objectives
    usable = trials[~trials[RUINED] & trials[x].notna() & trials[y].notna()]
    marked = PARETO in usable.columns
    on_front = usable[PARETO].to_numpy(dtype=bool) if marked else np.zeros(len(usable), bool)
    front = usable[on_front].sort_values(x, kind="stable").reset_index(drop=True)
    others, note = bounded(usable[~on_front], np.zeros(int((~on_front).sum()), dtype=bool))
    columns = [TRIAL, ROUND, x, y, *params]
    series: list[dict[str, Any]] = [
        {"type": "scatter", "name": "trial", "datasetIndex": 0, "symbolSize": 6,
         "encode": {"x": x, "y": y}, "selectedMode": "single",
         "itemStyle": {"color": POINT_COLOUR, "opacity": 0.55},
         "select": {"itemStyle": {"borderColor": "#000", "borderWidth": 2}},
         "tooltip": {"formatter": _tip(params, [x, y])}},
        {"type": "scatter", "name": "Pareto front", "datasetIndex": 1, "symbolSize": 11,
         "encode": {"x": x, "y": y}, "selectedMode": "single", "z": 3,
         "itemStyle": {"color": FRONT_COLOUR, "borderColor": "#fff", "borderWidth": 1},
         "select": {"itemStyle": {"borderColor": "#000", "borderWidth": 2}},
         "tooltip": {"formatter": _tip(params, [x, y]) + "<br/>on the Pareto front"}},
        {"type": "line", "name": "front", "datasetIndex": 1, "encode": {"x": x, "y": y},
         "showSymbol": False, "silent": True, "z": 2, "tooltip": {"show": False},
         "lineStyle": {"color": FRONT_COLOUR, "width": 1, "type": "dashed"}},
    ]  # fmt: skip
    option = {
        "title": {"text": f"{objective_label(x)} vs {objective_label(y)}", "subtext": note,
                  "left": "center"},
        "grid": dict(GRID),
        "legend": {"top": 30, "data": ["trial", "Pareto front"]},
        "tooltip": {"trigger": "item"},
        "xAxis": _value_axis(x, usable[x].to_numpy(dtype=float), 30),
        "yAxis": _value_axis(y, usable[y].to_numpy(dtype=float), 60),
        "dataset": [{"source": _plain(others, columns)}, {"source": _plain(front, columns)}],
        "series": series,
    }  # fmt: skip
    said = f"{len(front):,} on the Pareto front" if marked else "front not marked yet"
    alt = f"Pareto: {x} vs {y}; {len(usable):,} trials, {len(others):,} others drawn; {said}"
    return SearchChart(option, {0: others, 1: front}, alt, note)


__all__ = ["MAX_POINTS", "SearchChart", "boundaries", "bounded", "pareto_chart", "progress_chart"]
