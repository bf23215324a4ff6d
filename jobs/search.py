"""The TPE search's ask-and-tell driver: optuna, rebuilt from the stored trials at every step.

A ``mode="tpe"`` sweep (:mod:`engine.sweep.search_spec`) asks its trials one round at a time.
Nothing about the search lives outside the result bucket: each step builds a fresh optuna study,
adds every trial evaluated so far (``optuna.trial.create_trial`` + ``study.add_trials``, in trial
order) and asks the next round with a sampler whose seed is derived from the sweep's seed and the
round (:func:`round_seed`). The same spec, seed and results therefore give the same trials, on any
machine, however often a step is rerun.

The space comes from the validated :class:`~engine.sweep.spec.ParamSpace` per swept parameter
(:func:`distributions`): an int range is an ``IntDistribution`` with its step, a float range a
``FloatDistribution`` with its step (asked values are snapped back onto the range's decimal grid,
so ``0.1:0.3:0.1`` asks exactly 0.1, 0.2 or 0.3), a list a ``CategoricalDistribution``.

What is told (:func:`ask_round`):

- an asked combination that breaks one of the strategy's rules (``fast < slow``), one that was
  evaluated already and one asked already in this round are told *infeasible* (optuna's
  constraint) and asked again, so no combination is spent twice and TPE moves away from them
  (told FAILED it would ignore them and propose the same points again);
- after ``ASK_ATTEMPTS_PER_TRIAL`` tries per missing trial, the round is filled from the
  space's unused valid combinations in a seeded random order (TPE concentrates on the best
  region and can keep proposing repeats there); only when none is left is the round short;
- a trial whose run was ruined, or whose objective is not a finite number (no trades: no
  Sharpe), is told the worst finite value seen so far for that objective (FAILED while none has
  been seen): TPE learns to stay away from it, and the robustness statistics still count it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ParamError
from engine.sweep.search_rounds import Trial
from engine.sweep.spec import COMBO_ID, ParamSpace, SweepSpec, combinations, grid_size

ASK_ATTEMPTS_PER_TRIAL = 20  # optuna asks per trial still missing before the seeded fill
FILL_LIMIT = 1_000_000  # combinations the seeded fill looks at, at most
COUNT_LIMIT = 200_000  # grids up to this size are counted exactly at submit
Key = tuple[Any, ...]


def round_seed(seed: int, r: int) -> int:
    """The sampler's seed for round ``r`` of a search seeded ``seed`` (32 bits, stable).

    >>> round_seed(0, 1) == round_seed(0, 1) != round_seed(0, 2)
    True
    """
    return int(np.random.SeedSequence([int(seed), int(r)]).generate_state(1)[0])


def distribution(space: ParamSpace) -> Any:
    """The optuna distribution of one validated ParamSpace (see the module docstring)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if not space.is_range:
        return CategoricalDistribution(list(space.values))
    last = space.value_at(space.size() - 1)
    if isinstance(space.start, int) and isinstance(space.step, int):
        return IntDistribution(int(space.start), int(last), step=int(space.step))
    return FloatDistribution(float(space.start or 0), float(last), step=float(space.step or 0))


def distributions(spec: SweepSpec) -> dict[str, Any]:
    """Swept parameter -> optuna distribution, in the space's order (``spec`` validated)."""
    return {name: distribution(sp) for name, sp in spec.space.items()}


def snap(space: ParamSpace, value: Any) -> Any:
    """``value`` as the ParamSpace's own value (a float range's decimal grid point)."""
    if not space.is_range:
        return value
    if isinstance(space.start, int) and isinstance(space.step, int):
        return int(value)
    step = Decimal(repr(float(space.step or 0)))
    i = int(((Decimal(repr(float(value))) - Decimal(repr(float(space.start or 0)))) / step)
            .to_integral_value())  # fmt: skip
    return space.value_at(max(0, min(space.size() - 1, i)))


def combo_key(spec: SweepSpec, params: Mapping[str, Any]) -> Key:
    """A combination's identity: its swept values in the space's order."""
    return tuple(params[name] for name in spec.space)


class Rules:
    """The strategy's rules (``CONSTRAINTS``) over the full parameters of a combination."""

    def __init__(self, spec: SweepSpec) -> None:
        from engine.sim.strategies import get_strategy

        strategy = get_strategy(spec.base.strategy)
        self.full = {**strategy.defaults(), **spec.base.params}
        self.checks = [c.check for c in strategy.constraints]

    def ok(self, params: Mapping[str, Any]) -> bool:
        full = {**self.full, **params}
        return all(check(full) for check in self.checks)


# --- what is told ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Told:
    """One evaluated trial as optuna is told it: its swept values and values (None: FAILED)."""

    number: int
    params: dict[str, Any]
    values: tuple[float, ...] | None


def told_trials(spec: SweepSpec, trials: pd.DataFrame) -> list[Told]:
    """read_trials' table as told to optuna, by trial number (rules in the module docstring)."""
    search = spec.search
    if search is None:
        raise ParamError(f"sweep {spec.sweep_id} is not a TPE search")
    frame = trials.sort_values(COMBO_ID)
    ruined = (
        frame["ruined"].fillna(False).astype(bool).to_numpy()
        if "ruined" in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )
    columns = []
    for name, direction in zip(search.objectives, search.directions, strict=True):
        if name not in frame.columns:
            raise ParamError(f"sweep {spec.sweep_id}: the trials have no {name!r} column")
        col = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        bad = ruined | ~np.isfinite(col)
        good = col[~bad]
        worst = None
        if good.size:
            worst = float(good.min() if direction == "maximize" else good.max())
        columns.append((col, bad, worst))
    out = []
    for i, number in enumerate(frame[COMBO_ID].to_numpy(dtype=np.int64)):
        values: list[float] = []
        for col, bad, worst in columns:
            if bad[i] and worst is None:
                break
            values.append(worst if bad[i] else float(col[i]))  # type: ignore[arg-type]
        params = {name: _plain(frame[name].iloc[i]) for name in spec.space}
        told = tuple(values) if len(values) == len(columns) else None
        out.append(Told(int(number), params, told))
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- asking ----------------------------------------------------------------------------------


@contextmanager
def _quiet() -> Iterator[None]:
    """optuna's per-trial INFO lines and experimental warnings off, restored afterwards."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _study(spec: SweepSpec, r: int, history: Sequence[Told]) -> Any:
    import optuna
    from optuna.trial import TrialState, create_trial

    search = spec.search
    if search is None:
        raise ParamError(f"sweep {spec.sweep_id} is not a TPE search")
    sampler = optuna.samplers.TPESampler(seed=round_seed(spec.seed, r))
    directions: list[Any] = list(search.directions)
    study = optuna.create_study(directions=directions, sampler=sampler)
    dists = distributions(spec)
    frozen = []
    for t in history:
        params = {name: t.params[name] for name in dists}
        if t.values is None:
            frozen.append(create_trial(state=TrialState.FAIL, params=params, distributions=dists))
        else:
            frozen.append(create_trial(values=list(t.values), params=params, distributions=dists))
    study.add_trials(frozen)
    return study


def _tell_infeasible(study: Any, trial: Any, why: str) -> None:
    """Tell an ask that will not run (a broken rule, a combination evaluated already or asked
    in this round) as infeasible: optuna's TPE puts infeasible trials in its "bad" group, so it
    moves away from them. Told FAILED they would be ignored and asked again and again (a
    two-objective search after 1,000 trials spent ~1,900 asks on repeats per round of 100)."""
    trial.set_constraint(why, 1.0)
    study.tell(trial, [0.0] * len(study.directions))  # values of an infeasible trial are unused


@dataclass(frozen=True)
class Asked:
    """A round as asked: its trials, how many came from the seeded fill, and asks told back."""

    trials: list[Trial]
    filled: int  # trials taken from the seeded fill (optuna kept proposing repeats)
    rejected: int  # asks told infeasible: a broken rule or a repeat within the round
    repeats: int  # asks of combinations evaluated already (told infeasible)
    wanted: int  # trials the round has room for

    @property
    def exhausted(self) -> bool:
        """True when the round is short: no unused valid combination was left."""
        return len(self.trials) < self.wanted


def ask_round(spec: SweepSpec, r: int, numbers: range, history: Sequence[Told]) -> Asked:
    """Ask round ``r``: one trial per number in ``numbers`` (short only when the space has no
    unused valid combination left). ``history``: every trial evaluated in rounds ``0..r-1``."""
    spec_space = spec.space
    rules = Rules(spec)
    known = {combo_key(spec, t.params): t.values for t in history}
    fixed = dict(spec.base.params)
    asked: list[Trial] = []
    taken: set[Key] = set()
    rejected = repeats = 0
    attempts = ASK_ATTEMPTS_PER_TRIAL * len(numbers) + 10
    with _quiet():
        study = _study(spec, r, history)
        dists = distributions(spec)
        while len(asked) < len(numbers) and attempts > 0:
            attempts -= 1
            trial = study.ask(dists)
            params = {name: snap(spec_space[name], trial.params[name]) for name in dists}
            key = combo_key(spec, params)
            if key in known:
                repeats += 1
                _tell_infeasible(study, trial, "repeat")
                continue
            if key in taken or not rules.ok(params):
                rejected += 1
                _tell_infeasible(study, trial, "repeat" if key in taken else "rule")
                continue
            taken.add(key)
            asked.append(Trial(numbers[len(asked)], {**fixed, **params}))
    filled = 0
    if len(asked) < len(numbers):
        for params in _fill(spec, r, set(known) | taken, len(numbers) - len(asked)):
            asked.append(Trial(numbers[len(asked)], params))
            filled += 1
    return Asked(asked, filled, rejected, repeats, len(numbers))


def _fill(spec: SweepSpec, r: int, used: set[Key], wanted: int) -> Iterator[dict[str, Any]]:
    """Up to ``wanted`` valid combinations not in ``used``, in a seeded random order."""
    size = min(grid_size(spec), FILL_LIMIT)
    drawn = replace(spec, mode="random", n=size, seed=round_seed(spec.seed, r) % 2**31, search=None)
    found = 0
    for params in combinations(drawn):
        key = combo_key(spec, params)
        if key in used:
            continue
        used.add(key)
        yield params
        found += 1
        if found >= wanted:
            return


def search_space(spec: SweepSpec) -> tuple[int | None, int]:
    """:func:`space_stats`, refused in one line (naming the rule) when no combination is valid.

    Run where the strategy's rules may run: in this process for a built-in, in the sandbox
    (:func:`jobs.stored_sweep.check_search`) for a stored strategy file."""
    valid, warmup = space_stats(spec)
    if valid == 0:
        from engine.sweep.spec import expansion_stats

        expansion_stats(replace(spec, mode="grid", n=None, search=None))  # names the rule
        raise ParamError("the search space has no valid combination")
    return valid, warmup


def space_stats(spec: SweepSpec, limit: int = COUNT_LIMIT) -> tuple[int | None, int]:
    """(valid combinations, largest warm-up) of a validated spec's space.

    A grid of at most ``limit`` points is walked exactly; a larger one is not counted (None)
    and its warm-up is taken over its corners (:func:`engine.sweep.search_space.corner_warmup`).
    """
    from engine.sim.strategies import get_strategy
    from engine.sweep.search_space import corner_warmup

    if grid_size(spec) > limit:
        return None, corner_warmup(spec)
    strategy = get_strategy(spec.base.strategy)
    full = Rules(spec).full
    count = warmup = 0
    for params in combinations(replace(spec, mode="grid", n=None, search=None)):
        count += 1
        warmup = max(warmup, int(strategy.warmup_fn({**full, **params})))
    return count, warmup


__all__ = [
    "Asked",
    "Told",
    "ask_round",
    "distributions",
    "round_seed",
    "search_space",
    "space_stats",
    "told_trials",
]
