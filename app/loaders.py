"""The one module of Streamlit-cached loaders (pages call these; services stay Streamlit-free).

The context is cached per resolved settings, so a change of ``BACKTEST_*`` variables or config
file (tests do this) gets a fresh store and executor. Data loaders have short TTLs and are
cleared by :func:`invalidate` after a submit, upload or delete.
"""

from __future__ import annotations

import streamlit as st

from app.context import AppContext, build_context
from jobs.settings import Settings, load_settings


@st.cache_resource(show_spinner=False)
def _context_for(settings: Settings) -> AppContext:
    return build_context()


def get_context() -> AppContext:
    """The AppContext for the current settings (created once per distinct settings)."""
    settings, _ = load_settings()
    return _context_for(settings)


def invalidate() -> None:
    """Drop cached data (not the context) after anything that changes the stores or jobs."""
    st.cache_data.clear()
