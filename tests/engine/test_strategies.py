"""Strategy registry: schemas, validation messages, every strategy's rule, causality, caching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ParamError
from engine.sim.strategies import STRATEGIES, Bars, Param, get_strategy, list_strategies
from engine.sim.synthetic import random_walk

NAMES = {
    "sma_cross",
    "ema_cross",
    "rsi_reversion",
    "bollinger_reversion",
    "donchian_breakout",
    "momentum",
    "buy_and_hold",
}


def bars_from_close(close: Any, spread: float = 1.0) -> Bars:
    c = np.asarray(close, dtype=float)
    return Bars(c.copy(), c + spread, c - spread, c.copy(), np.zeros(len(c)))


@pytest.fixture(scope="module")
def walk() -> Bars:
    return Bars.from_frame(random_walk(700, seed=4))


# --- registry and schema ---------------------------------------------------------------------


def test_registry_has_every_strategy():
    assert set(STRATEGIES) == NAMES
    assert [s.name for s in list_strategies()] == sorted(NAMES)
    assert get_strategy("sma_cross") is STRATEGIES["sma_cross"]
    for s in list_strategies():
        assert s.description
        for p in s.params:
            assert p.kind in ("int", "float", "bool", "choice")
            assert p.help
            assert p.check(p.default) == p.default  # defaults are within bounds


def test_unknown_strategy_lists_known_names():
    with pytest.raises(ParamError) as exc:
        get_strategy("sma_crosss")
    msg = str(exc.value)
    assert "sma_crosss" in msg and "sma_cross" in msg and "buy_and_hold" in msg
    assert "\n" not in msg


def test_defaults_match_design():
    assert get_strategy("sma_cross").validate({}) == {"fast": 10, "slow": 50}
    assert get_strategy("sma_cross").validate(None) == {"fast": 10, "slow": 50}
    assert get_strategy("rsi_reversion").validate({}) == {
        "period": 14,
        "lower": 30.0,
        "upper": 70.0,
    }
    assert get_strategy("bollinger_reversion").validate({}) == {"window": 20, "k": 2.0}
    assert get_strategy("donchian_breakout").validate({}) == {"entry": 20, "exit": 10}
    assert get_strategy("momentum").validate({}) == {"lookback": 60, "threshold": 0.0}
    assert get_strategy("buy_and_hold").validate({}) == {}


def test_cli_strings_are_coerced():
    out = get_strategy("sma_cross").validate({"fast": "15", "slow": " 40 "})
    assert out == {"fast": 15, "slow": 40}
    assert isinstance(out["fast"], int)
    out = get_strategy("bollinger_reversion").validate({"k": "2.5", "window": 30.0})
    assert out == {"window": 30, "k": 2.5}
    assert isinstance(out["window"], int)
    assert get_strategy("sma_cross").validate({"fast": np.int64(5)})["fast"] == 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("False", False), ("1", True), ("no", False), (True, True), (0, False)],
)
def test_bool_param_coerce(value, expected):
    assert Param("flag", "bool", False, help="x").coerce(value) is expected


def test_choice_param_coerce():
    p = Param("side", "choice", "long", help="x", choices=("long", "short"))
    assert p.coerce("short") == "short"
    with pytest.raises(ParamError, match=r"side='both'.*long, short"):
        p.coerce("both")
    with pytest.raises(ParamError, match=r"flag='maybe'.*true or false"):
        Param("flag", "bool", False, help="x").coerce("maybe")


@pytest.mark.parametrize(
    ("strategy", "params", "pattern"),
    [
        ("sma_cross", {"fast": "2.5"}, r"sma_cross: fast='2.5' is not a valid int; allowed int 1"),
        ("sma_cross", {"fast": "abc"}, r"fast='abc' is not a valid int"),
        ("sma_cross", {"fast": True}, r"fast=True is not a valid int"),
        ("sma_cross", {"fast": 0}, r"sma_cross: fast=0 is out of range; allowed int 1..10000"),
        ("sma_cross", {"slow": 10**6}, r"slow=1000000 is out of range; allowed int 2..10000"),
        ("bollinger_reversion", {"k": "nan"}, r"k='nan' is not a valid float"),
        ("bollinger_reversion", {"k": 0}, r"k=0 is out of range; allowed float 0.1..10"),
        ("rsi_reversion", {"upper": 101}, r"upper=101 is out of range; allowed float 0..100"),
        ("momentum", {"threshold": "-0.1"}, r"threshold='-0.1' is out of range"),
    ],
)  # fmt: skip
def test_bad_values_name_parameter_value_and_range(strategy, params, pattern):
    with pytest.raises(ParamError, match=pattern):
        get_strategy(strategy).validate(params)
    assert not get_strategy(strategy).is_valid(params)


def test_unknown_parameter_lists_known_ones():
    with pytest.raises(ParamError, match=r"sma_cross has no parameter 'fsat'; known.*fast, slow"):
        get_strategy("sma_cross").validate({"fsat": 3})
    with pytest.raises(
        ParamError, match=r"buy_and_hold has no parameter 'x'; known parameters: none"
    ):
        get_strategy("buy_and_hold").validate({"x": 1})


@pytest.mark.parametrize(
    ("strategy", "params", "pattern"),
    [
        ("sma_cross", {"fast": 50, "slow": 50}, r"sma_cross: fast must be < slow \(got fast=50, "),
        ("sma_cross", {"fast": 60}, r"fast must be < slow \(got fast=60, slow=50\)"),
        ("ema_cross", {"fast": 30, "slow": 20}, r"ema_cross: fast must be < slow"),
        ("rsi_reversion", {"lower": 70}, r"lower must be < upper \(got lower=70, upper=70\)"),
    ],
)  # fmt: skip
def test_constraints(strategy, params, pattern):
    s = get_strategy(strategy)
    with pytest.raises(ParamError, match=pattern):
        s.validate(params)
    assert not s.is_valid(params)


def test_is_valid_and_label_and_warmup():
    s = get_strategy("sma_cross")
    assert s.is_valid({"fast": 5, "slow": 20})
    assert s.label({"slow": "60"}) == "sma_cross(fast=10, slow=60)"
    assert get_strategy("bollinger_reversion").label({"k": 2.5}) == (
        "bollinger_reversion(window=20, k=2.5)"
    )
    assert s.warmup({}) == 49  # SMA(50) is defined from bar 49 on
    assert s.warmup({"fast": 3, "slow": 7}) == 6
    assert get_strategy("donchian_breakout").warmup({"entry": 5, "exit": 30}) == 30
    assert get_strategy("rsi_reversion").warmup({}) == 14
    assert get_strategy("buy_and_hold").warmup() == 0


def test_bars_from_frame():
    df = random_walk(20, seed=2)
    b = Bars.from_frame(df)
    assert b.close.dtype == np.float64 and len(b.close) == 20
    np.testing.assert_array_equal(b.high, df["high"].to_numpy())
    no_volume = Bars.from_frame(df.drop(columns="volume"))
    assert no_volume.volume.tolist() == [0.0] * 20


# --- each strategy's rule --------------------------------------------------------------------


def test_sma_cross_matches_pandas(walk):
    close = pd.Series(walk.close)
    fast, slow = close.rolling(7).mean(), close.rolling(30).mean()
    expected = np.where(fast > slow, 1.0, np.where(fast < slow, -1.0, 0.0))
    expected[:29] = 0.0  # SMA(30) is defined from bar 29, where the rule acts
    target = get_strategy("sma_cross").signal(walk, {"fast": 7, "slow": 30})
    assert target.dtype == np.float64
    np.testing.assert_array_equal(target, expected)
    assert {1.0, -1.0} <= set(target.tolist())


def test_ema_cross_matches_pandas(walk):
    def ema(span):
        seeded = pd.Series(walk.close.copy())
        seeded[: span - 1] = np.nan
        seeded[span - 1] = walk.close[:span].mean()
        return seeded.ewm(span=span, adjust=False).mean()

    fast, slow = ema(5), ema(20)
    expected = np.where(fast > slow, 1.0, np.where(fast < slow, -1.0, 0.0))
    expected[:19] = 0.0  # EMA(20) is seeded on bar 19, where the rule acts
    target = get_strategy("ema_cross").signal(walk, {"fast": 5, "slow": 20})
    np.testing.assert_array_equal(target, expected)


def test_cross_strategies_are_flat_on_constant_prices():
    b = bars_from_close(np.full(200, 100.1))
    for name in ("sma_cross", "ema_cross", "bollinger_reversion", "rsi_reversion", "momentum"):
        assert not get_strategy(name).signal(b).any(), name


def test_rsi_reversion_rule():
    # period 2: RSI = 50, 0, 0, 40, 66.7, 88.0, 96.4, 53.7 from bar 2 (see Wilder by hand):
    # long once RSI < 30 (bar 3), held until RSI > 70 (bar 7) -> -1 (flat when long-only)
    close = [10, 10, 10, 9, 8, 8.5, 9, 10, 11, 10.5]
    target = get_strategy("rsi_reversion").signal(
        bars_from_close(close), {"period": 2, "lower": 30, "upper": 70}
    )
    assert target.tolist() == [0, 0, 0, 1, 1, 1, 1, -1, -1, -1]


def test_bollinger_reversion_rule():
    # window 3, k 1 (population std): bar 4 closes at 7 below 9.33 - 1.70 -> long; bar 5
    # closes at 9.5 >= mean 9.17 -> flat; bar 7 closes at 12 above 10.5 + 1.08 -> short; still
    # above at bar 8; bar 9 closes at 13 <= mean 13.67 -> flat
    close = [10, 11, 10, 11, 7, 9.5, 10, 12, 16, 13, 12]
    target = get_strategy("bollinger_reversion").signal(
        bars_from_close(close), {"window": 3, "k": 1}
    )
    assert target.tolist() == [0, 0, 0, 0, 1, 0, 0, -1, -1, 0, 0]


def test_donchian_breakout_rule():
    # high = close + 1, low = close - 1; entry 3, exit 2.
    # bar 3: 12 > prior-3 high 11 -> long; bar 6: 11 < prior-2 low 11.5 -> flat;
    # bar 7: 8 < prior-3 low 10 -> short; bar 8: 7 equals prior-3 low 7 -> no new signal
    close = [10, 10, 10, 12, 13, 12.5, 11, 8, 7, 9, 9.5]
    target = get_strategy("donchian_breakout").signal(
        bars_from_close(close), {"entry": 3, "exit": 2}
    )
    assert target.tolist() == [0, 0, 0, 1, 1, 1, 0, -1, -1, -1, -1]


def test_momentum_rule():
    # lookback 2: ROC = 0.10, -0.18, -0.136, 0.117 from bar 2; threshold 0.05
    close = [100, 100, 110, 90, 95, 100.5]
    target = get_strategy("momentum").signal(
        bars_from_close(close), {"lookback": 2, "threshold": 0.05}
    )
    assert target.tolist() == [0, 0, 1, -1, -1, 1]
    # a wide threshold keeps it flat
    wide = get_strategy("momentum").signal(bars_from_close(close), {"lookback": 2, "threshold": 1})
    assert not wide.any()


def test_buy_and_hold(walk):
    assert get_strategy("buy_and_hold").signal(walk).tolist() == [1.0] * len(walk.close)


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_strategy_targets_and_warmup(name, walk):
    s = get_strategy(name)
    target = s.signal(walk)
    assert target.dtype == np.float64 and target.shape == walk.close.shape
    assert set(np.unique(target).tolist()) <= {-1.0, 0.0, 1.0}
    assert not target[: s.warmup()].any()
    assert target[s.warmup() :].any()  # it does trade on 700 bars of a random walk
    # shorter data than the warm-up: all flat, no error
    short = walk.head(5)
    assert s.signal(short).tolist() == ([1.0] * 5 if name == "buy_and_hold" else [0.0] * 5)


# --- causality and caching -------------------------------------------------------------------

SMALL: dict[str, dict[str, Any]] = {
    "sma_cross": {"fast": 3, "slow": 8},
    "ema_cross": {"fast": 3, "slow": 8},
    "rsi_reversion": {"period": 3, "lower": 40, "upper": 60},
    "bollinger_reversion": {"window": 5, "k": 1.0},
    "donchian_breakout": {"entry": 5, "exit": 3},
    "momentum": {"lookback": 4, "threshold": 0.01},
    "buy_and_hold": {},
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_future_bars_never_change_past_targets(name, walk):
    s = get_strategy(name)
    full = s.signal(walk, SMALL[name])
    for cut in (1, 5, 8, 9, 50, 333, 699):
        truncated = walk.head(cut)
        np.testing.assert_array_equal(s.signal(truncated, SMALL[name]), full[:cut])
        changed = Bars(*(np.concatenate([a[:cut], a[cut:] * 0.5]) for a in walk[:5]))
        np.testing.assert_array_equal(s.signal(changed, SMALL[name])[:cut], full[:cut])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1.0, 1000.0), min_size=2, max_size=80),
    st.sampled_from(sorted(NAMES)),
    st.integers(1, 79),
)
def test_causality_property(closes, name, cut):
    b = bars_from_close(closes, spread=0.5)
    cut = min(cut, len(closes))
    s = get_strategy(name)
    full = s.signal(b, SMALL[name])
    head = b.head(cut)
    np.testing.assert_array_equal(s.signal(head, SMALL[name]), full[:cut])


def test_cache_shares_indicators_across_a_sweep(walk):
    s = get_strategy("sma_cross")
    cache: dict = {}
    combos = [(f, sl) for f in (5, 10, 20) for sl in (20, 50) if f < sl]
    for f, sl in combos:
        with_cache = s.signal(walk, {"fast": f, "slow": sl}, cache)
        np.testing.assert_array_equal(with_cache, s.signal(walk, {"fast": f, "slow": sl}))
    assert set(cache) == {("sma", 5), ("sma", 10), ("sma", 20), ("sma", 50)}
    sma20 = cache[("sma", 20)]
    s.signal(walk, {"fast": 20, "slow": 50}, cache)
    assert cache[("sma", 20)] is sma20  # reused, not recomputed
    # the caller's target array is its own: editing it leaves the cache intact
    target = s.signal(walk, {"fast": 5, "slow": 20}, cache)
    target[:] = 7.0
    np.testing.assert_array_equal(
        s.signal(walk, {"fast": 5, "slow": 20}, cache), s.signal(walk, {"fast": 5, "slow": 20})
    )
    get_strategy("bollinger_reversion").signal(walk, {"window": 20}, cache)
    assert ("std", 20, 0) in cache and len(cache) == 5  # the SMA(20) is shared too
