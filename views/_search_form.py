"""New run's sweep kind (not a page; views/new_run.py calls it in its sweep section): grid,
random (n, seed) or a TPE search (budget, trials per round, one or two objectives, seed), and
the search's estimate (rounds x array size) and read-back.

Every value is typed text checked in the same script run that would submit it (app.form_checks),
so what is shown is what is submitted; a bad value shows its one line under the field and is
added to the reasons Submit is disabled. What a TPE search cannot do (several files,
walk-forward) is said beside the kind before submit; a stored strategy file is counted with its
rules in the sandbox subprocess, as at submit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import streamlit as st

from app import form_checks, loaders, submit_service
from app import search_service as search
from engine.errors import ParamError
from engine.sim.strategies import Param
from engine.sweep.search_spec import DEFAULT_ROUND_SIZE, MAX_ROUND_SIZE, SearchSpec
from engine.sweep.spec import DEFAULT_MAX_COMBINATIONS

TPE = "tpe"
KINDS = {"grid": "grid", "random": "random", TPE: "TPE search (budgeted, model-based)"}
SAMPLE_N = Param("n (samples)", "int", 100, 1, DEFAULT_MAX_COMBINATIONS)
SEED = Param("seed", "int", 0, 0, 2**32 - 1)
BUDGET = Param("budget (trials)", "int", 200, 1, DEFAULT_MAX_COMBINATIONS)
ROUND_SIZE = Param("trials per round", "int", DEFAULT_ROUND_SIZE, 1, MAX_ROUND_SIZE)
Checker = Callable[..., Any]
SearchEstimate = search.SearchEstimate  # what :func:`estimate` returns (new_run tells it apart)


def _kind_label(kind: str) -> str:
    return KINDS[kind]


def sweep_kind(checked: Checker, problems: list[str], files: Sequence[str]) -> dict:
    """The kind selectbox and its fields; returns the SweepChoice keywords (mode, n, seed,
    search). ``checked(check, *args)`` shows a ParamError under the field and disables Submit."""
    ss = st.session_state
    apply_link()
    cols = st.columns(3)
    ss.setdefault("nr_sweep_kind", "grid")
    mode = cols[0].selectbox("Sweep", list(KINDS), key="nr_sweep_kind", format_func=_kind_label)
    sample: dict[str, Any] = {"mode": mode}
    if mode == "random":
        ss.setdefault("nr_sweep_n", "100")
        ss.setdefault("nr_sweep_seed", "0")
        with cols[1]:
            raw = st.text_input("n (samples)", key="nr_sweep_n")
            sample["n"] = checked(form_checks.check_value, SAMPLE_N, raw)
        with cols[2]:
            raw = st.text_input("seed", key="nr_sweep_seed")
            sample["seed"] = checked(form_checks.check_value, SEED, raw)
    elif mode == TPE:
        sample.update(search_fields(checked, problems, cols))
        for line in conflicts(files):
            problems.append(line)
            st.error(line, icon=":material/error:")
    return sample


def apply_link() -> None:
    """A link's ``search=`` settings (app.search_service.search_query) fill the fields, once
    per distinct link (as New run applies the rest of a link); a damaged one is a warning line
    for as long as the link carries it (the fields keep what they hold)."""
    ss = st.session_state
    text = st.query_params.get(search.SEARCH_QUERY)
    if not text:
        return
    try:
        values = search.parse_search_query(text)
    except ParamError as exc:
        st.warning(f"Link: {exc}")
        return
    signature = json.dumps(st.query_params.to_dict(), sort_keys=True)
    if ss.get("nr_search_link") == signature:
        return
    ss["nr_search_link"] = signature
    ss["nr_sweep_kind"] = TPE
    ss["nr_search_objectives"] = values.pop("objectives")
    for name, value in values.items():
        ss[f"nr_search_{name}"] = value


def search_fields(checked: Checker, problems: list[str], cols: Sequence[Any]) -> dict:
    """Budget, trials per round, objectives and seed of a TPE search."""
    ss = st.session_state
    ss.setdefault("nr_search_budget", "200")
    ss.setdefault("nr_search_round", str(DEFAULT_ROUND_SIZE))
    ss.setdefault("nr_search_seed", "0")
    with cols[1]:
        raw = st.text_input(
            "budget (trials)",
            key="nr_search_budget",
            help="Trials over all rounds: the search stops after this many.",
        )
        budget = checked(form_checks.check_value, BUDGET, raw)
    with cols[2]:
        raw = st.text_input("trials per round", key="nr_search_round",
                            help="One round is one array job; the sampler learns from every "
                            "finished round before it asks the next.")  # fmt: skip
        round_size = checked(form_checks.check_value, ROUND_SIZE, raw)
    left, right = st.columns([3, 1])
    choices = search.objective_choices()
    ss.setdefault("nr_search_objectives", [search.objective_label("sharpe")])
    with left:
        picked = st.multiselect(
            "Objectives (one, or two for a Pareto front)", list(choices), max_selections=2,
            key="nr_search_objectives",
            help="Each metric's direction is the registry's: higher or lower is better.",
        )  # fmt: skip
    with right:
        raw = st.text_input(
            "seed", key="nr_search_seed", help="The same seed asks the same trials."
        )
        seed = checked(form_checks.check_value, SEED, raw)
    spec = None
    if not picked:
        line = "objectives: pick one or two metrics to optimise"
        problems.append(line)
        left.error(line, icon=":material/error:")
    elif round_size is not None:
        spec = checked(SearchSpec(round_size, tuple(choices[p] for p in picked)).validate)
    if spec is not None and budget is not None:
        st.caption(
            f"{form_checks.plural(spec.n_rounds(budget), 'round')} of up to "
            f"{form_checks.plural(spec.round_size, 'trial')} "
            f"({budget:,} in all); seed {seed if seed is not None else '?'}; optimising "
            + " and ".join(search.objective_label(o) for o in spec.objectives)
            + (": the result is a Pareto front." if len(spec.objectives) == 2 else ".")
        )
    return {"n": budget, "seed": seed, "search": spec}


def conflicts(files: Sequence[str]) -> list[str]:
    """What a TPE search cannot be combined with, one actionable line each."""
    out = []
    if len(files) > 1:
        out.append(
            f"a TPE search runs on one input file, {len(files)} are picked: keep one, or use "
            "a grid or random sweep for several files"
        )
    if st.session_state.get("nr_wf_on"):
        out.append(
            "a TPE search cannot be walk-forward: turn off walk-forward optimisation below, "
            "or use a grid or random sweep"
        )
    return out


@st.cache_data(show_spinner="Counting the search space's valid combinations...", max_entries=32)
def _valid(spec_key: str, _sweep: Any) -> int | None:
    """The space's valid combinations (None above jobs.search.COUNT_LIMIT grid points), cached
    per content: the submit's own count (jobs.search_jobs.check_search: a stored strategy
    file's rules in the sandbox subprocess, never in this process) before it cuts a larger
    budget."""
    from jobs.search_jobs import check_search

    return check_search(loaders.get_context().store, _sweep)[1]


def estimate(sweep: Any, bars: Sequence[int], pricing: Any) -> search.SearchEstimate:
    """The search's rounds, array sizes, time and cost (the layout the submit uses)."""
    key = replace(sweep, sweep_id="form", n=None, seed=0, search=None).to_json()
    return search.estimate_search(sweep, bars, pricing, valid=_valid(key, sweep))


def show_estimate(est: search.SearchEstimate, settings: Any) -> str:
    """The estimate's figures; returns the Submit button's label."""
    cols = st.columns(4)
    note = est.budget_note()
    cols[0].metric("Trials", f"{est.budget:,}", help=note or "the budget: trials over all rounds")
    if note:
        st.warning(f"Trials: {note}.", icon=":material/info:")
    cols[1].metric("Rounds", f"{est.n_rounds:,}", help=f"up to {est.round_size:,} trials each")
    cols[2].metric(
        "Compute time", submit_service.format_duration(est.compute_seconds),
        help="total over all children, at the measured cost per bar and combination",
    )  # fmt: skip
    if est.fargate_usd is not None:
        cols[3].metric(
            "Fargate cost", submit_service.format_usd(est.fargate_usd),
            help=f"list prices ${settings.fargate_vcpu_hour}/vCPU-h, "
            f"${settings.fargate_gb_hour}/GB-h",
        )  # fmt: skip
    st.caption(
        f"Array jobs: {est.rounds_text()}. Each round's array is submitted when the previous "
        "round has been told back to the sampler (one small step job per round), so the search "
        "takes at least as many job start-ups as rounds."
    )
    return f"Submit TPE search of {form_checks.plural(est.budget, 'trial')} ({est.n_rounds:,} " + (
        "round)" if est.n_rounds == 1 else "rounds)"
    )


def show_sent(record: dict[str, Any]) -> None:
    """The submitted search's settings, read back from its spec.json."""
    for line in search.describe_sent(record):
        st.text(line)
