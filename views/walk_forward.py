"""Walk-forward (?sweep=<id>&file=<key>): the per-window table, the stitched out-of-sample
equity against buy-and-hold, walk-forward efficiency and the chosen parameters per window.

Thin: read inputs -> guard -> one service call -> render.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import loaders
from app import sweep_service as ss
from app import walk_forward_service as wfs
from views import _pages as nav
from views._guard import page_errors
from views._pickers import pick_sweep

LIVE_S = 3  # seconds between the checks of an uncollected sweep

st.title("Walk-forward")
st.caption(
    "Each window chooses the best combination on its in-sample bars only, then runs it on the "
    "next out-of-sample bars; the out-of-sample runs are chained into one curve (each starts "
    "with the previous one's final equity)."
)

sweep_id = pick_sweep("walk_forward")
if not sweep_id:
    st.info("Pick a walk-forward sweep (submitted with a walk-forward option).")
    st.stop()

with page_errors():
    view = wfs.read_walk_forward(loaders.get_context(), sweep_id)

st.write(wfs.describe(view.spec))
st.page_link(nav.SWEEP_RESULTS, label="Full-sample sweep results", query_params={"sweep": sweep_id})
if not view.finished:
    st.info(
        "Not collected yet: the walk-forward results appear here once the sweep's collect has "
        "written them. Whether its jobs are running or failed (and Resume) is on the Jobs page."
    )
    st.page_link(nav.JOBS, label="Jobs", icon=":material/list:")

    @st.fragment(run_every=LIVE_S)
    def check() -> None:  # the page redraws itself once the collect has finished
        if ss.progress_now(loaders.get_context(), view.sweep_id, None).finished:
            st.rerun(scope="app")
        st.caption(f"Live: checked {pd.Timestamp.now(tz='UTC'):%H:%M:%S} UTC.")

    check()
    st.stop()

files = view.files
chosen = st.query_params.get("file")
key = chosen if chosen in files else files[0]
if len(files) > 1:
    key = st.selectbox("File", files, index=files.index(key), key="wf_file")
    st.query_params["file"] = key

st.subheader("Stitched out-of-sample result")
st.dataframe(wfs.summary_table(view, key), hide_index=True)
st.caption(wfs.efficiency_text(view, key))
st.plotly_chart(wfs.equity_figure(view, key), key="wf_equity")

st.subheader("Windows")
st.dataframe(wfs.window_table(view, key), hide_index=True)
st.caption(str(view.report.get("warm_up_rule") or ""))
st.plotly_chart(wfs.params_figure(view, key), key="wf_params")
