"""A TPE search (``mode="tpe"`` sweep) as the dashboard shows it: its settings, its trials in
order with the running best, its rounds, its Pareto front, and New run's estimate of one.

No Streamlit here. A search's trial ``k`` is summary row ``combo_id == k`` (its parameters were
asked in round ``k // round_size``); collect adds the columns ``round`` and, with two
objectives, ``pareto``; robustness.json's ``"search"`` block holds collect's ``best_by_round``.
An unfinished search has neither: rounds come from the layout, and the front is not marked until
collect has computed it (the page says so instead of computing a second, different one).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from app.chart_data import ruined_mask
from engine.errors import ParamError
from engine.sim.metric_registry import BY_NAME
from engine.sweep.plan import plan
from engine.sweep.search_rounds import RoundLayout, round_chunk_size
from engine.sweep.search_spec import OBJECTIVE_METRICS, SearchSpec
from engine.sweep.spec import SweepSpec

TRIAL, ROUND, PARETO, RUINED = "trial", "round", "pareto", "ruined"
BEST_PREFIX = "best_"  # running-best columns: best_<objective>
SEARCH_COLUMNS = frozenset({ROUND, PARETO})  # summary columns collect adds to a search
MAX_FRONT_ROWS = 500  # rows of the front's table (a front is small; this bounds the browser)


def objective_label(name: str) -> str:
    """'Sharpe (higher)', 'Max drawdown (lower)': the metric's label and which way is better.

    >>> objective_label("max_drawdown")
    'Max drawdown (lower)'
    """
    metric = BY_NAME.get(name)
    if metric is None or metric.better is None:
        raise ParamError(f"{name!r} is not a search objective; choose from "
                         f"{', '.join(OBJECTIVE_METRICS)}")  # fmt: skip
    return f"{metric.label} ({metric.better})"


def objective_choices() -> dict[str, str]:
    """Label -> metric name for every metric a search can optimise (registry order)."""
    return {objective_label(name): name for name in OBJECTIVE_METRICS}


@dataclass(frozen=True)
class SearchSettings:
    """What a search was asked to do (spec.json): budget, seed, round size, objectives."""

    budget: int
    seed: int
    search: SearchSpec

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.search.objectives

    @property
    def directions(self) -> tuple[str, ...]:
        return self.search.directions

    @property
    def round_size(self) -> int:
        return self.search.round_size

    @property
    def n_rounds(self) -> int:
        return self.search.n_rounds(self.budget)

    def lines(self) -> list[str]:
        """The settings as a user re-enters them to reproduce the search."""
        objectives = ", ".join(objective_label(o) for o in self.objectives)
        return [
            f"TPE search (Optuna's TPE sampler, ask-and-tell), seed {self.seed}",
            f"budget {self.budget:,} trials in rounds of {self.round_size:,} "
            f"({self.n_rounds:,} rounds, one array job each)",
            f"objective{'s' if len(self.objectives) > 1 else ''}: {objectives}",
        ]


def search_settings(spec: Mapping[str, Any]) -> SearchSettings | None:
    """The settings of a ``mode="tpe"`` spec.json (None for grid and random sweeps);
    ParamError when its search block is damaged."""
    if spec.get("mode") != "tpe":
        return None
    budget, seed = spec.get("n"), spec.get("seed", 0)
    for name, value in (("n (budget)", budget), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParamError(f"spec.json of this search: {name} must be an integer, got {value!r}")
    return SearchSettings(int(budget or 0), int(seed or 0),
                          SearchSpec.from_value(spec.get("search") or {}))  # fmt: skip


def is_search(spec: Mapping[str, Any]) -> bool:
    """True for a TPE search's spec.json."""
    return spec.get("mode") == "tpe"


def without_search_columns(params: Sequence[str], spec: Mapping[str, Any]) -> list[str]:
    """``params`` less the columns collect adds to a search (``round``, ``pareto``) unless the
    space sweeps a parameter of that name."""
    if not is_search(spec):
        return list(params)
    space = spec.get("space") or []
    named = {str(s.get("name")) for s in space if isinstance(s, Mapping)}
    if isinstance(space, Mapping):
        named = {str(k) for k in space}
    return [p for p in params if p not in SEARCH_COLUMNS or p in named]


def running_best(values: np.ndarray, direction: str, usable: np.ndarray) -> np.ndarray:
    """The best value among the trials so far, trial by trial (NaN before the first usable one);
    ``usable`` is False for ruined trials and those without a value.

    >>> running_best(np.array([1.0, 3.0, 2.0, 5.0]), "maximize", np.array([1, 1, 1, 0], bool))
    array([1., 3., 3., 3.])
    """
    sign = 1.0 if direction == "maximize" else -1.0
    keyed = np.where(usable & np.isfinite(values), sign * values, -np.inf)
    best = np.maximum.accumulate(keyed) if len(keyed) else keyed
    return np.where(np.isfinite(best), sign * best, np.nan)


def trials_frame(
    summary: pd.DataFrame, settings: SearchSettings, params: Sequence[str]
) -> pd.DataFrame:
    """One row per trial in trial order: ``trial``, ``round``, the parameters, each objective,
    ``ruined``, ``best_<objective>`` (the running best of each objective alone) and ``pareto``
    when collect marked the front. ``round`` is collect's column, else the layout's
    ``trial // round_size`` (an unfinished search's chunks carry no round)."""
    rows = summary.sort_values("combo_id", kind="stable").reset_index(drop=True)
    trial = pd.to_numeric(rows["combo_id"], errors="coerce").astype("int64")
    out = pd.DataFrame({TRIAL: trial})
    if ROUND in rows.columns:
        out[ROUND] = pd.to_numeric(rows[ROUND], errors="coerce").astype("int64")
    else:
        out[ROUND] = trial // settings.round_size
    for p in params:
        out[p] = rows[p].to_numpy()
    ruined = ruined_mask(rows)
    out[RUINED] = ruined
    for name, direction in zip(settings.objectives, settings.directions, strict=True):
        if name not in rows.columns:
            raise ParamError(f"the search's summary has no column {name!r} (its objective)")
        values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
        out[name] = values
        out[BEST_PREFIX + name] = running_best(values, direction, ~ruined)
    if PARETO in rows.columns and len(settings.objectives) == 2:
        out[PARETO] = rows[PARETO].fillna(False).astype(bool).to_numpy() & ~ruined
    return out


def round_table(
    trials: pd.DataFrame, settings: SearchSettings, block: Mapping[str, Any] | None
) -> pd.DataFrame:
    """Per round of the first objective: trials asked, evaluated so far, ruined, the round's
    best, the best so far after it, and collect's ``best_by_round`` when collected."""
    name, direction = settings.objectives[0], settings.directions[0]
    layout = RoundLayout(settings.budget, settings.round_size, 1)
    collected = list((block or {}).get("best_by_round") or [])
    rows = []
    for r in range(settings.n_rounds):
        span = layout.trials(r)
        part = trials[trials[ROUND] == r]
        usable = part[~part[RUINED]][name].dropna()
        best = (usable.max() if direction == "maximize" else usable.min()) if len(usable) else None
        upto = trials[trials[ROUND] <= r][BEST_PREFIX + name].dropna()
        rows.append({
            "round": r, "trials": f"{span.start:,}–{span.stop - 1:,}",
            "evaluated": len(part), "ruined": int(part[RUINED].sum()),
            f"round's best {name}": best,
            f"best {name} so far": float(upto.iloc[-1]) if len(upto) else None,
            "collect's best after round": _number(collected[r]) if r < len(collected) else None,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def pareto_front(trials: pd.DataFrame, settings: SearchSettings) -> pd.DataFrame | None:
    """The trials collect marked on the front, by the first objective best first (None when the
    search has one objective or its front is not marked yet)."""
    if len(settings.objectives) != 2 or PARETO not in trials.columns:
        return None
    front = trials[trials[PARETO]]
    first = settings.objectives[0]
    ascending = settings.directions[0] == "minimize"
    return front.sort_values(first, ascending=ascending, kind="stable").head(MAX_FRONT_ROWS)


def counted_line(robustness: Mapping[str, Any] | None, n_trials: int) -> str:
    """What the Robustness tab's statistics count for a search: every trial tried."""
    counted = (robustness or {}).get("n_trials")
    said = f"{int(counted):,}" if isinstance(counted, int | float) else "?"
    return (
        f"This is a TPE search: the statistics count every trial it tried ({said} trials "
        f"counted; {n_trials:,} in the summary), not only the best rounds, so the deflated "
        "Sharpe is penalised for the whole search."
    )


def progress_line(ctx: Any, view: Any) -> str:
    """An unfinished search's rounds and state now, as the Jobs page says them
    (jobs.search_jobs.search_progress with the executor); '' when it cannot be read."""
    from app.jobs_service import search_text
    from engine.errors import BacktestError
    from jobs.search_progress import search_progress

    bucket = str((view.spec.get("base") or {}).get("result_bucket") or ctx.settings.result_bucket)
    try:
        p = search_progress(ctx.store, bucket, view.sweep_id, ctx.executor)
    except BacktestError:
        return ""
    return f"{search_text(p)}: {p.message}"


# -- links that reopen New run with a search's settings ----------------------------------------

SEARCH_QUERY = "search"  # New run's URL parameter: {"n", "seed", "round_size", "objectives"}


def search_query(spec: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"search": JSON}`` carrying a TPE spec's budget, seed, round size and objectives for
    New run (views/_search_form.py reads it); {} for other sweeps and damaged settings."""
    try:
        settings = search_settings(spec or {})
    except ParamError:
        return {}
    if settings is None:
        return {}
    value = {"n": settings.budget, "seed": settings.seed, "round_size": settings.round_size,
             "objectives": list(settings.objectives)}  # fmt: skip
    return {SEARCH_QUERY: json.dumps(value)}


def parse_search_query(text: str) -> dict[str, Any]:
    """The settings of a ``search=`` link as New run's fields (text, as typed) and objective
    labels; ParamError (one line) for a damaged one."""
    try:
        value = json.loads(text)
        fields = {"budget": value["n"], "seed": value["seed"], "round": value["round_size"]}
        labels = [objective_label(str(o)) for o in value["objectives"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ParamError(f"the link's search settings are damaged ({exc}); enter them") from None
    return {**{k: str(v) for k, v in fields.items()}, "objectives": labels}


# -- New run: what a search will submit --------------------------------------------------------


@dataclass(frozen=True)
class SearchEstimate:
    """What New run shows before a search is submitted."""

    budget: int
    n_rounds: int
    round_size: int
    chunk_size: int  # trials per child (divides the round size)
    first_children: int  # array size of every round but maybe the last
    last_children: int
    n_children: int  # over all rounds
    compute_seconds: float
    fargate_usd: float | None
    budget_requested: int = 0  # what was typed; more than ``budget`` when the space is smaller

    def budget_note(self) -> str:
        """Why fewer trials than asked will run ('' when the budget stands)."""
        if self.budget_requested <= self.budget:
            return ""
        return (
            f"asked {self.budget_requested:,}; the space has only {self.budget:,} valid "
            "combinations, so the search tries each once"
        )

    def rounds_text(self) -> str:
        """'7 rounds x 4 children (last round 1) = 25 children of 8 trials'.

        >>> SearchEstimate(40, 3, 16, 8, 2, 1, 5, 1.0, None).rounds_text()
        '3 rounds x 2 children (last round 1) = 5 children of 8 trials'
        """
        last = "" if self.last_children == self.first_children else (
            f" (last round {self.last_children:,})"
        )  # fmt: skip
        return (
            f"{self.n_rounds:,} round{'s' if self.n_rounds != 1 else ''} x "
            f"{_children(self.first_children)}{last} = {_children(self.n_children)} of "
            f"{self.chunk_size:,} trial{'s' if self.chunk_size != 1 else ''}"
        )


def _children(n: int) -> str:
    return f"{n:,} {'child' if n == 1 else 'children'}"


def search_layout(spec: SweepSpec, bars: Sequence[int]) -> RoundLayout:
    """The chunk layout a search is submitted with: the plan's chunk size for one round of
    ``round_size`` trials, cut down to a divisor of the round size (the contract of
    engine.sweep.search_rounds)."""
    search = spec.search or SearchSpec()
    budget = int(spec.n or 0)
    if budget < 1:
        raise ParamError("a TPE search needs a budget of at least 1 trial")
    one_round = plan(spec, bars, n_combinations=min(budget, search.round_size))
    chunk = round_chunk_size(search.round_size, one_round.chunks.chunk_size)
    return RoundLayout(budget, search.round_size, chunk)


def estimate_search(
    spec: SweepSpec,
    bars: Sequence[int],
    pricing: Any = None,
    *,
    valid: int | None = None,
    cost_s: float | None = None,
) -> SearchEstimate:
    """Rounds, array sizes and compute time of a search (``pricing``: a FargatePricing on
    the aws backend, else None). ``valid``: the space's valid combinations when counted (the
    submit cuts a larger budget to it, jobs.search_jobs.prepare_search)."""
    from app.submit_service import fargate_cost

    requested = int(spec.n or 0)
    if valid is not None and 0 < valid < requested:
        spec = replace(spec, n=valid)
    layout = search_layout(spec, bars)
    compute = plan(spec, bars, n_combinations=layout.budget, cost_s=cost_s).compute_seconds
    usd = None
    if pricing is not None:
        usd = fargate_cost(compute, layout.n_children, pricing.vcpu_hour, pricing.gb_hour)
    return SearchEstimate(
        layout.budget,
        layout.n_rounds,
        layout.round_size,
        layout.chunk_size,
        layout.children(0),
        layout.children(layout.n_rounds - 1),
        layout.n_children,
        compute,
        usd,
        requested,
    )


def describe_sent(record: Mapping[str, Any]) -> list[str]:
    """The search lines of a submitted spec.json (read back after submit)."""
    settings = search_settings(record)
    return [] if settings is None else settings.lines()


__all__ = [
    "SearchEstimate",
    "SearchSettings",
    "estimate_search",
    "objective_choices",
    "objective_label",
    "pareto_front",
    "round_table",
    "running_best",
    "search_layout",
    "search_settings",
    "trials_frame",
]
