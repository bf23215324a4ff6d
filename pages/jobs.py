"""Placeholder: written by the dashboard work."""

import streamlit as st

st.title("jobs")
st.info("Coming soon.")
