"""The pickers the result pages share (runs, sweeps; URL-backed choices): items labelled for a
person, the choice kept in the URL. Not a page (st.navigation routes only views/_pages.py's list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import streamlit as st

from app import loaders, run_picker
from app.run_picker import RunBrief
from views._guard import page_errors

RUN_HELP = (
    "Finished runs in the result bucket, newest first: finish time (UTC), strategy, file, total "
    "return and Sharpe; a sweep's top-N reruns are grouped under the sweep."
)


def run_labels() -> dict[str, str]:
    """Finished runs in picker order, id -> label; a read error is shown and gives none."""
    briefs: list[RunBrief] = []
    with page_errors(stop=False):
        briefs = loaders.run_briefs()
    return {b.run_id: run_picker.picker_label(b) for b in briefs}


def sync_from_url(key: str, param: str, options: Sequence[Any], wanted: Any) -> None:
    """Let the URL set a widget's value when it changed from outside (a link, back, first
    visit) or the old value is no longer offered; a user's pick in the widget otherwise wins.

    Widgets keep a fixed key: deriving their index from the URL would change their identity
    on every pick, and Streamlit would then drop the user's next pick."""
    url = st.query_params.get(param)
    if st.session_state.get(f"{key}__url", "\0") != url or st.session_state.get(key) not in options:
        st.session_state[key] = wanted


def write_url(key: str, param: str, value: str | None) -> None:
    """Put a widget's value into ?<param>= (or take it out), remembering what was written."""
    if value is None:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != value:
        st.query_params[param] = value
    st.session_state[f"{key}__url"] = value


class PickerText(NamedTuple):
    """What a picker says: its label, its empty-state placeholder and its help."""

    label: str
    placeholder: str
    help: str


def pick_id(text: PickerText, param: str, labels: Mapping[str, str], *, page: str) -> str | None:
    """One id from ?<param>=, or the one chosen among ``labels`` (id -> label, in display
    order), written back to the URL; an id in the URL that is not listed stays offered.

    ``page`` names the calling page: each page's picker has its own key and URL note (a key
    shared by two pages would carry one page's note into the other and ignore a link's URL)."""
    current = st.query_params.get(param) or None
    ids = list(labels)
    if current and current not in labels:
        ids.insert(0, current)
    if not ids:
        return None
    key = f"pick_{page}_{param}"
    sync_from_url(key, param, [*ids, None], current)
    choice = st.selectbox(
        text.label, ids, index=None, key=key, format_func=lambda i: labels.get(i, i),
        placeholder=text.placeholder,
        help=f"{text.help} The choice is kept in the URL (?{param}=).",
    )  # fmt: skip
    write_url(key, param, choice or None)
    return choice


def pick_run(page: str, param: str = "run") -> str | None:
    """The run id from ?<param>=, or the one chosen in the picker (written back to the URL)."""
    text = PickerText("Run", "Pick a finished run (newest first)", RUN_HELP)
    return pick_id(text, param, run_labels(), page=page)


def pick_sweep(page: str, param: str = "sweep") -> str | None:
    """The sweep id from ?<param>=, or the one chosen in the picker (written back to the URL)."""
    labels: dict[str, str] = {}
    with page_errors(stop=False):
        listed = loaders.list_sweeps()
        labels = dict(zip(listed["sweep_id"], listed["label"], strict=True))
    text = PickerText(
        "Sweep", "Pick a sweep (newest first)",
        "Sweeps in the result bucket, newest first: date, strategy, file, best Sharpe.",
    )  # fmt: skip
    return pick_id(text, param, labels, page=page)


def pick_runs(param: str = "runs") -> tuple[list[str], bool]:
    """Run ids from ?<param>=id1,id2, or those chosen in the multi-picker (written back), and
    whether there was anything to choose from."""
    wanted = [r for r in (st.query_params.get(param) or "").split(",") if r.strip()]
    labels = run_labels()
    options = list(dict.fromkeys([*wanted, *labels]))
    chosen = st.multiselect(
        "Runs", options, default=wanted, format_func=lambda rid: labels.get(rid, rid),
        placeholder="Pick two or more finished runs",
        help="Finished runs in the result bucket, newest first (a sweep's top-N reruns "
        f"grouped); the choice is kept in the URL (?{param}=).",
    )  # fmt: skip
    if chosen != wanted:
        st.query_params[param] = ",".join(chosen)
    return chosen, bool(options)
