"""Router only: the pages live under pages/."""

import streamlit as st

st.set_page_config(
    page_title="batch-backtest", page_icon=":chart_with_upwards_trend:", layout="wide"
)

pages = [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)]
st.navigation(pages).run()
