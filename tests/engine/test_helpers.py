"""engine.helpers (the strategy authors' module) against independent pandas/Python versions.

Every reference below is written here from the docstring's definition (pandas rolling/ewm,
plain loops for the state machines), on the reference system's real closes (../shared seed
CSVs) and on synthetic series; the numba path (called from a user's @njit function) must give
the same arrays bit for bit as the Python path.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numba import njit
from numba.core.errors import TypingError

from engine import helpers as h
from engine.data import load_prices

PUBLIC = [
    "band_state",
    "breakout_state",
    "cross_sign",
    "ema",
    "roc",
    "rolling_max",
    "rolling_min",
    "rolling_std",
    "rsi",
    "shift",
    "sma",
]


# --- independent references ------------------------------------------------------------------


def ref_ema(x: np.ndarray, span: int) -> pd.Series:
    seeded = pd.Series(x.copy())
    seeded[: span - 1] = np.nan
    if len(x) >= span:
        seeded[span - 1] = x[:span].mean()
    return seeded.ewm(span=span, adjust=False).mean()


def ref_rsi(x: np.ndarray, period: int) -> pd.Series:
    d = pd.Series(x).diff()
    avg = {}
    for name, s in (("gain", d.clip(lower=0)), ("loss", (-d).clip(lower=0))):
        seeded = s.copy()
        seeded[:period] = np.nan
        seeded[period] = s[1 : period + 1].mean()
        avg[name] = seeded.ewm(alpha=1 / period, adjust=False).mean()
    return 100 - 100 / (1 + avg["gain"] / avg["loss"])


def ref_cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tol = 1e-12 * np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore"):
        return np.where(a - b > tol, 1.0, np.where(b - a > tol, -1.0, 0.0))


def ref_band(x, el, es, xl, xs) -> list[float]:
    pos, out = 0.0, []
    for v, a, b, c, d in zip(x, el, es, xl, xs, strict=True):
        if v < a:
            pos = 1.0
        elif v > b:
            pos = -1.0
        elif (pos == 1.0 and v >= c) or (pos == -1.0 and v <= d):
            pos = 0.0
        out.append(pos)
    return out


def ref_breakout(c, hn, ln, hm, lm) -> list[float]:
    pos, out = 0.0, []
    for v, a, b, d, e in zip(c, hn, ln, hm, lm, strict=True):
        if v > a:
            pos = 1.0
        elif v < b:
            pos = -1.0
        elif (pos == 1.0 and v < e) or (pos == -1.0 and v > d):
            pos = 0.0
        out.append(pos)
    return out


def close_to(actual: np.ndarray, expected: object, rtol: float = 1e-10) -> None:
    expected = np.asarray(expected, dtype=float)
    assert actual.dtype == np.float64 and actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12)


# --- data ------------------------------------------------------------------------------------


def synthetic(n: int = 900, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    close[300:340] = close[299]  # a flat stretch: ties, zero std
    return pd.DataFrame({"high": close * 1.01, "low": close * 0.99, "close": close})


@pytest.fixture(scope="module", params=["600419.SH.csv", "600519.csv", "synthetic"])
def frame(request: pytest.FixtureRequest) -> pd.DataFrame:
    if request.param == "synthetic":
        return synthetic()
    seed_dir: Path = request.getfixturevalue("seed_dir")
    return load_prices(seed_dir / request.param)


# --- each helper against its definition ------------------------------------------------------


@pytest.mark.parametrize("window", [1, 2, 15, 200])
def test_rolling_helpers_match_pandas(frame: pd.DataFrame, window: int) -> None:
    c = frame["close"].to_numpy()
    s = pd.Series(c)
    close_to(h.sma(c, window), s.rolling(window).mean())
    close_to(h.ema(c, window), ref_ema(c, window))
    # numpy's two-pass std of each window (pandas' rolling std leaves ~1e-8 of rounding noise
    # on windows of equal closes, which are exactly 0)
    for ddof in (0, 1) if window > 1 else (0,):
        exact = np.full(len(c), np.nan)
        exact[window - 1 :] = np.lib.stride_tricks.sliding_window_view(c, window).std(1, ddof=ddof)
        close_to(h.rolling_std(c, window, ddof), exact, 1e-9)
    close_to(h.rolling_max(frame["high"], window), frame["high"].rolling(window).max().values, 0)
    close_to(h.rolling_min(frame["low"], window), frame["low"].rolling(window).min().values, 0)
    close_to(h.roc(c, window), c / s.shift(window) - 1.0, 1e-12)
    close_to(h.shift(c, window), s.shift(window), 0)
    if window > 1:
        close_to(h.rsi(c, window), ref_rsi(c, window), 1e-9)


@pytest.mark.parametrize(
    ("name", "call", "first"),
    [
        ("sma", h.sma, lambda w: w - 1),
        ("ema", h.ema, lambda w: w - 1),
        ("rolling_std", h.rolling_std, lambda w: w - 1),
        ("rolling_max", h.rolling_max, lambda w: w - 1),
        ("rolling_min", h.rolling_min, lambda w: w - 1),
        ("rsi", h.rsi, lambda w: w),
        ("roc", h.roc, lambda w: w),
        ("shift", h.shift, lambda w: w),
        ("prior max", lambda c, w: h.shift(h.rolling_max(c, w), 1), lambda w: w),
    ],
)
def test_defined_from_the_documented_bar(frame: pd.DataFrame, name: str, call, first) -> None:
    c = frame["close"].to_numpy()
    for w in (1, 2, 7, 60):
        if name == "rsi" and w == 1:
            continue
        out = call(c, w)
        defined = np.flatnonzero(np.isfinite(out))
        assert defined[0] == first(w), (name, w)
        assert len(defined) == len(c) - first(w), (name, w)  # and defined from there on


def test_cross_sign_matches_its_definition(frame: pd.DataFrame) -> None:
    c = frame["close"].to_numpy()
    s = pd.Series(c)
    for fast, slow in ((1, 15), (5, 20), (10, 50)):
        a, b = s.rolling(fast).mean().to_numpy(), s.rolling(slow).mean().to_numpy()
        got = h.cross_sign(h.sma(c, fast), h.sma(c, slow))
        np.testing.assert_array_equal(got, ref_cross(a, b))
        assert {-1.0, 1.0} <= set(got.tolist())


def test_band_state_matches_a_plain_loop(frame: pd.DataFrame) -> None:
    c = frame["close"].to_numpy()
    s = pd.Series(c)
    mid = s.rolling(20).mean()
    sd = s.rolling(20).std(ddof=0)
    lo, hi = (mid - 2 * sd).to_numpy(), (mid + 2 * sd).to_numpy()
    got = h.band_state(c, lo, hi, mid.to_numpy(), mid.to_numpy())
    assert got.tolist() == ref_band(c, lo, hi, mid, mid)
    assert {-1.0, 1.0} <= set(got.tolist())


def test_breakout_state_matches_a_plain_loop(frame: pd.DataFrame) -> None:
    c = frame["close"].to_numpy()
    hn, ln = frame["high"].rolling(20).max().shift(1), frame["low"].rolling(20).min().shift(1)
    hm, lm = frame["high"].rolling(10).max().shift(1), frame["low"].rolling(10).min().shift(1)
    args = [a.to_numpy() for a in (hn, ln, hm, lm)]
    got = h.breakout_state(c, *args)
    assert got.tolist() == ref_breakout(c, *args)
    assert {-1.0, 1.0} <= set(got.tolist())


def test_state_machines_on_hand_cases() -> None:
    # long below 1, held through 4, out at 5 (>= exit); short above 10, held, covered at 5
    x = [5.0, 0.0, 4.0, 5.0, 6.0, 11.0, 6.0, 5.0, 4.0]
    lo, hi, mid = [1.0] * 9, [10.0] * 9, [5.0] * 9
    assert h.band_state(x, lo, hi, mid, mid).tolist() == [0, 1, 1, 0, 0, -1, -1, 0, 0]
    nan = [np.nan] * 9
    assert not h.band_state(x, nan, nan, nan, nan).any()  # NaN levels never trigger
    c = [9.0, 11.0, 7.0, 6.9, 4.0, 8.0, 9.5]
    levels = ([10.0] * 7, [5.0] * 7, [9.0] * 7, [7.0] * 7)
    assert h.breakout_state(c, *levels).tolist() == [0, 1, 1, 0, -1, -1, 0]
    assert h.cross_sign([100.1, 100.1 + 1e-13], [100.1, 100.1]).tolist() == [0.0, 0.0]


# --- the numba path --------------------------------------------------------------------------


@njit(cache=True)
def _everything(c: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, ...]:
    m = h.sma(c, 20)
    sd = h.rolling_std(c, 20)
    prior_hi, prior_lo = h.shift(h.rolling_max(hi, 20), 1), h.shift(h.rolling_min(lo, 20), 1)
    return (
        m,
        h.ema(c, 12),
        h.rsi(c, 14),
        sd,
        h.rolling_std(c, 20, 1),
        h.rolling_max(hi, 20),
        h.rolling_min(lo, 20),
        h.roc(c, 60),
        h.shift(c, 3),
        h.cross_sign(h.sma(c, 5), m),
        h.band_state(c, m - 2.0 * sd, m + 2.0 * sd, m, m),
        h.breakout_state(c, prior_hi, prior_lo, prior_hi, prior_lo),
    )


def test_numba_path_equals_the_python_path(frame: pd.DataFrame) -> None:
    c = np.ascontiguousarray(frame["close"].to_numpy(dtype=float))
    hi = np.ascontiguousarray(frame["high"].to_numpy(dtype=float))
    lo = np.ascontiguousarray(frame["low"].to_numpy(dtype=float))
    m, sd = h.sma(c, 20), h.rolling_std(c, 20)
    ph, pl = h.shift(h.rolling_max(hi, 20), 1), h.shift(h.rolling_min(lo, 20), 1)
    expected = (
        m,
        h.ema(c, 12),
        h.rsi(c, 14),
        sd,
        h.rolling_std(c, 20, 1),
        h.rolling_max(hi, 20),
        h.rolling_min(lo, 20),
        h.roc(c, 60),
        h.shift(c, 3),
        h.cross_sign(h.sma(c, 5), m),
        h.band_state(c, m - 2.0 * sd, m + 2.0 * sd, m, m),
        h.breakout_state(c, ph, pl, ph, pl),
    )
    for got, want in zip(_everything(c, hi, lo), expected, strict=True):
        np.testing.assert_array_equal(got, want)


@njit
def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return h.cross_sign(a, b)


def test_numba_path_refuses_wrong_types_and_windows() -> None:
    with pytest.raises(TypingError, match=r"engine\.helpers\.sma: window must be an integer"):
        njit(lambda c: h.sma(c, 2.5))(np.ones(5))
    with pytest.raises(TypingError, match=r"engine\.helpers\.ema: x must be a 1-D float64"):
        njit(lambda c: h.ema(c, 2))(np.ones(5, dtype=np.int64))
    with pytest.raises(ValueError, match=r"engine\.helpers\.shift: periods must be >= 0"):
        njit(lambda c: h.shift(c, -1))(np.ones(5))
    with pytest.raises(ValueError, match=r"engine\.helpers\.cross_sign: .* same length"):
        _cross(np.ones(5), np.ones(4))


# --- the Python path's arguments -------------------------------------------------------------


def test_python_path_accepts_array_likes_and_returns_float64() -> None:
    series = pd.Series([1.0, 2.0, 3.0, 4.0])
    for x in ([1, 2, 3, 4], (1.0, 2.0, 3.0, 4.0), series, np.arange(1, 5)):
        got = h.sma(x, 2)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, [np.nan, 1.5, 2.5, 3.5])
    np.testing.assert_array_equal(h.sma(np.arange(1.0, 9)[::2], 2), [np.nan, 2.0, 4.0, 6.0])
    assert h.sma([], 3).tolist() == []
    assert np.isnan(h.rsi([1.0, 2.0], 5)).all()  # shorter than the warm-up: all undefined


@pytest.mark.parametrize(
    ("call", "error", "line"),
    [
        (
            lambda: h.sma([[1.0, 2.0]], 2),
            TypeError,
            "sma: x must be a 1-D array of numbers, got 2-D",
        ),
        (lambda: h.sma(["a"], 2), TypeError, "sma: x must be a 1-D array of numbers"),
        (lambda: h.sma([1.0], 0), ValueError, "sma: window must be >= 1, got 0"),
        (lambda: h.ema([1.0], 2.0), TypeError, "ema: span must be an int, got 2.0"),
        (lambda: h.rsi([1.0], True), TypeError, "rsi: period must be an int, got True"),
        (lambda: h.rolling_std([1.0], 2, -1), ValueError, "rolling_std: ddof must be >= 0"),
        (lambda: h.shift([1.0], -1), ValueError, "shift: periods must be >= 0, got -1"),
        (lambda: h.roc([1.0], 0), ValueError, "roc: lookback must be >= 1"),
        (lambda: h.cross_sign([1.0], [1.0, 2.0]), ValueError, "same length, got 1, 2"),
        (lambda: h.band_state([1.0], [1.0], [1.0], [1.0], [[1.0]]), TypeError, "exit_short"),
        (lambda: h.breakout_state([1.0], [1.0], [1.0], [1.0], [1.0, 2.0]), ValueError, "1, 1"),
    ],
)
def test_bad_arguments_are_one_line(call, error, line) -> None:
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert line in message and "\n" not in message


# --- the contract ----------------------------------------------------------------------------


def test_public_names_are_the_contract() -> None:
    assert sorted(h.__all__) == PUBLIC
    for name in PUBLIC:
        fn = getattr(h, name)
        doc = fn.__doc__ or ""
        assert ">>>" in doc, name  # an example
        assert "float64" in doc, name  # the argument types


def test_no_look_ahead(frame: pd.DataFrame) -> None:
    c = frame["close"].to_numpy()
    calls = [lambda x, name=name: _call(name, x) for name in PUBLIC]
    for cut in (1, 19, 20, 21, 300):
        changed = c.copy()
        changed[cut:] *= 1.37
        for call in calls:
            np.testing.assert_array_equal(call(changed)[:cut], call(c)[:cut])


def _call(name: str, x: np.ndarray) -> np.ndarray:
    if name in ("cross_sign",):
        return h.cross_sign(h.sma(x, 5), h.sma(x, 20))
    if name == "band_state":
        m, sd = h.sma(x, 20), h.rolling_std(x, 20)
        return h.band_state(x, m - sd, m + sd, m, m)
    if name == "breakout_state":
        hi, lo = h.shift(h.rolling_max(x, 20), 1), h.shift(h.rolling_min(x, 20), 1)
        return h.breakout_state(x, hi, lo, hi, lo)
    return getattr(h, name)(x, 20)


def test_docstring_examples() -> None:
    result = doctest.testmod(h)
    assert result.failed == 0
    assert result.attempted >= len(PUBLIC) + 1
