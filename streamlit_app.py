"""Router only: page list, shared page setup (backend badge), then the chosen page runs."""

import streamlit as st

from app.loaders import get_context

st.set_page_config(page_title="batch-backtest", page_icon=":material/query_stats:", layout="wide")

PAGES = [
    st.Page("views/home.py", title="Start here", icon=":material/home:", default=True),
    st.Page("views/data.py", title="Data", icon=":material/folder_open:", url_path="data"),
    st.Page("views/new_run.py", title="New run", icon=":material/play_arrow:", url_path="new"),
    st.Page("views/jobs.py", title="Jobs", icon=":material/list:", url_path="jobs"),
    st.Page(
        "views/run_results.py", title="Run results", icon=":material/monitoring:", url_path="run"
    ),
    st.Page(
        "views/sweep_results.py", title="Sweep results", icon=":material/grid_on:", url_path="sweep"
    ),
    st.Page("views/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
]

page = st.navigation(PAGES)
st.sidebar.caption("Backend")
st.sidebar.badge(get_context().backend_label, color="blue")
page.run()
