"""The New run form's holdout and walk-forward options (not a page; views/new_run.py calls
:func:`walk_forward_options` in its sweep section and :func:`apply` to the built SweepSpec)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from engine.errors import ParamError
from engine.sweep.spec import SweepSpec
from engine.sweep.wf_windows import WF_METRICS, WalkForwardSpec


@dataclass(frozen=True)
class WalkForwardChoice:
    """What the options say: keep a holdout, and the walk-forward spec (None: off)."""

    holdout: bool = True
    walk_forward: WalkForwardSpec | None = None


def walk_forward_options(problems: list[str]) -> WalkForwardChoice:
    """The widgets; a bad walk-forward entry is appended to ``problems`` as one line."""
    ss = st.session_state
    ss.setdefault("nr_holdout", True)
    holdout = st.checkbox(
        "Keep a holdout (the last 30% of bars out of sample)", key="nr_holdout",
        help="The robustness tab then shows each top combination's in-sample and out-of-sample "
        "Sharpe; unchecked, there is no out-of-sample figure.",
    )  # fmt: skip
    on = st.toggle("Walk-forward optimisation", key="nr_wf_on")
    if not on:
        return WalkForwardChoice(holdout)
    ss.setdefault("nr_wf_windows", "756:252")
    ss.setdefault("nr_wf_metric", "sharpe")
    ss.setdefault("nr_wf_constraints", "")
    cols = st.columns([2, 1, 1])
    text = cols[0].text_input(
        "Windows IS:OOS[:STEP]", key="nr_wf_windows",
        help="In-sample, out-of-sample and step lengths: bars (756:252) or calendar periods "
        "(3Y:1Y:6M, units Y M W D). The step defaults to the out-of-sample length.",
    )  # fmt: skip
    metric = cols[1].selectbox("Choose by", list(WF_METRICS), key="nr_wf_metric")
    anchored = cols[2].checkbox(
        "Anchored", key="nr_wf_anchored", help="In-sample always starts at the first bar."
    )
    raw = st.text_input(
        "In-sample constraints (comma-separated)", key="nr_wf_constraints",
        placeholder="max_drawdown<0.3, n_trades>=10",
        help="A combination must satisfy all of them in-sample to be chosen; ruined ones never "
        "are.",
    )  # fmt: skip
    constraints = [c.strip() for c in raw.split(",") if c.strip()]
    try:
        spec = WalkForwardSpec.parse(
            text, anchored=anchored, metric=metric, constraints=constraints
        )
    except ParamError as exc:
        problems.append(str(exc))
        return WalkForwardChoice(holdout)
    st.caption(
        f"{spec.label()}: each window chooses by in-sample {metric} and runs the choice on the "
        "next out-of-sample window; the array gets one more child per window and file (more "
        "for a large space), in addition to the estimate below."
    )
    return WalkForwardChoice(holdout, spec)


def apply(sweep: SweepSpec, choice: WalkForwardChoice) -> SweepSpec:
    """``sweep`` with the choice's holdout and walk-forward (validated)."""
    split = sweep.split if choice.holdout else None
    return replace(sweep, split=split, walk_forward=choice.walk_forward).validate()
