"""SweepSpec mode tpe: what validate refuses, and that the space is never expanded for it."""

from __future__ import annotations

import json

import pytest

from engine.errors import ParamError
from engine.spec import RunSpec
from engine.sweep.plan import plan
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import (
    ExpansionStats,
    SweepSpec,
    combinations,
    count_combinations,
    expansion_stats,
)
from engine.sweep.wf_windows import WalkForwardSpec


def tpe(**changes) -> SweepSpec:
    base = RunSpec("in", "a.csv", "out", "sma_cross")
    values = {
        "sweep_id": "s1",
        "base": base,
        "space": {"fast": "2:30:1", "slow": "20:200:1"},
        "mode": "tpe",
        "n": 50,
        "seed": 3,
        "search": SearchSpec(round_size=10, objectives=("sharpe", "max_drawdown")),
    }
    values.update(changes)
    return SweepSpec(**values)


def test_a_tpe_spec_validates_and_round_trips() -> None:
    spec = tpe().validate()
    back = SweepSpec.from_json(spec.to_json()).validate()
    assert back == spec
    assert json.loads(spec.to_json())["search"] == {
        "round_size": 10,
        "objectives": ["sharpe", "max_drawdown"],
    }
    assert tpe(search=None).validate().search == SearchSpec()  # the default settings


def test_walk_forward_with_tpe_is_refused_with_what_to_do() -> None:
    wf = WalkForwardSpec.from_value({"in_sample": 200, "out_of_sample": 50})
    with pytest.raises(ParamError, match="TPE search cannot be walk-forward: run") as info:
        tpe(walk_forward=wf).validate()
    assert "\n" not in str(info.value)


def test_extra_input_files_with_tpe_are_refused() -> None:
    with pytest.raises(ParamError, match="one input file, got 3: search each file on its own"):
        tpe(extra_keys=("b.csv", "c.csv")).validate()


def test_a_budget_above_the_space_is_left_to_the_submit() -> None:
    small = {"fast": "2:5:1", "slow": "20:21:1"}  # 8 combinations
    assert tpe(space=small, n=9).validate().n == 9  # jobs/search_jobs.py cuts it, recorded


def test_a_tpe_spec_never_expands_its_space() -> None:
    spec = tpe(space={"fast": "2:3000:1", "slow": "20:10000:1"}, n=40)  # ~3e7 grid points
    assert expansion_stats(spec) == ExpansionStats(40, 40, 0)
    assert count_combinations(spec) == 40
    assert plan(spec, [1000]).n_combinations == 40
    with pytest.raises(ParamError, match="trials come from its round files"):
        next(combinations(spec, 0, 5))


def test_search_settings_on_a_grid_sweep_are_refused() -> None:
    with pytest.raises(ParamError, match="apply to mode tpe only"):
        tpe(mode="grid").validate()


def test_corner_warmup_equals_the_largest_warmup_of_the_whole_grid() -> None:
    from engine.sim.strategies import get_strategy
    from engine.sweep.search_space import corner_warmup

    space = {"fast": "3:17:2", "slow": "12:41:3"}
    grid = tpe(space=space, mode="grid", n=None, search=None)
    strategy = get_strategy("sma_cross")
    want = max(strategy.warmup(p) for p in combinations(grid))
    assert corner_warmup(tpe(space=space, n=20)) == want
    with pytest.raises(ParamError, match=r"no corner of the search space is valid: .*fast"):
        corner_warmup(tpe(space={"fast": "50:60:1", "slow": "20:30:1"}, n=5))
