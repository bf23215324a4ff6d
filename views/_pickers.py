"""The run picker the result pages share: finished runs labelled for a person, the choice kept
in the URL. Not a page (st.navigation routes only views/_pages.py's list)."""

from __future__ import annotations

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


def pick_run(param: str = "run") -> str | None:
    """The run id from ?<param>=, or the one chosen in the picker (written back to the URL)."""
    current = st.query_params.get(param) or None
    labels = run_labels()
    ids = list(labels)
    if current and current not in labels:
        ids.insert(0, current)
    if not ids:
        return None
    choice = st.selectbox(
        "Run",
        ids,
        index=ids.index(current) if current else None,
        format_func=lambda rid: labels.get(rid, rid),
        placeholder="Pick a finished run (newest first)",
        help=f"{RUN_HELP} The choice is kept in the URL (?{param}=).",
    )
    if choice and choice != current:
        st.query_params[param] = choice
    return choice


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
