"""The built-ins are files of the strategy contract (issue 12: one path, not two): each
engine/sim/builtin/<name>.py is read by the same contract reader, and the same source stored as
a team's file (renamed) validates and gives the same targets."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from engine.sim import contract as ct
from engine.sim.strategies import STRATEGIES, Bars
from engine.sim.synthetic import random_walk
from engine.userstrat import validate_source
from engine.userstrat.loader import load_source

BUILTIN = Path(__file__).resolve().parents[2] / "engine" / "sim" / "builtin"
SMALL = {
    "sma_cross": {"fast": 3, "slow": 8},
    "ema_cross": {"fast": 3, "slow": 8},
    "rsi_reversion": {"period": 3, "lower": 40, "upper": 60},
    "bollinger_reversion": {"window": 5, "k": 1.0},
    "donchian_breakout": {"entry": 5, "exit": 3},
    "momentum": {"lookback": 4, "threshold": 0.01},
    "buy_and_hold": {},
}


def test_every_built_in_is_a_contract_module() -> None:
    assert sorted(p.stem for p in BUILTIN.glob("*.py") if not p.stem.startswith("_")) == sorted(
        STRATEGIES
    )
    for name, strategy in STRATEGIES.items():
        module = importlib.import_module(f"engine.sim.builtin.{name}")
        got_name, description, params, constraints, _ = ct.read_module(
            module, f"{name}.py", frozenset()
        )
        assert (got_name, description, params) == (name, strategy.description, strategy.params)
        assert [c.message for c in constraints] == [c.message for c in strategy.constraints]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_modules_signal_is_the_registrys_target(name: str) -> None:
    bars = Bars.from_frame(random_walk(700, seed=4))
    strategy = STRATEGIES[name]
    p = strategy.validate(SMALL[name])
    module = importlib.import_module(f"engine.sim.builtin.{name}")
    want = strategy.signal(bars, p)
    np.testing.assert_array_equal(module.signal(bars, p), want)
    np.testing.assert_array_equal(strategy.signal(bars, p, {}), want)  # the sweep path


@pytest.mark.parametrize("name", ["sma_cross", "donchian_breakout", "rsi_reversion"])
def test_a_built_ins_file_renamed_is_a_valid_team_file_with_the_same_targets(name: str) -> None:
    text = (BUILTIN / f"{name}.py").read_text()
    text = text.replace(f'NAME = "{name}"', f'NAME = "team_{name}"')
    info = validate_source(text, f"team_{name}.py")
    assert info.params == STRATEGIES[name].params
    team = load_source(text, f"team_{name}.py")
    bars = Bars.from_frame(random_walk(900, seed=9))
    p = STRATEGIES[name].validate(SMALL[name])
    np.testing.assert_array_equal(team.signal(bars, p), STRATEGIES[name].signal(bars, p))
