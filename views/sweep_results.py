"""Sweep results (?sweep=<id>&metric=<m>&tab=<t>&x=<p>&y=<p>&agg=<a>&fix_<p>=<v>): heatmap,
parallel coordinates, ranked table, robustness statistics, links to the top combinations' full
runs and to New run.

Every choice goes into the URL so the view can be shared (a shared slice opens that slice).
Thin: read inputs -> guard -> cached reads (app.loaders) -> render. Whatever the sweep's size,
what reaches the browser is bounded: the heatmap is aggregated to at most 50 cells per axis,
parallel coordinates draw a stated sample, the table is paged, and only the open tab renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app import loaders, search_service, sweep_charts
from app import sweep_service as ss
from views import _pages as nav
from views._guard import page_errors
from views._pickers import pick_sweep, sync_from_url, write_url
from views._sweep_heatmap import heatmap_tab
from views._sweep_robustness import robustness_tab
from views._sweep_search import search_tab

st.title("Sweep results")
TABS = ["Heatmap", "Parallel coordinates", "Top combinations", "Robustness"]


LIVE_S = 3  # seconds between the checks of an unfinished sweep


def live_progress(view: ss.SweepView) -> None:
    """Re-check an unfinished sweep every LIVE_S seconds; redraw the page when a chunk landed,
    the collect finished or a search's state moved, so what the page shows is the state now."""
    tpe = view.spec.get("mode") == "tpe"
    search_line = search_service.progress_line(loaders.get_context(), view) if tpe else ""

    @st.fragment(run_every=LIVE_S)
    def check() -> None:
        ctx = loaders.get_context()
        now = ss.progress_now(ctx, view.sweep_id, view.n_children)
        moved = now.finished or now.chunks_done != view.chunks_done
        if moved or (tpe and search_service.progress_line(ctx, view) != search_line):
            st.rerun(scope="app")
        st.caption(f"Live: checked {pd.Timestamp.now(tz='UTC'):%H:%M:%S} UTC; the page redraws "
                   "when a chunk lands.")  # fmt: skip

    check()


def choose(
    label: str, options: Sequence[Any], param: str, default: Any, *, keep_default: bool = True
) -> Any:
    """A selectbox whose value lives in st.query_params[param] (bad URL values fall back).

    With ``keep_default=False`` the default is left out of the URL (a clean link)."""
    options = list(options)
    current = st.query_params.get(param)
    match = [o for o in options if str(o) == current]
    wanted = match[0] if match else (default if default in options else options[0])
    key = f"sweep_q_{param}"
    sync_from_url(key, param, options, wanted)
    choice = st.selectbox(label, options, key=key)
    write_url(key, param, None if choice == default and not keep_default else str(choice))
    return choice


def parcoords_tab(view: ss.SweepView, metric: str) -> None:
    """Parallel coordinates over a bounded, stated sample of the rows."""
    if not view.params:
        st.info("No swept parameters to draw.")
        return
    sample = loaders.sweep_sample(view, metric)
    rows = sample.rows[pd.to_numeric(sample.rows[metric], errors="coerce").notna()]
    if rows.empty:
        st.info(f"No values of {metric} to draw.")
        return
    title = f"{metric} across {', '.join(view.params)}"
    alt = f"Parallel: {title}; {len(rows):,} rows" + (f"; {sample.note}" if sample.note else "")
    st.markdown(f"**{title}**")
    option = sweep_charts.parallel_option(rows, view.params, metric)
    st.echarts_chart(option, key="parcoords", height=520, alt=alt)
    st.caption(
        "Drag along an axis to keep only the lines through that range (drag again elsewhere "
        "on the axis to clear)." + (f" Parallel coordinates: {sample.note}." if sample.note else "")
    )


def top_tab(view: ss.SweepView, metric: str) -> None:
    """The ranked combinations, one page at a time, and what to do with one of them."""
    order = loaders.sweep_ranking(view, metric)
    pages = ss.n_pages(len(order))
    page = int(st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1))
    table = ss.table_page(view, order, page, metric)
    first = (page - 1) * ss.TABLE_PAGE_ROWS + 1
    st.caption(
        f"Rows {first:,}–{first + len(table) - 1:,} of {len(order):,}, best {metric} first; "
        "rows without a value, then ruined rows, come last."
    )
    st.dataframe(table, hide_index=True)
    if not table.empty:
        labels = [ss.combo_label(row, view.params) for row in table.to_dict("records")]
        chosen = st.selectbox("Combination", range(len(labels)), format_func=labels.__getitem__)
        st.page_link(
            nav.NEW_RUN,
            label="Run the chosen parameters on other files",
            icon=":material/play_arrow:",
            query_params=ss.new_run_query_params(view, table.iloc[int(chosen)].to_dict()),
        )
    for item in ss.top_runs(view.robustness):
        st.page_link(
            nav.RUN_RESULTS, label=f"Full run: {item['label']}",
            icon=":material/monitoring:", query_params={"run": item["run_id"]},
        )  # fmt: skip


sweep_id = pick_sweep("sweep_results")
if not sweep_id:
    st.info("No sweep chosen. Start one on New run (mode: sweep), then open it here.")
    st.page_link(nav.NEW_RUN, label="New run", icon=":material/play_arrow:")
    st.stop()

# A placeholder chart first: the browser fetches the chart code while the server reads the
# sweep (a fresh browser otherwise waited for the figure before loading it).
reading = st.empty()
reading.echarts_chart(sweep_charts.placeholder_option("Reading the sweep ..."), height=60)
try:
    with page_errors():
        view = loaders.load_sweep(sweep_id)
finally:
    reading.empty()

facts = loaders.sweep_facts(view)
so_far = "" if view.finished else " so far"
st.text(f"{ss.strategy_of(view) or 'strategy ?'} · {facts.n_rows:,} combinations{so_far}")
if view.spec.get("walk_forward"):  # a walk-forward sweep: its windows on their own page (HF)
    st.page_link(nav.WALK_FORWARD, label="Walk-forward results", query_params={"sweep": sweep_id})
if not view.finished:
    total = f"{view.n_children:,}" if view.n_children else "?"
    st.progress(view.progress, text=f"{view.chunks_done:,} of {total} chunks done")
    st.info(f"Sweep {sweep_id} is not finished yet; showing the chunks written so far.")
    live_progress(view)
if view.note:
    st.caption(view.note)
for line in ss.chunk_problems(view.robustness or {}):
    st.warning(f"Incomplete sweep: {line}. These combinations are not in the results.")
if ruined := ss.ruin_line(facts):
    st.warning(ruined, icon=":material/warning:")
if view.summary.empty or not view.metrics:
    st.info("No results yet: no chunk of this sweep has been written.")
    st.stop()

default_metric = ss.DEFAULT_METRIC if ss.DEFAULT_METRIC in view.metrics else view.metrics[0]
metric = choose("Metric", view.metrics, "metric", default_metric)

search_settings = None  # a TPE search: a Search tab first (views/_sweep_search.py)
with page_errors():
    search_settings = search_service.search_settings(view.spec)
if search_settings is not None:
    tab_search, tab_map, tab_par, tab_top, tab_robust = st.tabs(
        ["Search", *TABS], key="tab", bind="query-params"
    )
    if tab_search.open:
        with tab_search, page_errors(stop=False):  # e.g. a summary without its objective
            search_tab(view, search_settings, choose)
else:
    tab_map, tab_par, tab_top, tab_robust = st.tabs(TABS, key="tab", bind="query-params")
if tab_map.open:
    with tab_map:
        heatmap_tab(view, facts, metric, choose)
if tab_par.open:
    with tab_par:
        parcoords_tab(view, metric)
if tab_top.open:
    with tab_top:
        top_tab(view, metric)
if tab_robust.open:
    with tab_robust:
        if search_settings is not None and view.robustness is not None:
            st.caption(search_service.counted_line(view.robustness, len(view.summary)))
        robustness_tab(view)
