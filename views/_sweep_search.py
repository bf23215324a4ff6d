"""The Search tab of Sweep results for a TPE search (not a routed page): its settings (enough
to run it again), the objective by trial with the running best and the round boundaries, the
rounds table, and with two objectives the trials' scatter with the Pareto front and the front's
table. A click on a trial (either chart) or a pick in the front's table opens that trial's
combination: its full run when collect re-ran it, and New run prefilled with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from app import loaders, search_charts
from app import search_service as search
from app import sweep_service as ss
from app.new_run_link import rerun_query
from views import _pages as nav
from views._sweep_heatmap import combo_links

Chooser = Callable[..., Any]


def search_tab(view: ss.SweepView, settings: search.SearchSettings, choose: Chooser) -> None:
    """Settings, progress chart and rounds, then the Pareto front (two objectives)."""
    st.markdown("**Search settings** (what to enter on New run to run it again)")
    for line in settings.lines():
        st.text(line)
    again = {**rerun_query(view.spec), **search.search_query(view.spec)}
    st.page_link(nav.NEW_RUN, label="Run this search again (New run, prefilled)",
                 icon=":material/replay:", query_params=again)  # fmt: skip
    params = list(view.params)
    trials = search.trials_frame(view.summary, settings, params)
    st.caption(
        f"{len(trials):,} of {settings.budget:,} trials evaluated"
        + ("" if view.finished else " so far (the search is still running)")
    )
    if not view.finished and (line := search.progress_line(loaders.get_context(), view)):
        st.info(line, icon=":material/sync:")
    labels = {search.objective_label(o): o for o in settings.objectives}
    objective = settings.objectives[0]
    if len(labels) > 1:  # two objectives: which one to draw by trial (in the URL)
        objective = labels[choose("Objective", list(labels), "objective", next(iter(labels)))]
    chart = search_charts.progress_chart(trials, settings, objective, params)
    event = st.echarts_chart(chart.option, key=f"search_progress_{objective}", on_select="rerun",
                             height=search_charts.HEIGHT, alt=chart.alt)  # fmt: skip
    left_out = int((trials[search.RUINED] | trials[objective].isna()).sum())
    st.caption(
        f"Dots: each trial's {objective} ({left_out:,} ruined or without a value left out). "
        "Black step line: the best so far (ruined trials are never best). Dashed verticals: "
        f"round boundaries; a round is one array job of up to {settings.round_size:,} trials, "
        "asked after every earlier round was told back." + (f" {chart.note}." if chart.note else "")
    )
    picked = chart.picked(event)
    if picked is not None:
        trial_links(view, picked, "Selected")
    st.dataframe(search.round_table(trials, settings, search_block(view)), hide_index=True)
    if len(settings.objectives) == 2:
        pareto_section(view, settings, trials, params)


def search_block(view: ss.SweepView) -> dict[str, Any] | None:
    """robustness.json's "search" block (None before collect)."""
    block = (view.robustness or {}).get("search")
    return dict(block) if isinstance(block, dict) else None


def pareto_section(
    view: ss.SweepView, settings: search.SearchSettings, trials: pd.DataFrame, params: list[str]
) -> None:
    """The scatter of both objectives with the front highlighted, and the front's table."""
    x, y = settings.objectives
    st.markdown(f"**Pareto front: {search.objective_label(x)} and {search.objective_label(y)}**")
    chart = search_charts.pareto_chart(trials, settings, params)
    event = st.echarts_chart(chart.option, key="search_pareto", on_select="rerun",
                             height=search_charts.HEIGHT, alt=chart.alt)  # fmt: skip
    front = search.pareto_front(trials, settings)
    if front is None:
        st.info("The Pareto front is marked once the search is collected (collect computes it "
                "over every trial).")  # fmt: skip
    else:
        st.caption(
            f"Red: the {len(front):,} trials on the Pareto front (no other trial is at least as "
            f"good on both {x} and {y} and better on one; ruined trials are never on it). "
            "Blue: every other trial." + (f" {chart.note}." if chart.note else "")
        )
    picked = chart.picked(event)
    if picked is not None:
        trial_links(view, picked, "Selected")
    if front is None or front.empty:
        return
    shown = front[[search.TRIAL, search.ROUND, x, y, *params]].reset_index(drop=True)
    st.dataframe(shown, hide_index=True)
    names = [f"trial {int(r[search.TRIAL])}: {ss.combo_label(r, params)}"
             for r in shown.to_dict("records")]  # fmt: skip
    pick = st.selectbox("Front trial", range(len(names)), format_func=names.__getitem__,
                        key="search_front_pick")  # fmt: skip
    trial_links(view, shown.iloc[[int(pick)]].to_dict("records")[0], "Front")


def trial_links(view: ss.SweepView, row: Mapping[Any, Any], what: str) -> None:
    """One trial's combination: its full run when collect re-ran it, and New run prefilled."""
    trial = int(row[search.TRIAL])
    combo = {**row, "combo_id": trial}
    label = ss.combo_label(combo, view.params)
    st.markdown(f"**{what} trial {trial}** (round {int(row[search.ROUND])}): {label}")
    combo_links(view, combo, label)
