"""``page_errors()``: the one guard every page wraps its reads and actions in.

A :class:`~engine.errors.ProjectError` (a user error or an infrastructure error, each one
actionable line) raised inside the block is shown with ``st.error`` and, by default, stops the
page there; anything else is a bug and propagates. Not a page: st.navigation in streamlit_app.py
routes only the paths in views/_pages.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from engine.errors import ProjectError


@contextmanager
def page_errors(*, stop: bool = True, prefix: str = "") -> Iterator[None]:
    """Show a ProjectError raised in the block as one error line (``prefix`` first); then stop
    the script unless ``stop`` is False (the page carries on after the block)."""
    try:
        yield
    except ProjectError as exc:
        st.error(f"{prefix}{exc}")
        if stop:
            st.stop()
