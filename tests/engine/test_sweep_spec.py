"""SweepSpec parsing, validation, expansion (engine/sweep/spec.py) and chunking (sweep_plan)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ParamError
from engine.spec import RunSpec
from engine.sweep.plan import ChunkPlan, chunk_indices, plan_chunks, tasks_by_file
from engine.sweep.robustness import SplitSpec
from engine.sweep.spec import (
    COMBO_ID,
    ParamSpace,
    SweepSpec,
    combinations,
    combinations_frame,
    count_combinations,
    expansion_stats,
    grid_size,
)

BASE = RunSpec("prices", "AAPL.csv", "results")


def sma_spec(**kw) -> SweepSpec:
    space = {"fast": ParamSpace.parse("5:50:5"), "slow": ParamSpace.parse("20:200:20")}
    return SweepSpec("sw-1", kw.pop("base", BASE), kw.pop("space", space), **kw)


# --- ParamSpace ----------------------------------------------------------------------------------


def test_inclusive_int_range():
    sp = ParamSpace.parse("5:50:5")
    assert sp.expand() == (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
    assert sp.size() == 10
    assert ParamSpace.parse("5:52:5").expand()[-1] == 50  # stop not on the grid: last <= stop
    assert ParamSpace.parse("7:7:1").expand() == (7,)


def test_float_range_has_no_accumulated_error():
    assert ParamSpace.parse("0.1:0.3:0.1").expand() == (0.1, 0.2, 0.3)
    assert ParamSpace.parse("0.05:0.25:0.05").expand() == (0.05, 0.1, 0.15, 0.2, 0.25)
    assert ParamSpace.parse("1:2:0.25").expand() == (1.0, 1.25, 1.5, 1.75, 2.0)
    big = ParamSpace.parse("0:100:0.1")
    assert big.size() == 1001 and big.expand()[-1] == 100.0 and big.expand()[37] == 3.7


def test_list_is_kept_as_tokens_until_typed():
    assert ParamSpace.parse(" 5, 10 ,20").values == ("5", "10", "20")
    assert ParamSpace.parse("12").values == ("12",)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("5:50", "start:stop:step"),
        ("5:50:0", "step must be > 0"),
        ("5:50:-5", "step must be > 0"),
        ("50:5:5", "below start"),
        ("5:x:1", "not a number"),
        ("1:inf:1", "finite"),
        ("", "empty"),
        ("1,,2", "empty item"),
        ("__import__('os').getcwd():9:1", "not a number"),
    ],
)
def test_bad_ranges_name_the_parameter(text, match):
    with pytest.raises(ParamError, match=match) as err:
        ParamSpace.parse(text, "fast")
    assert "fast" in str(err.value)


def test_from_value_accepts_python_values():
    assert ParamSpace.from_value(range(5, 20, 5)).values == (5, 10, 15)  # Python range: exclusive
    assert ParamSpace.from_value([1, 2]).values == (1, 2)
    assert ParamSpace.from_value({"start": 1, "stop": 3, "step": 1}).expand() == (1, 2, 3)
    assert ParamSpace.from_value(7).values == (7,)


# --- validation ----------------------------------------------------------------------------------


def test_validate_types_values_against_the_schema():
    spec = sma_spec(space={"fast": ParamSpace.parse("5,10"), "slow": ParamSpace.parse("50")})
    checked = spec.validate()
    assert checked.space["fast"].values == (5, 10)
    assert checked.space["slow"].values == (50,)
    assert checked.validate() == checked  # idempotent


def test_unknown_parameter_is_named():
    spec = sma_spec(space={"fsat": ParamSpace.parse("5:10:1")})
    with pytest.raises(ParamError, match="fsat"):
        spec.validate()


def test_unknown_strategy_lists_known_ones():
    with pytest.raises(ParamError, match="sma_cross"):
        sma_spec(base=replace(BASE, strategy="nope")).validate()


@pytest.mark.parametrize(
    ("space", "match"),
    [
        ({"fast": "0:10:1"}, "fast"),  # fast >= 1
        ({"fast": "5:20000:5"}, "fast"),  # fast <= 10000
        ({"slow": "1,50"}, "slow"),  # slow >= 2
        ({"fast": "1:10:0.5"}, "whole numbers"),
        ({"fast": "5,5"}, "duplicate"),
        ({"fast": "a,b"}, "fast"),
    ],
)
def test_out_of_bounds_and_bad_values(space, match):
    spec = SweepSpec.from_dict({"sweep_id": "s1", "base": BASE.to_dict(), "space": space})
    with pytest.raises(ParamError, match=match):
        spec.validate()


def test_bad_fixed_base_param_is_named():
    spec = sma_spec(base=replace(BASE, params={"slow": 0}), space={"fast": "1:3:1"})
    with pytest.raises(ParamError, match="slow"):
        spec.validate()


def test_float_range_on_a_float_param_and_range_on_a_choice_param():
    base = replace(BASE, strategy="rsi_reversion", params={"period": 10})
    spec = SweepSpec.from_dict(
        {"sweep_id": "r1", "base": base.to_dict(), "space": {"lower": "20:40:2.5"}}
    )
    assert spec.validate().space["lower"].expand()[:3] == (20.0, 22.5, 25.0)
    bad = SweepSpec.from_dict(
        {"sweep_id": "r1", "base": base.to_dict(), "space": {"lower": "-10:40:10"}}
    )
    with pytest.raises(ParamError, match="lower"):
        bad.validate()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"sweep_id": "../x"}, "invalid run id"),
        ({"mode": "latin"}, "grid, random or tpe"),
        ({"mode": "random"}, "n "),
        ({"mode": "random", "n": 0}, "n "),
        ({"max_combinations": 0}, "max_combinations"),
        ({"top_n": -1}, "top_n"),
        ({"target_child_seconds": 0}, "target_child_seconds"),
        ({"space": {}}, "empty"),
        ({"extra_keys": ("AAPL.csv",)}, "duplicate input file"),
    ],
)
def test_bad_sweep_fields(changes, match):
    with pytest.raises(ParamError, match=match):
        replace(sma_spec(), **changes).validate()


def test_ceiling_says_how_many_and_the_limit():
    with pytest.raises(ParamError, match=r"100 x 1 file\(s\) = 100 .*ceiling of 99"):
        sma_spec(max_combinations=99).validate()
    # the fan-out over files multiplies the work: 100 x 3 = 300 > 250
    spec = sma_spec(extra_keys=("MSFT.csv", "IBM.csv"), max_combinations=250)
    with pytest.raises(ParamError, match="300"):
        spec.validate()
    huge = sma_spec(space={"fast": "1:10000:1", "slow": "2:10000:1"})
    with pytest.raises(ParamError, match="99,990,000"):  # counted, never expanded
        huge.validate()


# --- JSON ----------------------------------------------------------------------------------------


def test_json_round_trip_keeps_space_order_and_every_field():
    spec = SweepSpec(
        "sw-2",
        replace(BASE, params={"fast": 3}),
        {"slow": ParamSpace.parse("20:60:20"), "fast": ParamSpace.parse("5,10")},
        mode="random",
        n=4,
        seed=11,
        extra_keys=("MSFT.csv",),
        max_combinations=5000,
        top_n=3,
        target_child_seconds=60.0,
        split=SplitSpec("walk_forward", folds=3),
    )
    back = SweepSpec.from_json(spec.to_json())
    assert back == spec
    assert list(back.space) == ["slow", "fast"]
    assert back.source_keys == ("AAPL.csv", "MSFT.csv")


def test_from_dict_accepts_strings_and_rejects_unknown_fields():
    spec = SweepSpec.from_dict(
        {
            "sweep_id": "s",
            "base": BASE.to_dict(),
            "space": {"fast": "5:15:5", "slow": [30, 40]},
            "split": {"kind": "train_test", "train_fraction": 0.6},
        }
    )
    assert spec.space["fast"].expand() == (5, 10, 15)
    assert spec.split == SplitSpec("train_test", 0.6)
    with pytest.raises(ParamError, match="bogus"):
        SweepSpec.from_dict({"sweep_id": "s", "base": {}, "space": {}, "bogus": 1})
    with pytest.raises(ParamError, match="missing"):
        SweepSpec.from_dict({"sweep_id": "s"})
    with pytest.raises(ParamError, match="JSON"):
        SweepSpec.from_json("{nope")


# --- expansion -----------------------------------------------------------------------------------


def test_grid_drops_invalid_combinations_and_counts_them():
    spec = sma_spec()
    # fast 5..50 x slow 20..200: fast >= slow for slow=20 (fast 20..50: 7) and slow=40 (40..50: 3)
    assert grid_size(spec) == 100
    assert expansion_stats(spec) == (100, 90, 10)
    assert count_combinations(spec) == 90
    combos = list(combinations(spec))
    assert len(combos) == 90 and all(c["fast"] < c["slow"] for c in combos)
    # stable order: the last parameter varies fastest
    assert combos[:3] == [
        {"fast": 5, "slow": 20},
        {"fast": 5, "slow": 40},
        {"fast": 5, "slow": 60},
    ]
    assert combos[10] == {"fast": 10, "slow": 20}
    assert list(combinations(spec, 10, 12)) == combos[10:12]


def test_fixed_params_are_included_and_overridden_by_the_space():
    base = replace(BASE, strategy="rsi_reversion", params={"period": 10, "upper": 99})
    spec = SweepSpec.from_dict(
        {
            "sweep_id": "r",
            "base": base.to_dict(),
            "space": {"lower": "60:80:10", "upper": "70,80"},
        }
    )
    # lower < upper keeps (60,70) (60,80) (70,80); drops (70,70) (80,70) (80,80)
    assert list(combinations(spec)) == [
        {"period": 10, "upper": 70, "lower": 60.0},
        {"period": 10, "upper": 80, "lower": 60.0},
        {"period": 10, "upper": 80, "lower": 70.0},
    ]
    assert expansion_stats(spec) == (6, 3, 3)


def test_no_constraints_counts_without_expanding():
    base = replace(BASE, strategy="bollinger_reversion")
    spec = SweepSpec.from_dict(
        {"sweep_id": "b", "base": base.to_dict(), "space": {"window": "2:1001:1", "k": "0.5:5:0.5"}}
    )
    assert expansion_stats(spec) == (10_000, 10_000, 0)


def test_all_invalid_says_which_rule():
    spec = SweepSpec.from_dict(
        {"sweep_id": "x", "base": BASE.to_dict(), "space": {"fast": "50:60:5", "slow": "20,40"}}
    )
    with pytest.raises(ParamError, match="fast must be < slow"):
        expansion_stats(spec)


def test_random_mode_is_seeded_distinct_and_valid():
    spec = sma_spec(mode="random", n=20, seed=1)
    a = list(combinations(spec))
    assert a == list(combinations(spec))
    assert len(a) == 20
    assert len({(c["fast"], c["slow"]) for c in a}) == 20
    grid = list(combinations(sma_spec()))
    assert all(c in grid for c in a)
    assert a != list(combinations(replace(spec, seed=2)))
    assert count_combinations(spec) == 20


def test_random_mode_larger_than_the_grid_returns_every_valid_combination_once():
    spec = sma_spec(mode="random", n=500, seed=3)
    got = list(combinations(spec))
    assert len(got) == 90
    assert sorted((c["fast"], c["slow"]) for c in got) == sorted(
        (c["fast"], c["slow"]) for c in combinations(sma_spec())
    )


def test_random_mode_on_a_huge_grid_samples_without_expanding():
    spec = SweepSpec.from_dict(
        {
            "sweep_id": "h",
            "base": BASE.to_dict(),
            "space": {"fast": "1:9999:1", "slow": "2:10000:1"},
            "mode": "random",
            "n": 50,
            "seed": 5,
        }
    )
    got = list(combinations(spec))
    assert len(got) == 50 and all(c["fast"] < c["slow"] for c in got)
    assert len({(c["fast"], c["slow"]) for c in got}) == 50


def test_combinations_frame_keeps_the_stable_id():
    frame = combinations_frame(sma_spec(), 88, 200)
    assert frame.columns.tolist() == [COMBO_ID, "fast", "slow"]
    assert frame[COMBO_ID].tolist() == [88, 89]
    assert frame[["fast", "slow"]].values.tolist() == [[50, 180], [50, 200]]


# --- chunking ------------------------------------------------------------------------------------


def test_small_sweep_is_one_plain_job():
    # 10,000 x 100,000 bars x 1e-8 s = 10 s of work < 120 s
    plan = plan_chunks(10_000, 100_000, 1e-8, 120)
    assert plan == ChunkPlan(1, 10_000) and not plan.is_array


def test_big_sweep_targets_the_child_duration():
    # 1e6 x 1e5 x 1e-8 = 1000 s -> ceil(1000/120) = 9 children of ceil(1e6/9) = 111,112
    plan = plan_chunks(1_000_000, 100_000, 1e-8, 120)
    assert plan == ChunkPlan(9, 111_112) and plan.is_array
    assert chunk_indices(8, plan, 1_000_000) == range(888_896, 1_000_000)


def test_children_are_capped():
    assert plan_chunks(1_000_000, 10**6, 1e-6, 1).n_children == 10_000
    assert plan_chunks(3, 10**6, 1.0, 1) == ChunkPlan(3, 1)  # never more children than work
    assert plan_chunks(1, 10**6, 1.0, 1) == ChunkPlan(1, 1)


@pytest.mark.parametrize(
    "args", [(0, 10, 1e-8, 120), (10, 0, 1e-8, 120), (10, 10, 0.0, 120), (10, 10, 1e-8, -1)]
)
def test_plan_rejects_bad_input(args):
    with pytest.raises(ParamError):
        plan_chunks(*args)


def test_chunk_index_out_of_range_is_an_error():
    plan = ChunkPlan(3, 4)
    with pytest.raises(ParamError, match=r"0\.\.2"):
        chunk_indices(3, plan, 10)


@given(
    n=st.integers(1, 200_000),
    bars=st.integers(1, 1_000_000),
    cost=st.floats(1e-10, 1e-3),
    target=st.floats(1.0, 1000.0),
    cap=st.integers(2, 10_000),
)
def test_every_combination_lands_in_exactly_one_chunk(n, bars, cost, target, cap):
    plan = plan_chunks(n, bars, cost, target, max_children=cap)
    assert 1 <= plan.n_children <= min(cap, n)
    slices = [chunk_indices(i, plan, n) for i in range(plan.n_children)]
    assert slices[0].start == 0 and slices[-1].stop == n
    for a, b in itertools.pairwise(slices):
        assert a.stop == b.start  # contiguous, no gap, no overlap
    assert all(len(s) >= 1 for s in slices)  # no empty child
    assert sum(len(s) for s in slices) == n
    if n * bars * cost <= target:
        assert plan.n_children == 1
    elif plan.n_children > 1:
        # a child works at most one target duration plus one combination, unless capped
        capped = math.ceil(n * bars * cost / target) > min(cap, n)
        per_child = plan.chunk_size * bars * cost
        assert capped or per_child <= (target + bars * cost) * (1 + 1e-9)
    assert math.ceil(n / plan.chunk_size) == plan.n_children


def test_tasks_by_file_splits_a_chunk_file_major():
    keys = ["a.csv", "b.csv", "c.csv"]
    # 3 files x 5 combinations = tasks 0..14; tasks 3..11 = a:3,4  b:0..4  c:0,1
    assert tasks_by_file(range(3, 12), 5, keys) == [
        ("a.csv", range(3, 5)),
        ("b.csv", range(0, 5)),
        ("c.csv", range(0, 2)),
    ]
    assert tasks_by_file(range(10, 10), 5, keys) == []


def test_random_mode_on_a_very_fine_float_range_never_expands_it():
    base = replace(BASE, strategy="momentum")
    # threshold 0..10 step 1e-9: 10^10 values, sampled lazily
    spec = SweepSpec("m", base, {"threshold": "0:10:0.000000001"}, mode="random", n=5, seed=2)
    got = [c["threshold"] for c in combinations(spec)]
    assert len(set(got)) == 5 and all(0 <= v <= 10 for v in got)
    assert all(round(v, 9) == v for v in got)  # on the 1e-9 grid
    assert ParamSpace.parse("0:10:0.000000001").value_at(3) == 3e-9
