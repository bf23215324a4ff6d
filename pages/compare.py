"""Placeholder: written by the dashboard work."""

import streamlit as st

st.title("compare")
st.info("Coming soon.")
