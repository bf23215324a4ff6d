"""The dashboard's pages, defined once: each page's script path (what st.page_link and
st.switch_page take) and its title, icon and URL path (what st.navigation routes).

streamlit_app.py builds its navigation from :func:`navigation_pages`; pages link to each other
through the path constants below, so a page cannot be linked under a path the router does not
know. Not a page itself (st.navigation routes only the paths listed here).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

HOME = "views/home.py"
DATA = "views/data.py"
NEW_RUN = "views/new_run.py"
JOBS = "views/jobs.py"
RUN_RESULTS = "views/run_results.py"
SWEEP_RESULTS = "views/sweep_results.py"
COMPARE = "views/compare.py"
STRATEGIES = "views/strategies.py"
WALK_FORWARD = "views/walk_forward.py"


@dataclass(frozen=True)
class PageDef:
    """One routed page: script path, navigation title and icon, URL path ('' = the default)."""

    path: str
    title: str
    icon: str
    url_path: str = ""


PAGES: tuple[PageDef, ...] = (
    PageDef(HOME, "Start here", ":material/home:"),
    PageDef(DATA, "Data", ":material/folder_open:", "data"),
    PageDef(NEW_RUN, "New run", ":material/play_arrow:", "new"),
    PageDef(JOBS, "Jobs", ":material/list:", "jobs"),
    PageDef(RUN_RESULTS, "Run results", ":material/monitoring:", "run"),
    PageDef(SWEEP_RESULTS, "Sweep results", ":material/grid_on:", "sweep"),
    PageDef(WALK_FORWARD, "Walk-forward", ":material/trending_up:", "walk-forward"),
    PageDef(COMPARE, "Compare", ":material/compare:", "compare"),
    PageDef(STRATEGIES, "Strategies", ":material/code:", "strategies"),
)


def navigation_pages() -> list[st.Page]:
    """st.Page objects for st.navigation, the first one (no URL path) the default."""
    return [
        st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path or None,
                default=not p.url_path)
        for p in PAGES
    ]  # fmt: skip
