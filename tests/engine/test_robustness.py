"""Robustness statistics against hand-derived worked examples (engine/sweep/robustness.py)."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from engine.errors import ParamError
from engine.sweep.robustness import (
    SampleMoments,
    SplitSpec,
    aggregate_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    in_out_of_sample,
    pbo_cscv,
    plateau_score,
    probabilistic_sharpe_ratio,
    return_moments,
    ruined_columns,
    sharpe_per_period,
)

Z = NormalDist()
GAMMA = 0.5772156649015329  # Euler-Mascheroni


# --- PSR / DSR ---------------------------------------------------------------------------------


def test_psr_normal_returns_by_hand():
    # SR = 0.05 per period, T = 252, skew 0, kurtosis 3:
    # z = 0.05 * sqrt(251) / sqrt(1 - 0 + (3 - 1)/4 * 0.05^2) = 0.79166..., Phi(z) = 0.7857...
    z = 0.05 * math.sqrt(251) / math.sqrt(1 + 0.5 * 0.0025)
    assert z == pytest.approx(0.79166, abs=1e-5)
    assert probabilistic_sharpe_ratio(0.05, 252, 0.0, 3.0) == pytest.approx(Z.cdf(z), abs=1e-12)
    assert Z.cdf(z) == pytest.approx(0.7857, abs=1e-4)


def test_psr_with_benchmark_and_fat_tails_by_hand():
    # SR 0.12 vs benchmark 0.02, T = 500, skew -1, kurtosis 6:
    # denominator term 1 - (-1)(0.12) + (6-1)/4 * 0.0144 = 1.138
    z = (0.12 - 0.02) * math.sqrt(499) / math.sqrt(1.138)
    got = probabilistic_sharpe_ratio(0.12, 500, skew=-1.0, kurtosis=6.0, sharpe_benchmark=0.02)
    assert got == pytest.approx(Z.cdf(z), abs=1e-12)
    # negative skew and fat tails lower the confidence compared with normal returns
    assert got < probabilistic_sharpe_ratio(0.12, 500, 0.0, 3.0, 0.02)


def test_psr_undefined_cases_are_nan():
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 1))
    assert math.isnan(probabilistic_sharpe_ratio(float("nan"), 100))
    # variance term 1 - skew*SR + ... <= 0
    assert math.isnan(probabilistic_sharpe_ratio(1.0, 100, skew=5.0, kurtosis=3.0))


def test_expected_max_sharpe_by_hand():
    # N = 20 trials, variance of the trials' Sharpe ratios 0.001
    n, v = 20, 0.001
    sr0 = math.sqrt(v) * (
        (1 - GAMMA) * Z.inv_cdf(1 - 1 / n) + GAMMA * Z.inv_cdf(1 - 1 / (n * math.e))
    )
    assert expected_max_sharpe(n, v) == pytest.approx(sr0, rel=1e-12)
    assert expected_max_sharpe(1, v) == 0.0  # no selection, no deflation
    with pytest.raises(ParamError):
        expected_max_sharpe(0, v)


def test_dsr_own_worked_example():
    # SR 0.1 per period, T = 500, skew -0.5, kurtosis 5, N = 20, V = 0.001
    sr0 = math.sqrt(0.001) * (
        (1 - GAMMA) * Z.inv_cdf(1 - 1 / 20) + GAMMA * Z.inv_cdf(1 - 1 / (20 * math.e))
    )
    z = (0.1 - sr0) * math.sqrt(499) / math.sqrt(1 + 0.5 * 0.1 + (5 - 1) / 4 * 0.01)
    got = deflated_sharpe_ratio(0.1, 20, SampleMoments(500, -0.5, 5.0), 0.001)
    assert got == pytest.approx(Z.cdf(z), abs=1e-12)


def test_dsr_paper_numerical_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example:
    # annualised SR 2.5 over T = 1250 daily observations (250/year), N = 100 trials,
    # annualised variance of the trials' SR 0.5, skew -3, kurtosis 10.
    # The paper reports SR0 ~ 0.1132 (per day) and DSR ~ 0.9004.
    sr = 2.5 / math.sqrt(250)
    v = 0.5 / 250
    assert expected_max_sharpe(100, v) == pytest.approx(0.1132, abs=1e-4)
    dsr = deflated_sharpe_ratio(sr, 100, SampleMoments(1250, -3.0, 10.0), v)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_dsr_falls_with_more_trials_and_equals_psr_for_one_trial():
    one = deflated_sharpe_ratio(0.08, 1, SampleMoments(1000, 0.0, 3.0), 0.002)
    assert one == pytest.approx(probabilistic_sharpe_ratio(0.08, 1000, 0.0, 3.0, 0.0))
    moments = SampleMoments(1000, 0.0, 3.0)
    many = [deflated_sharpe_ratio(0.08, n, moments, 0.002) for n in (2, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(many))


def test_return_moments_and_sharpe_per_period():
    r = np.array([1.0, 2.0, 3.0, 10.0])
    # mean 4; deviations -3,-2,-1,6; m2 = 50/4 = 12.5; m3 = (-27-8-1+216)/4 = 45; m4 = 1394/4
    skew, kurt = return_moments(r)
    assert skew == pytest.approx(45 / 12.5**1.5)
    assert kurt == pytest.approx((81 + 16 + 1 + 1296) / 4 / 12.5**2)
    # sample std ddof=1: sqrt(50/3)
    assert float(sharpe_per_period(r)) == pytest.approx(4 / math.sqrt(50 / 3))
    m = np.array([[1.0, 2.0], [3.0, 2.0]])
    out = sharpe_per_period(m)
    assert out[0] == pytest.approx(2 / math.sqrt(2)) and math.isnan(out[1])


# --- PBO ---------------------------------------------------------------------------------------


def test_pbo_tiny_example_enumerated_by_hand():
    # 4 blocks of one period each, 3 combinations (A, B, C), metric = mean (block sums here).
    r = np.array(
        [
            [3.0, 1.0, 0.0],  # block 0
            [2.0, 3.0, 6.0],  # block 1
            [3.0, 6.0, 0.0],  # block 2
            [0.0, 4.0, 4.0],  # block 3
        ]
    )
    # IS blocks | IS sums A,B,C | best | OOS sums A,B,C | OOS rank of best | w = rank/4 | logit
    # {0,1}     | 5, 4, 6       | C    | 3, 10, 4       | 2                | 1/2        | 0
    # {0,2}     | 6, 7, 0       | B    | 2, 7, 10       | 2                | 1/2        | 0
    # {0,3}     | 3, 5, 4       | B    | 5, 9, 6        | 3                | 3/4        | ln 3
    # {1,2}     | 5, 9, 6       | B    | 3, 5, 4        | 3                | 3/4        | ln 3
    # {1,3}     | 2, 7, 10      | C    | 6, 7, 0        | 1                | 1/4        | -ln 3
    # {2,3}     | 3, 10, 4      | B    | 5, 4, 6        | 1                | 1/4        | -ln 3
    # logits <= 0 in 4 of 6 splits -> PBO = 2/3
    res = pbo_cscv(r, n_splits=4, metric="mean")
    ln3 = math.log(3)
    assert res.n_used == res.n_total == 6
    assert res.logits == pytest.approx([0, 0, ln3, ln3, -ln3, -ln3], abs=1e-12)
    assert res.pbo == pytest.approx(4 / 6)
    assert res.is_metric == pytest.approx([3, 3.5, 2.5, 4.5, 5, 5])  # IS means of the best
    assert res.oos_metric == pytest.approx([2, 3.5, 4.5, 2.5, 0, 2])
    # the same through a user-supplied metric function
    res2 = pbo_cscv(r, n_splits=4, metric=lambda block: block.mean(axis=0))
    assert res2.logits == pytest.approx(res.logits)


def test_pbo_ties_get_the_average_rank():
    # 2 blocks, 3 combinations; IS = block 0 picks A (5); OOS block 1: A=1, B=1, C=0
    # A ties with B -> rank (1 below + (2 equal + 1)/2) = 2.5 -> w = 2.5/4, logit ln(5/3)
    r = np.array([[5.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    res = pbo_cscv(r, n_splits=2, metric="mean")
    # split 2: IS = block 1 picks A (first of the tie A=B=1), OOS block 0: A=5 best -> ln 3
    assert res.logits == pytest.approx([math.log(2.5 / 1.5), math.log(3)])
    assert res.pbo == 0.0


def test_pbo_dominant_column_is_zero():
    rng = np.random.default_rng(7)
    r = rng.normal(0.0, 0.01, size=(320, 12))
    r[:, 5] = 0.05 + rng.normal(0.0, 0.001, size=320)  # far better Sharpe in every block
    res = pbo_cscv(r, n_splits=8)
    assert res.pbo == 0.0
    assert res.logits == pytest.approx(np.full(70, math.log(12)))  # rank 12 of 12 -> ln(12/1)


def test_pbo_noise_is_about_one_half():
    # identically distributed noise: the IS winner's OOS rank is uniform, PBO ~ 0.5 on average
    values = [
        pbo_cscv(np.random.default_rng(seed).normal(scale=0.01, size=(160, 10)), n_splits=8).pbo
        for seed in range(40)
    ]
    assert np.mean(values) == pytest.approx(0.5, abs=0.1)


def test_pbo_sampling_is_bounded_and_seeded():
    r = np.random.default_rng(1).normal(scale=0.01, size=(200, 6))
    a = pbo_cscv(r, n_splits=16, max_splits=300, seed=3)
    b = pbo_cscv(r, n_splits=16, max_splits=300, seed=3)
    assert a.n_used == 300 and a.n_total == 12_870 and len(a.logits) == 300
    assert np.array_equal(a.logits, b.logits)


def test_pbo_sharpe_matches_a_direct_computation():
    r = np.random.default_rng(2).normal(0.001, 0.01, size=(40, 5))
    res = pbo_cscv(r, n_splits=4)
    # first split in lexicographic order: blocks {0, 1} = rows 0..19 in-sample
    is_s = r[:20].mean(0) / r[:20].std(0, ddof=1)
    oos_s = r[20:].mean(0) / r[20:].std(0, ddof=1)
    best = int(np.argmax(is_s))
    rank = 1 + int(np.sum(oos_s < oos_s[best]))
    assert res.logits[0] == pytest.approx(math.log(rank / (6 - rank)))
    assert res.is_metric[0] == pytest.approx(is_s[best])


@pytest.mark.parametrize(
    ("shape", "splits"), [((10, 1), 4), ((10, 3), 3), ((3, 3), 4), ((10, 3), 0)]
)
def test_pbo_rejects_bad_input(shape, splits):
    with pytest.raises(ParamError):
        pbo_cscv(np.zeros(shape), n_splits=splits)


def test_aggregate_returns_compounds_blocks():
    r = np.array([[0.1, 0.0], [0.1, -0.5], [0.0, 1.0], [-0.5, 0.0]])
    out = aggregate_returns(r, 2)
    # rows 0-1: 1.1*1.1-1 = 0.21 ; 1*0.5-1 = -0.5 | rows 2-3: 1*0.5-1 = -0.5 ; 2*1-1 = 1
    assert out == pytest.approx(np.array([[0.21, -0.5], [-0.5, 1.0]]))
    assert aggregate_returns(r, 10).shape == (4, 2)


# --- plateau -------------------------------------------------------------------------------------


@pytest.fixture
def grid() -> pd.DataFrame:
    # fast \ slow   10    20    30
    #  1            0.5   0.6   0.2
    #  2            0.9   1.0   0.4
    #  3            0.7   0.8   (dropped)
    rows = [
        (1, 10, 0.5), (1, 20, 0.6), (1, 30, 0.2),
        (2, 10, 0.9), (2, 20, 1.0), (2, 30, 0.4),
        (3, 10, 0.7), (3, 20, 0.8),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["fast", "slow", "sharpe"])


def test_plateau_of_the_best(grid):
    # best (2, 20) = 1.0; neighbours (1,20)=0.6 (3,20)=0.8 (2,10)=0.9 (2,30)=0.4 -> median 0.7
    res = plateau_score(grid, ["fast", "slow"], "sharpe")
    assert res == pytest.approx((0.7, 1.0, 0.7, 4))


def test_plateau_at_an_edge_and_next_to_a_dropped_combination(grid):
    # (1, 10) = 0.5: neighbours (2,10)=0.9, (1,20)=0.6 -> median 0.75, score 1.5
    edge = plateau_score(grid, ["fast", "slow"], "sharpe", best_row=0)
    assert edge == pytest.approx((1.5, 0.5, 0.75, 2))
    # (3, 20) = 0.8: neighbours (2,20)=1.0, (3,10)=0.7; (3,30) was dropped -> median 0.85
    hole = plateau_score(grid, ["fast", "slow"], "sharpe", best_row=7)
    assert hole == pytest.approx((0.85 / 0.8, 0.8, 0.85, 2))


def test_plateau_uses_given_axes(grid):
    # with slow's axis 10, 15, 20, 30 the slow-neighbours of (2, 20) are 15 (absent) and 30
    res = plateau_score(
        grid, ["fast", "slow"], "sharpe", axes={"slow": [10, 15, 20, 30], "fast": [1, 2, 3]}
    )
    # neighbours 0.6, 0.8, 0.4 -> median 0.6
    assert res == pytest.approx((0.6, 1.0, 0.6, 3))


def test_plateau_undefined_score_is_nan(grid):
    neg = grid.assign(sharpe=-grid["sharpe"])
    res = plateau_score(neg, ["fast", "slow"], "sharpe")  # best is (1, 30) = -0.2
    assert math.isnan(res.score) and res.n_neighbours == 2
    lone = plateau_score(grid.iloc[[4]], ["fast", "slow"], "sharpe")
    assert math.isnan(lone.score) and lone.n_neighbours == 0
    with pytest.raises(ParamError):
        plateau_score(grid, ["fast"], "nope")


# --- in / out of sample --------------------------------------------------------------------------


def test_train_test_top_k_by_hand():
    r = np.array(
        [
            [1.0, 0.0, 2.0],
            [3.0, 2.0, 2.0],
            [1.0, 0.0, 2.0],
            [3.0, 2.0, 2.0],  # --- train above (A: mean 2, sd sqrt(4/3); B: mean 1; C: flat)
            [0.0, 3.0, 1.0],
            [0.0, 5.0, 2.0],
            [1.0, 3.0, 1.0],
            [1.0, 5.0, 2.0],
        ]
    )
    sd = math.sqrt(4 / 3)
    out = in_out_of_sample(r, {"kind": "train_test", "train_fraction": 0.5}, top_k=2,
                           periods_per_year=4)  # fmt: skip
    assert out["column"].tolist() == [0, 1]  # A then B; C (NaN Sharpe) is last
    assert out["rank"].tolist() == [1, 2]
    # IS: A 2/sd*2, B 1/sd*2 ; OOS: A mean .5 sd sqrt(1/3), B mean 4 sd sqrt(4/3)
    assert out["is_sharpe"].tolist() == pytest.approx([2 / sd * 2, 1 / sd * 2])
    assert out["oos_sharpe"].tolist() == pytest.approx([0.5 / math.sqrt(1 / 3) * 2, 4 / sd * 2])
    assert out[["train_start", "train_stop", "test_start", "test_stop"]].iloc[0].tolist() == [
        0, 4, 4, 8,
    ]  # fmt: skip


def test_walk_forward_windows_and_folds():
    spec = SplitSpec.from_value({"kind": "walk_forward", "folds": 3})
    assert spec.windows(8) == [
        (range(0, 2), range(2, 4)),
        (range(0, 4), range(4, 6)),
        (range(0, 6), range(6, 8)),
    ]
    # period returns > -1 (a return of -1 or less is a ruin, never chosen in-sample)
    r = np.random.default_rng(0).normal(scale=0.01, size=(8, 4))
    out = in_out_of_sample(r, spec, top_k=4)
    assert out["fold"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    fold1 = out[out["fold"] == 1]
    direct = r[0:4].mean(0) / r[0:4].std(0, ddof=1)
    assert fold1["is_sharpe"].tolist() == pytest.approx(sorted(direct, reverse=True))


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "train_test", "train_fraction": 1.0},
        {"kind": "walk_forward", "folds": 0},
        {"kind": "kfold"},
        {"kind": "train_test", "ratio": 0.5},
        "train_test",
    ],
)
def test_split_spec_rejects_bad_values(bad):
    with pytest.raises(ParamError):
        SplitSpec.from_value(bad)


def test_split_too_short_is_an_error():
    with pytest.raises(ParamError, match="too few"):
        SplitSpec("walk_forward", folds=4).windows(6)


# --- ruin: a ruined combination is never the one chosen --------------------------------------


def test_ruined_columns_are_returns_of_minus_one_or_less():
    r = np.array([[0.1, 0.0, -0.99], [-1.0, 0.2, 0.0], [0.0, -0.5, 0.0]])
    assert ruined_columns(r).tolist() == [True, False, False]


def test_pbo_never_picks_a_combination_ruined_in_sample():
    # 2 blocks, 3 combinations, metric = mean. A has the best mean in block 0 (2, against B 1
    # and C 0) but holds a ruin (-1) there: without the rule it is split 0's in-sample best.
    r = np.array(
        [
            [5.0, 1.0, 0.0],  # block 0, period 0
            [-1.0, 1.0, 0.0],  # block 0, period 1: A ruined (mean 2 vs B 1 vs C 0)
            [0.0, 0.0, 0.0],  # block 1 (A flat at 0 after its ruin)
            [0.0, 2.0, 1.0],  # block 1
        ]
    )
    res = pbo_cscv(r, n_splits=2, metric="mean")
    # split 0: IS = block 0 -> A is ruined, B (1) is chosen; OOS block 1 means A 0, B 1, C 0.5:
    # B ranks 3 of 3 -> w = 3/4, logit ln 3. Split 1: IS = block 1 -> B (1); OOS block 0: A 2,
    # B 1, C 0 -> rank 2 -> w = 1/2, logit 0.
    assert res.is_metric.tolist() == [1.0, 1.0]
    assert res.logits == pytest.approx([math.log(3), 0.0])
    # the same with a user metric function
    res2 = pbo_cscv(r, n_splits=2, metric=lambda block: block.mean(axis=0))
    assert res2.logits == pytest.approx(res.logits)


def test_in_out_of_sample_skips_columns_ruined_in_sample():
    # column 0 is ruined in the training half (the best Sharpe otherwise: it has a +50% period)
    r = np.array(
        [[0.5, 0.01, 0.02], [-1.0, 0.02, 0.01], [0.0, 0.03, 0.01], [0.0, 0.01, 0.03],
         [0.0, 0.02, 0.01], [0.0, 0.01, 0.02]]
    )  # fmt: skip
    out = in_out_of_sample(r, {"kind": "train_test", "train_fraction": 0.5}, top_k=3)
    assert 0 not in out["column"].tolist()
    assert sorted(out["column"].tolist()) == [1, 2]


def test_plateau_default_best_skips_ruined_rows():
    grid = pd.DataFrame(
        {
            "fast": [1, 2, 3, 1, 2, 3],
            "slow": [10, 10, 10, 20, 20, 20],
            "sharpe": [0.5, 2.0, 0.4, 0.3, 1.0, 0.9],
            "ruined": [False, True, False, False, False, False],
        }
    )
    res = plateau_score(grid, ["fast", "slow"], "sharpe")
    # (2, 10) is ruined (a real one has a NaN Sharpe; 2.0 here shows the flag decides): the
    # best is (2, 20) = 1.0, its neighbours (1, 20) 0.3 and (3, 20) 0.9 (not the ruined one)
    assert res.best == 1.0 and res.n_neighbours == 2
    assert res.neighbour_median == pytest.approx(0.6)
    assert res.score == pytest.approx(0.6)
    with pytest.raises(ParamError, match="ruined"):
        plateau_score(grid.assign(ruined=True), ["fast", "slow"], "sharpe")
