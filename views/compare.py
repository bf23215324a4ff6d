"""Compare (?runs=id1,id2): overlay equity and drawdown of finished runs, metrics side by side.

Thin: read inputs -> guard -> one cached read (app.loaders) -> render.
"""

from __future__ import annotations

import streamlit as st

from app import charts, loaders
from engine.errors import BacktestError, InfraError

st.title("Compare runs")

wanted = [r for r in (st.query_params.get("runs") or "").split(",") if r.strip()]
try:
    finished = list(loaders.list_runs()["run_id"])
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    finished = []
options = list(dict.fromkeys([*wanted, *finished]))
chosen = st.multiselect(
    "Runs", options, default=wanted, placeholder="Pick two or more finished runs",
    help="Finished runs in the result bucket; the choice is kept in the URL (?runs=).",
)  # fmt: skip
if chosen != wanted:
    st.query_params["runs"] = ",".join(chosen)

if not chosen:
    st.info("Pick runs to compare." if options else "No finished runs yet.")
    st.stop()

try:
    result = loaders.compare_runs(tuple(chosen))
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()

for problem in result.problems:
    st.warning(problem)
if not result.equities:
    st.stop()

st.plotly_chart(charts.compare_equity(result.equities), key="compare_equity")
st.plotly_chart(charts.compare_drawdown(result.equities), key="compare_drawdown")
st.subheader("Metrics")
st.dataframe(result.metrics)
for run_id in result.equities:
    st.page_link(
        "views/run_results.py", label=f"Open {run_id}", icon=":material/monitoring:",
        query_params={"run": run_id},
    )  # fmt: skip
