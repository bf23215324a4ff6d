"""Start here: what this is, the backend in use, and a one-minute tour."""

import streamlit as st

from app.cli_hints import start_page_block
from app.loaders import get_context
from views import _pages as nav

st.title("batch-backtest")
st.write(
    "Backtest OHLCV price files from a bucket: pick files and a strategy, run one backtest or "
    "a sweep of thousands of parameter combinations as batch jobs, watch them live, then read "
    "returns, drawdowns and trades from the result bucket."
)

ctx = get_context()
settings = ctx.settings
if settings.backend == "aws":
    st.info(
        f"Backend: AWS Batch in {settings.region}, queue {settings.job_queue or '(not set)'}. "
        f"Storage: {ctx.store.describe()}.",
        icon=":material/cloud:",
    )
else:
    st.info(
        "Backend: the embedded default. Jobs run as local processes and "
        f"{ctx.store.describe()} stands in for the buckets.",
        icon=":material/computer:",
    )
st.caption(f"Input bucket: {settings.input_bucket} · result bucket: {settings.result_bucket}")

st.subheader("A one-minute tour")
st.markdown(
    "1. **Browse the data.** The sample files (generated random walks with regimes) are in the "
    "input bucket under `samples/`. Select one to see its bars and the engine's verdict."
)
st.page_link(nav.DATA, label="Open Data", icon=":material/folder_open:")
st.markdown(
    "2. **Start a run.** Pick a sample file and `sma_cross`, keep the defaults and submit. "
    "Choose *sweep* instead to try a grid of parameters."
)
st.page_link(nav.NEW_RUN, label="Open New run", icon=":material/play_arrow:")
st.markdown(
    "3. **Watch it.** The job table refreshes by itself; a run on a sample file takes a few "
    "seconds. Select the job for its log."
)
st.page_link(nav.JOBS, label="Open Jobs", icon=":material/list:")
st.markdown(
    "4. **Read the results.** Equity against buy-and-hold, drawdowns, monthly returns, the "
    "trades on the price chart, and downloads."
)
st.page_link(nav.RUN_RESULTS, label="Open Run results", icon=":material/monitoring:")

st.subheader("From a terminal")
st.markdown(
    "The jobs CLI reads the same settings, so it sees the same files and the same jobs as "
    "this dashboard (a job submitted there shows up on **Jobs**, and the other way round). "
    "Paste these lines into a shell:"
)
st.code(start_page_block(settings, ctx.store), language="bash")
