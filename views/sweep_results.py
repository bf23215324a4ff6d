"""Sweep results (?sweep=<id>&metric=<m>&x=<p>&y=<p>&agg=<a>): heatmap, parallel coordinates,
top-N table, robustness statistics, links to the top combinations' full runs and to New run.

Every choice goes into the URL so the view can be shared. Thin: read inputs -> guard -> one
cached read (app.loaders) -> render.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from app import charts, loaders
from app import sweep_service as ss
from app.chart_data import AGGREGATIONS
from engine.errors import BacktestError, InfraError

st.title("Sweep results")
AGGREGATE = "(aggregate)"


def choose(label: str, options: Sequence[Any], param: str, default: Any, **kw: Any) -> Any:
    """A selectbox whose value lives in st.query_params[param] (bad URL values fall back)."""
    options = list(options)
    current = st.query_params.get(param)
    match = [o for o in options if str(o) == current]
    value = match[0] if match else default
    choice = st.selectbox(
        label, options, index=options.index(value) if value in options else 0, **kw
    )
    if choice is not None and str(choice) != current:
        st.query_params[param] = str(choice)
    return choice


def pick_sweep() -> str | None:
    """The sweep id from ?sweep=, or the one chosen in the picker (written to the URL)."""
    current = st.query_params.get("sweep") or None
    try:
        ids = list(loaders.list_sweeps()["sweep_id"])
    except (BacktestError, InfraError) as exc:
        st.error(str(exc))
        ids = []
    if current and current not in ids:
        ids.insert(0, current)
    if not ids:
        return None
    choice = st.selectbox(
        "Sweep", ids, index=ids.index(current) if current else None,
        placeholder="Pick a sweep (newest first)",
    )  # fmt: skip
    if choice and choice != current:
        st.query_params["sweep"] = choice
    return choice


sweep_id = pick_sweep()
if not sweep_id:
    st.info("No sweep chosen. Start one on New run (mode: sweep), then open it here.")
    st.page_link("views/new_run.py", label="New run", icon=":material/play_arrow:")
    st.stop()

try:
    view = loaders.load_sweep(sweep_id)
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()

so_far = "" if view.finished else " so far"
st.text(f"{ss.strategy_of(view) or 'strategy ?'} · {len(view.summary):,} combinations{so_far}")
if not view.finished:
    total = f"{view.n_children:,}" if view.n_children else "?"
    st.progress(view.progress, text=f"{view.chunks_done:,} of {total} chunks done")
    st.info(f"Sweep {sweep_id} is not finished yet; showing the chunks written so far.")
if view.note:
    st.caption(view.note)
if view.summary.empty or not view.metrics:
    st.info("No results yet: no chunk of this sweep has been written.")
    st.stop()

default_metric = ss.DEFAULT_METRIC if ss.DEFAULT_METRIC in view.metrics else view.metrics[0]
metric = choose("Metric", view.metrics, "metric", default_metric)
axes = ss.axis_candidates(view) or view.params

tab_map, tab_top, tab_robust = st.tabs(["Heatmap", "Top combinations", "Robustness"])
with tab_map:
    if len(axes) < 2:
        st.info("Fewer than two swept parameters: see the table and parallel coordinates.")
    else:
        c1, c2, c3 = st.columns(3)
        with c1:
            x = choose("X axis", axes, "x", axes[0])
        y_options = [p for p in axes if p != x]
        with c2:
            y = choose("Y axis", y_options, "y", y_options[0])
        with c3:
            agg = choose("Aggregate others by", AGGREGATIONS, "agg", "median")
        fixed: dict[str, Any] = {}
        for p in (p for p in view.params if p not in (x, y)):
            values = sorted(view.summary[p].dropna().unique().tolist(), key=str)
            if len(values) > 1:
                pick = st.selectbox(f"Fix {p}", [AGGREGATE, *values], key=f"fix_{p}")
                if pick != AGGREGATE:
                    fixed[p] = pick
        frame = ss.heatmap_frame(view, metric)
        st.plotly_chart(
            charts.sweep_heatmap(frame, x, y, metric, agg=agg, fixed=fixed), key="heatmap"
        )
    if view.params:
        st.plotly_chart(
            charts.parallel_coordinates(view.summary, view.params, metric), key="parcoords"
        )

with tab_top:
    n = int(st.number_input("Show the best", min_value=1, max_value=1000, value=20, step=5))
    top = ss.top_table(view.summary, metric, n)
    st.dataframe(top, hide_index=True)
    if not top.empty:
        labels = [ss.combo_label(row, view.params) for row in top.to_dict("records")]
        chosen = st.selectbox("Combination", range(len(labels)), format_func=labels.__getitem__)
        st.page_link(
            "views/new_run.py",
            label="Run the chosen parameters on other files",
            icon=":material/play_arrow:",
            query_params=ss.new_run_query_params(view, top.iloc[int(chosen)].to_dict()),
        )
    for item in ss.top_runs(view.robustness):
        st.page_link(
            "views/run_results.py", label=f"Full run: {item['label']}",
            icon=":material/monitoring:", query_params={"run": item["run_id"]},
        )  # fmt: skip

with tab_robust:
    if view.robustness is None:
        st.info("Robustness statistics appear once the sweep is collected.")
    else:
        for line in ss.chunk_problems(view.robustness):
            st.warning(f"Incomplete sweep: {line}. These combinations are not in the results.")
        st.dataframe(ss.robustness_rows(view.robustness), hide_index=True)
        oos = ss.oos_table(view.robustness)
        if oos.empty:
            st.caption("No in-/out-of-sample split was configured for this sweep.")
        else:
            st.dataframe(oos, hide_index=True)
