"""The Heatmap tab of Sweep results (not a routed page): two swept parameters as a heatmap,
one as a line, three or more as slices (the others fixed or aggregated; every choice in the
URL). The best combination is pinned, its neighbourhood boxed, a cell's hover shows every
metric of its best combination and a click opens that combination (its full run when
collect re-ran it, else New run prefilled with it).

The cells are cached per (sweep, axes, aggregation, slice, metric) for finished sweeps; what
reaches the browser is at most 100 x 100 cells (500 points for a line) whatever the size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from app import loaders, sweep_charts
from app import sweep_service as ss
from app.chart_data import AGGREGATIONS
from app.sweep_cells import ROW, Cells, ChartChoice, sweep_cells
from engine.errors import BacktestError
from views import _pages as nav

AGGREGATE = "(aggregate)"
Chooser = Callable[..., Any]


@st.cache_data(ttl=loaders.SWEEP_TTL, show_spinner="Aggregating the chart ...", max_entries=64)
def _cached_cells(scope: str, sweep_id: str, key: tuple[Any, ...]) -> Cells:
    metric, x, y, agg, fixed = key
    view = loaders.load_sweep(sweep_id)  # finished: the process-wide cached view
    choice = ChartChoice(metric, x, y, agg, dict(fixed))
    return sweep_cells(view.summary, view.params, choice)


def chart_cells(view: ss.SweepView, choice: ChartChoice) -> Cells:
    """The cells of ``choice`` (cached for finished sweeps, fresh for unfinished ones)."""
    if not view.finished:
        return sweep_cells(view.summary, view.params, choice)
    scope = repr(loaders.get_context().settings)
    return _cached_cells(scope, view.sweep_id, choice.key())


def _slices(view: ss.SweepView, facts: ss.SweepFacts, axes: Sequence[str], choose: Chooser) -> dict:
    """'Fix p' pickers for the parameters that are not axes (URL fix_<p>; default aggregate)."""
    fixed: dict[str, Any] = {}
    for p in (p for p in view.params if p not in axes):
        values = facts.values.get(p, [])
        if len(values) > 1:
            pick = choose(f"Fix {p}", [AGGREGATE, *values], f"fix_{p}", AGGREGATE,
                          keep_default=False)  # fmt: skip
            if pick != AGGREGATE:
                fixed[p] = pick
        elif f"fix_{p}" in st.query_params:
            del st.query_params[f"fix_{p}"]
    return fixed


def heatmap_tab(view: ss.SweepView, facts: ss.SweepFacts, metric: str, choose: Chooser) -> None:
    """Axis and slice choices (all in the URL), then the bounded chart and the clicked cell."""
    axes = facts.axes or view.params
    if not axes:
        st.info("No swept parameter varies: see the table.")
        return
    if len(axes) == 1:
        agg = choose("Aggregate others by", AGGREGATIONS, "agg", "median")
        choice = ChartChoice(metric, axes[0], None, agg, _slices(view, facts, axes[:1], choose))
    else:
        c1, c2, c3 = st.columns(3)
        with c1:
            x = choose("X axis", axes, "x", axes[0])
        y_options = [p for p in axes if p != x]
        with c2:
            y = choose("Y axis", y_options, "y", y_options[0])
        with c3:
            agg = choose("Aggregate others by", AGGREGATIONS, "agg", "median")
        choice = ChartChoice(metric, x, y, agg, _slices(view, facts, (x, y), choose))
    try:
        cells = chart_cells(view, choice)
    except BacktestError as exc:
        st.error(str(exc))
        return
    if not cells.n_cells or not (cells.frame["value"].notna().any()):
        st.info(f"No values of {metric} for this selection.")
        return
    draw(view, cells)


def draw(view: ss.SweepView, cells: Cells) -> None:
    """The chart, what its marks mean, and the clicked cell's combination."""
    choice = cells.choice
    line = choice.y is None
    option = sweep_charts.line_option(cells) if line else sweep_charts.heatmap_option(cells)
    height = sweep_charts.LINE_HEIGHT if line else sweep_charts.HEATMAP_HEIGHT
    key = "sweep_chart_" + "_".join(str(k) for k in choice.key()[1:])  # metric left out
    alt = sweep_charts.describe(cells)
    event = st.echarts_chart(option, key=key, on_select="rerun", height=height, alt=alt)
    st.caption(marks_caption(view, cells))
    picked = selected_cell(event, cells)
    if picked is None:
        st.caption("Click a cell to open its best combination.")
        return
    cell_links(view, cells, picked)


def marks_caption(view: ss.SweepView, cells: Cells) -> str:
    """What the pin and the dashed box mean, with the plateau score collect computed."""
    best = cells.best
    if best is None:
        return "No best combination here: every combination is ruined or has no value."
    params = ", ".join(f"{k}={v}" for k, v in best.params.items())
    text = (
        f"Pin: the best combination shown, {params} ({cells.choice.metric} {best.value:.4g}); "
        "ruined combinations are never best."
    )
    if cells.choice.y is not None:
        text += " Dashed box: its neighbourhood (one cell each way), the plateau it sits on"
        score = (view.robustness or {}).get("plateau_score")
        if isinstance(score, int | float):
            text += (
                f"; plateau score {score:.2f} (Sharpe of the neighbours over the best's, "
                "from collect: at or above 0.5 the neighbours keep most of it)"
            )
        text += "."
    return text


def selected_cell(event: Any, cells: Cells) -> dict[str, Any] | None:
    """The clicked cell (its dataset row as a dict), or None."""
    try:
        groups = event.selection.selected
    except AttributeError:
        return None
    for group in groups or []:
        indices = group.get("data_indices") or []
        if group.get("series_index", 0) == 0 and indices:
            return cells.at(int(indices[0]))
    return None


def cell_links(view: ss.SweepView, cells: Cells, cell: dict[str, Any]) -> None:
    """The clicked cell's best combination: its full run if collect re-ran it, and New run
    prefilled with it (strategy, parameters, file)."""
    where = f"{cells.choice.x} {cell['x_label']}"
    if cells.choice.y is not None:
        where += f" · {cells.choice.y} {cell['y_label']}"
    row = int(cell.get(ROW, -1))
    if row < 0:
        st.warning(f"Cell {where}: no combination with a value that was not ruined.")
        return
    combo = view.summary.iloc[row].to_dict()
    label = ss.combo_label(combo, view.params)
    st.markdown(f"**Selected cell {where}**: best combination {label}")
    combo_links(view, combo, label)


def combo_links(view: ss.SweepView, combo: Mapping[Any, Any], label: str) -> None:
    """A combination's full run when collect re-ran it (top N), and New run prefilled with its
    strategy, parameters and file (a heatmap cell's, a search's trial)."""
    run = ss.top_run_of(view.robustness, combo)
    if run is not None:
        st.page_link(nav.RUN_RESULTS, label=f"Open its full run {run}",
                     icon=":material/monitoring:", query_params={"run": run})  # fmt: skip
    st.page_link(nav.NEW_RUN, label=f"Run {label} again (New run, prefilled)",
                 icon=":material/play_arrow:",
                 query_params=ss.new_run_query_params(view, combo, with_file=True))  # fmt: skip
