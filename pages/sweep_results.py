"""Placeholder: written by the dashboard work."""

import streamlit as st

st.title("sweep_results")
st.info("Coming soon.")
