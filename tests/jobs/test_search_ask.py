"""The TPE driver (jobs/search.py): distributions from the space, deterministic asks, the rules
and repeats told back, the seeded fill when the space runs out, and what ruined trials tell."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from engine.spec import RunSpec
from engine.sweep.spec import SweepSpec
from jobs.search import Told, ask_round, distributions, round_seed, space_stats, told_trials


def tpe(space: dict[str, Any], n: int = 40, seed: int = 0, **search: Any) -> SweepSpec:
    base = RunSpec("input", "prices.csv", "results", "sma_cross")
    search = {"round_size": 8, **search}
    return SweepSpec("s", base, space, mode="tpe", n=n, seed=seed, search=search).validate()


def score(params: dict[str, Any]) -> float:
    """A made-up objective with its best at fast=8, slow=60."""
    return -((params["fast"] - 8) ** 2) - ((params["slow"] - 60) / 10) ** 2


def told(trials: list[Any]) -> list[Told]:
    return [Told(t.number, dict(t.params), (score(t.params),)) for t in trials]


SPACE = {"fast": "2:40:1", "slow": "10:200:5"}


def test_distributions_follow_the_validated_space() -> None:
    spec = tpe({"fast": "5:50:5", "slow": "20:100:20"})
    assert distributions(spec) == {
        "fast": IntDistribution(5, 50, step=5),
        "slow": IntDistribution(20, 100, step=20),
    }
    base = RunSpec("input", "prices.csv", "results", "bollinger_reversion")
    spec = SweepSpec(
        "b", base, {"k": "1.0:2.5:0.5", "window": "10,20,30"}, mode="tpe", n=8
    ).validate()
    dists = distributions(spec)
    assert dists["k"] == FloatDistribution(1.0, 2.5, step=0.5)
    assert dists["window"] == CategoricalDistribution([10, 20, 30])


def test_float_steps_are_asked_on_the_ranges_decimal_grid() -> None:
    base = RunSpec("input", "prices.csv", "results", "bollinger_reversion")
    spec = SweepSpec("b", base, {"k": "0.1:0.9:0.1"}, mode="tpe", n=9, search={"round_size": 9})
    asked = ask_round(spec.validate(), 0, range(9), [])
    values = sorted(t.params["k"] for t in asked.trials)
    assert values == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]  # exact, every one once


def test_the_same_spec_seed_and_history_ask_the_same_trials() -> None:
    spec = tpe(SPACE, seed=7)
    first = ask_round(spec, 0, range(8), [])
    assert first.trials == ask_round(spec, 0, range(8), []).trials
    second = ask_round(spec, 1, range(8, 16), told(first.trials))
    assert second.trials == ask_round(spec, 1, range(8, 16), told(first.trials)).trials
    assert [t.number for t in second.trials] == list(range(8, 16))
    other = ask_round(tpe(SPACE, seed=8), 0, range(8), [])
    assert other.trials != first.trials
    assert round_seed(7, 1) != round_seed(7, 2) != round_seed(8, 1)


def test_asked_trials_keep_the_rules_and_are_never_spent_twice() -> None:
    spec = tpe({"fast": "2:30:1", "slow": "5:40:1"}, n=200, round_size=40)
    history: list[Told] = []
    for r in range(4):
        asked = ask_round(spec, r, range(40 * r, 40 * (r + 1)), history)
        for t in asked.trials:
            assert t.params["fast"] < t.params["slow"]  # sma_cross's rule
            assert 2 <= t.params["fast"] <= 30 and 5 <= t.params["slow"] <= 40
        keys = [(t.params["fast"], t.params["slow"]) for t in asked.trials]
        seen = {(h.params["fast"], h.params["slow"]) for h in history}
        assert len(set(keys)) == len(keys) and not set(keys) & seen
        history += told(asked.trials)
    assert asked.rejected + asked.repeats > 0  # TPE did propose repeats or broken rules


def test_a_nearly_spent_space_is_filled_with_what_is_left_then_runs_out() -> None:
    spec = tpe({"fast": "2:6:1", "slow": "4:8:1"}, n=19, round_size=8)
    valid, warmup = space_stats(spec)
    assert (valid, warmup) == (19, 7)  # 25 points, fast < slow keeps 19; SMA(8) needs 7 bars
    every = [(f, s) for f in range(2, 7) for s in range(4, 9) if f < s]
    history = [Told(i, {"fast": f, "slow": s}, (float(i),)) for i, (f, s) in enumerate(every)]
    asked = ask_round(spec, 2, range(16, 19), history[:16])
    left = {(t.params["fast"], t.params["slow"]) for t in asked.trials}
    assert left == set(every[16:]) and not asked.exhausted
    none_left = ask_round(spec, 2, range(16, 19), history)
    assert none_left.trials == [] and none_left.exhausted


def trials_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "combo_id", np.arange(len(frame), dtype=np.int64))
    return frame


def test_ruined_and_undefined_objectives_are_told_the_worst_value_seen() -> None:
    spec = tpe(SPACE, objectives=["sharpe", "max_drawdown"])
    frame = trials_frame(
        [
            {"fast": 5, "slow": 50, "sharpe": 1.5, "max_drawdown": 0.2, "ruined": False},
            {"fast": 6, "slow": 50, "sharpe": -0.5, "max_drawdown": 0.6, "ruined": False},
            {"fast": 7, "slow": 50, "sharpe": 3.0, "max_drawdown": 0.1, "ruined": True},
            {"fast": 8, "slow": 50, "sharpe": math.nan, "max_drawdown": 0.3, "ruined": False},
        ]
    )
    out = told_trials(spec, frame)
    assert [t.values for t in out] == [(1.5, 0.2), (-0.5, 0.6), (-0.5, 0.6), (-0.5, 0.3)]
    assert out[3].params == {"fast": 8, "slow": 50}


def test_nothing_finite_yet_is_told_failed() -> None:
    spec = tpe(SPACE)
    frame = trials_frame([{"fast": 5, "slow": 50, "sharpe": math.nan, "ruined": False}])
    assert told_trials(spec, frame)[0].values is None
    asked = ask_round(spec, 1, range(8, 16), told_trials(spec, frame))
    assert len(asked.trials) == 8


@pytest.mark.parametrize("objective", ["sharpe", "max_drawdown"])
def test_tpe_moves_towards_better_values(objective: str) -> None:
    """After rounds told, the asks sit closer to the best than the first random round."""
    spec = tpe({"fast": "2:40:1", "slow": "10:200:1"}, n=96, round_size=16, objectives=[objective])
    sign = 1.0 if objective == "sharpe" else -1.0
    history: list[Told] = []
    rounds = []
    for r in range(6):
        asked = ask_round(spec, r, range(16 * r, 16 * (r + 1)), history)
        rounds.append(np.mean([score(t.params) for t in asked.trials]))
        history += [Told(t.number, t.params, (sign * score(t.params),)) for t in asked.trials]
    assert np.mean(rounds[-2:]) > rounds[0]


def test_asks_that_cannot_run_push_the_sampler_away_instead_of_repeating() -> None:
    # Two objectives after 1,000 told trials: TPE concentrates on the front, whose points are
    # evaluated already. Told FAILED, such asks were ignored and proposed again (~1,900 wasted
    # asks for a round of 100, then the seeded fill); told infeasible, the sampler moves on.
    spec = tpe({"fast": "2:100:1", "slow": "10:400:2"}, n=5000, seed=1, round_size=100,
               objectives=["sharpe", "max_drawdown"])  # fmt: skip
    rng = np.random.default_rng(7)
    history: list[Told] = []
    seen: set[tuple[int, int]] = set()
    while len(history) < 1000:
        fast, slow = int(rng.integers(2, 101)), int(rng.integers(5, 201)) * 2
        if fast < slow and (fast, slow) not in seen:
            seen.add((fast, slow))
            values = (float(rng.normal()), float(rng.normal()))
            history.append(Told(len(history), {"fast": fast, "slow": slow}, values))
    asked = ask_round(spec, 10, range(1000, 1100), history)
    assert len(asked.trials) == 100 and asked.filled == 0  # every trial chosen by TPE
    assert asked.repeats + asked.rejected < 100
    keys = {(t.params["fast"], t.params["slow"]) for t in asked.trials}
    assert len(keys) == 100 and not keys & seen  # nothing spent twice
