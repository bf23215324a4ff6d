"""Home: what this is and where to start."""

import streamlit as st

st.title("batch-backtest")
st.write("Backtest OHLCV files from S3 on AWS Batch, or locally on the embedded default.")
