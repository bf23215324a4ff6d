"""Placeholder: written by the dashboard work."""

import streamlit as st

st.title("run_results")
st.info("Coming soon.")
