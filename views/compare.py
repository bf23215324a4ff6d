"""Compare (?runs=id1,id2): overlay equity and drawdown of finished runs, metrics side by side.

Runs are told apart by what differs between them (labels and the table's first rows are built
from the spec fields that differ); what they share is said once. Thin: read inputs -> guard ->
one cached read (app.loaders) -> render.
"""

from __future__ import annotations

import streamlit as st

from app import charts, loaders
from views import _pages as nav
from views._guard import page_errors
from views._pickers import pick_runs

st.title("Compare runs")

chosen, any_runs = pick_runs()
if not chosen:
    st.info("Pick runs to compare." if any_runs else "No finished runs yet.")
    st.stop()

with page_errors():
    result = loaders.compare_runs(tuple(chosen))

for problem in result.problems:
    st.warning(problem)
if not result.equities:
    st.stop()
for ruined in result.warnings:
    st.error(ruined, icon=":material/dangerous:")
if result.same:
    st.caption(f"Same in every run: {result.same}")

st.plotly_chart(charts.compare_equity(result.equities), key="compare_equity")
st.plotly_chart(charts.compare_drawdown(result.equities), key="compare_drawdown")
st.subheader("What differs, and the metrics")
st.dataframe(result.metrics)
for run_id, label in result.labels.items():
    st.page_link(
        nav.RUN_RESULTS, label=f"Open {label} ({run_id})" if label != run_id else
        f"Open {run_id}", icon=":material/monitoring:", query_params={"run": run_id},
    )  # fmt: skip
