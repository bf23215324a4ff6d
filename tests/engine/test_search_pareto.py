"""pareto_front against a brute-force definition (property test), and its refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ParamError
from engine.sweep.pareto import pareto_front


def brute_force(rows: list[list[float]], directions: list[str], eligible: list[bool]) -> list[bool]:
    """On the front: eligible, no NaN, and no other such row at least as good everywhere and
    strictly better somewhere (the definition, pair by pair)."""

    def better_or_equal(x: float, y: float, d: str) -> bool:
        return x >= y if d == "maximize" else x <= y

    def strictly(x: float, y: float, d: str) -> bool:
        return x > y if d == "maximize" else x < y

    ok = [e and not any(math.isnan(v) for v in r) for r, e in zip(rows, eligible, strict=True)]
    out = []
    for i, p in enumerate(rows):
        dominated = any(
            ok[j]
            and all(better_or_equal(q[k], p[k], d) for k, d in enumerate(directions))
            and any(strictly(q[k], p[k], d) for k, d in enumerate(directions))
            for j, q in enumerate(rows)
        )
        out.append(ok[i] and not dominated)
    return out


# few distinct values so ties and duplicates are common; NaN now and then
value = st.one_of(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]), st.just(math.nan), st.floats(-3, 3))


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(1, 3),
    data=st.data(),
)
def test_pareto_front_equals_the_brute_force_definition(k: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 40))
    rows = data.draw(st.lists(st.lists(value, min_size=k, max_size=k), min_size=n, max_size=n))
    directions = data.draw(
        st.lists(st.sampled_from(["maximize", "minimize"]), min_size=k, max_size=k)
    )
    eligible = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    values = np.array(rows, dtype=np.float64).reshape(n, k)
    got = pareto_front(values, directions, np.array(eligible, dtype=bool)).tolist()
    assert got == brute_force(rows, directions, eligible)


def test_a_larger_random_two_objective_cloud_matches_too() -> None:
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=(600, 2)), 1)  # rounded: many ties
    eligible = rng.random(600) > 0.1
    got = pareto_front(values, ["maximize", "minimize"], eligible)
    assert got.tolist() == brute_force(values.tolist(), ["maximize", "minimize"], eligible.tolist())
    assert 0 < got.sum() < 600


def test_identical_trials_are_both_on_the_front() -> None:
    values = np.array([[1.0, 0.2], [1.0, 0.2], [0.5, 0.3]])
    assert pareto_front(values, ["maximize", "minimize"]).tolist() == [True, True, False]


def test_shape_and_direction_mismatches_are_refused() -> None:
    with pytest.raises(ParamError, match="one direction per column"):
        pareto_front(np.zeros((3, 2)), ["maximize"])
    with pytest.raises(ParamError, match="unknown direction"):
        pareto_front(np.zeros((3, 1)), ["up"])
    with pytest.raises(ParamError, match="eligible has shape"):
        pareto_front(np.zeros((3, 1)), ["maximize"], np.ones(2, dtype=bool))


@pytest.mark.parametrize(
    "module",
    [
        "engine.sweep.pareto",
        "engine.sweep.search_rounds",
        "engine.sweep.search_results",
        "engine.sweep.search_space",
        "engine.sweep.search_spec",
    ],
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted >= 1
