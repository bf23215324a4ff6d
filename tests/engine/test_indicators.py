"""Indicators against naive pandas/numpy computations written here, on random data."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.sim.indicators as ind
import engine.sim.signals as sig


def prices(n: int = 600, seed: int = 3, level: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0, 0.02, n)))


def same(actual: np.ndarray, expected: object, rtol: float = 1e-10) -> None:
    expected = np.asarray(expected, dtype=float)
    assert actual.dtype == np.float64
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("window", [1, 2, 7, 50, 600, 601])
def test_sma_matches_pandas_rolling_mean(window):
    x = prices()
    same(ind.sma(x, window), pd.Series(x).rolling(window).mean())


@pytest.mark.parametrize("window", [3, 20, 600])
def test_sma_does_not_drift_on_a_long_series(window):
    x = prices(200_000, seed=5, level=10_000.0)  # wanders over orders of magnitude
    expected = np.lib.stride_tricks.sliding_window_view(x, window).mean(axis=1)
    np.testing.assert_allclose(ind.sma(x, window)[window - 1 :], expected, rtol=1e-12)


def test_sma_of_a_constant_stays_within_rounding():
    x = np.full(3000, 100.1)
    for w in (1, 10, 50, 700):
        np.testing.assert_allclose(ind.sma(x, w)[w - 1 :], 100.1, rtol=1e-14, atol=0)


def test_sma_after_a_crash_is_exact_on_a_flat_close():
    # regression (hypothesis found it): after a x10^4 fall the running sum kept an absolute
    # error of the early, large sums, so SMA(1) != SMA(2) on a flat last close
    c = np.exp(np.cumsum(np.full(156, -0.0625)))
    c[-1] = c[-2]
    assert ind.sma(c, 1)[-1] == ind.sma(c, 2)[-1] == c[-1]
    assert sig.cross_sign(ind.sma(c, 1), ind.sma(c, 2))[-1] == 0.0
    out = np.empty(156)
    sig.sma_cross_into(c, 1, 2, out)
    assert out[-1] == 0.0 and out[-2] == -1.0


@pytest.mark.parametrize("window", [1, 2, 7, 59, 700])
def test_sma_error_is_relative_to_the_current_window(window):
    # a fall by e^-60 (x10^-26) then a rise: every mean within a few ulps of the exact one
    x = np.exp(np.cumsum(np.r_[np.full(3000, -0.02), np.full(1000, 0.03)]))
    expected = [math.fsum(x[i - window + 1 : i + 1]) / window for i in range(window - 1, len(x))]
    np.testing.assert_allclose(ind.sma(x, window)[window - 1 :], expected, rtol=1e-15, atol=0)


def test_sma_recovers_once_a_nan_leaves_the_window():
    x = np.arange(1.0, 2001.0)
    x[10] = np.nan
    out = ind.sma(x, 5)
    assert np.isnan(out[10:15]).all()
    np.testing.assert_allclose(out[ind.RESYNC + 20 :], x[ind.RESYNC + 18 : -2], rtol=1e-15)


@pytest.mark.parametrize(("fast", "slow"), [(1, 2), (5, 20), (20, 5), (7, 7), (3, 600), (50, 700)])
def test_fused_sma_cross_is_cross_sign_of_the_smas_bit_for_bit(fast, slow):
    x = prices(1500, seed=9)
    x[700:760] = x[699]  # a flat stretch: equal averages
    out = np.full(len(x), 7.0)
    sig.sma_cross_into(x, fast, slow, out)
    np.testing.assert_array_equal(out, sig.cross_sign(ind.sma(x, fast), ind.sma(x, slow)))
    assert set(out[max(fast, slow) - 1 :].tolist()) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize(("fast", "slow"), [(1, 2), (10, 50), (50, 10), (3, 600), (40, 1100)])
def test_fused_sma_cross_matches_on_crashes_flats_and_nans(fast, slow):
    # the fused kernel decides most blocks from plain running sums with an error bound and
    # redoes a block with the compensated sums when a bar is too close to call: both kinds
    # of block must give cross_sign(sma, sma) exactly
    rng = np.random.default_rng(11)
    steps = np.r_[rng.normal(0, 0.01, 3000), np.full(2500, -0.03), rng.normal(0, 0.02, 3000)]
    x = 100.0 * np.exp(np.cumsum(steps))
    x[4000:4700] = x[3999]  # a long flat stretch: exact ties
    x[6000:6300] = np.round(x[6000:6300], 0)  # repeated closes
    x[7000] = np.nan
    out = np.full(len(x), 7.0)
    sig.sma_cross_into(x, fast, slow, out)
    np.testing.assert_array_equal(out, sig.cross_sign(ind.sma(x, fast), ind.sma(x, slow)))


def test_fused_sma_cross_falls_back_only_where_too_close_to_call():
    x = prices(4096, seed=4)
    out = np.empty(len(x))
    assert sig._cross_plain(x, 10, 50, 1024, 1536, out)  # a random walk: decided plainly
    x[1100] = np.nan
    assert not sig._cross_plain(x, 10, 50, 1024, 1536, out)
    crash = np.exp(np.cumsum(np.full(2048, -0.1)))  # falls e^-51 within the block
    assert not sig._cross_plain(crash, 10, 50, 1024, 1536, out)


@pytest.mark.parametrize("span", [1, 3, 12, 26])
def test_ema_matches_pandas_ewm_seeded_with_sma(span):
    x = prices()
    seeded = pd.Series(x.copy())
    seeded[: span - 1] = np.nan
    seeded[span - 1] = x[:span].mean()
    same(ind.ema(x, span), seeded.ewm(span=span, adjust=False).mean())


def test_ema_shorter_than_span_is_all_nan():
    assert np.isnan(ind.ema(np.array([1.0, 2.0]), 3)).all()


def naive_rsi(x: np.ndarray, period: int) -> pd.Series:
    d = pd.Series(x).diff()
    out = {}
    for name, s in (("gain", d.clip(lower=0)), ("loss", (-d).clip(lower=0))):
        seeded = s.copy()
        seeded[:period] = np.nan
        seeded[period] = s[1 : period + 1].mean()
        out[name] = seeded.ewm(alpha=1 / period, adjust=False).mean()
    return 100 - 100 / (1 + out["gain"] / out["loss"])


@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_matches_wilder_by_pandas(period):
    x = prices()
    r = ind.rsi(x, period)
    same(r, naive_rsi(x, period), rtol=1e-9)
    assert np.nanmin(r) >= 0 and np.nanmax(r) <= 100


def test_rsi_edge_values():
    assert ind.rsi(np.arange(1.0, 10.0), 3)[3:].tolist() == [100.0] * 6  # only gains
    assert ind.rsi(np.arange(10.0, 1.0, -1), 3)[3:].tolist() == [0.0] * 6  # only losses
    assert ind.rsi(np.full(8, 5.0), 3)[3:].tolist() == [50.0] * 5  # no movement
    assert np.isnan(ind.rsi(np.ones(3), 3)).all()


@pytest.mark.parametrize(("window", "ddof"), [(2, 0), (20, 0), (20, 1), (100, 1), (1, 0)])
def test_rolling_std_matches_pandas(window, ddof):
    x = prices(3000, seed=7, level=5000.0)
    same(ind.rolling_std(x, window, ddof), pd.Series(x).rolling(window).std(ddof=ddof), 1e-7)


@pytest.mark.parametrize("window", [2, 5, 30])
def test_rolling_std_does_not_drift_on_a_long_series(window):
    x = prices(50_000, seed=11, level=20_000.0)
    exact = np.lib.stride_tricks.sliding_window_view(x, window).std(axis=1)
    np.testing.assert_allclose(ind.rolling_std(x, window, 0)[window - 1 :], exact, rtol=1e-6)


def test_rolling_std_flat_is_zero_and_undefined_ddof_is_nan():
    assert ind.rolling_std(np.full(30, 123.456), 10, 0)[9:].tolist() == [0.0] * 21
    assert np.isnan(ind.rolling_std(np.arange(5.0), 1, 1)).all()


def test_rolling_std_of_equal_closes_after_moves_is_exactly_zero():
    # regression (seed 600419.SH, bars 2236..2238): on a bar of the rolling update (not a
    # re-sync) the window of two equal closes came out sqrt(~1e-17) = 5.2e-9, wider than the
    # 1e-12 flat-band guard of bollinger_reversion
    x = np.array([4.7, 4.650857661169341, 4.646633448943029, 4.769135603506072, 4.769135603506072])
    out = ind.rolling_std(x, 2, 0)
    assert out[4] == 0.0
    np.testing.assert_allclose(out[1:4], np.abs(np.diff(x))[:3] / 2, rtol=1e-12)


@pytest.mark.parametrize("window", [1, 3, 20, 55])
def test_rolling_max_min_match_pandas(window):
    x = prices()
    same(ind.rolling_max(x, window), pd.Series(x).rolling(window).max(), 0)
    same(ind.rolling_min(x, window), pd.Series(x).rolling(window).min(), 0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=60).map(lambda v: np.array(v, float)),
    st.integers(1, 12),
)
def test_rolling_extremes_with_ties_match_brute_force(x, window):
    n = len(x)
    hi = [np.nan if i < window - 1 else x[i - window + 1 : i + 1].max() for i in range(n)]
    lo = [np.nan if i < window - 1 else x[i - window + 1 : i + 1].min() for i in range(n)]
    same(ind.rolling_max(x, window), hi, 0)
    same(ind.rolling_min(x, window), lo, 0)


@pytest.mark.parametrize("lookback", [1, 5, 60])
def test_roc_matches_pct_change(lookback):
    x = prices()
    expected = pd.Series(x).pct_change(lookback)
    expected[:lookback] = np.nan
    same(ind.roc(x, lookback), expected, 1e-12)


def test_shift():
    x = prices(10)
    same(ind.shift(x, 3), pd.Series(x).shift(3), 0)


def test_cross_sign_ignores_rounding_noise():
    a = np.array([100.1, 100.1 + 1e-13, 100.2, np.nan])
    b = np.array([100.1, 100.1, 100.1, 100.0])
    assert sig.cross_sign(a, b).tolist() == [0.0, 0.0, 1.0, 0.0]
    assert sig.cross_sign(b, a).tolist() == [0.0, 0.0, -1.0, 0.0]


def test_band_state_holds_until_exit():
    x = np.array([5.0, 0.0, 4.0, 5.0, 6.0, 11.0, 6.0, 5.0, 4.0])
    lo, hi, mid = np.full(9, 1.0), np.full(9, 10.0), np.full(9, 5.0)
    # long at 0.0 (< 1), held through 4.0, exits at 5.0 (>= 5); short at 11 (> 10), held
    # at 6.0, covers at 5.0 (<= 5)
    assert sig.band_state(x, lo, hi, mid, mid).tolist() == [0, 1, 1, 0, 0, -1, -1, 0, 0]


def test_breakout_state_exits_only_strictly_below():
    c = np.array([9.0, 11.0, 7.0, 6.9, 4.0, 8.0, 9.5])
    hi_n, lo_n, hi_m, lo_m = (np.full(7, v) for v in (10.0, 5.0, 9.0, 7.0))
    # long at 11, close == exit level 7 keeps it, 6.9 exits; 4 < 5 goes short; 8 holds;
    # 9.5 > 9 covers
    assert sig.breakout_state(c, hi_n, lo_n, hi_m, lo_m).tolist() == [0, 1, 1, 0, -1, -1, 0]


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: ind.sma(x, 10),
        lambda x: ind.ema(x, 10),
        lambda x: ind.rsi(x, 10),
        lambda x: ind.rolling_std(x, 10, 0),
        lambda x: ind.rolling_max(x, 10),
        lambda x: ind.rolling_min(x, 10),
        lambda x: ind.roc(x, 10),
    ],
)
def test_outputs_never_depend_on_later_values(fn):
    x = prices(120)
    full = fn(x)
    for cut in (1, 9, 10, 11, 60, 119):
        changed = x.copy()
        changed[cut:] *= 1.37
        same(fn(changed)[:cut], full[:cut], 0)


@pytest.mark.parametrize("module", [ind, sig], ids=["indicators", "signals"])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0
    assert result.attempted >= 5
