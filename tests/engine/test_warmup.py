"""Warm-up (DESIGN.md): a target is flat only while one of its indicators is undefined; on the
first bar where all are defined it is what the rule says (issue 12 point 7).

Every built-in is compared bar by bar with an independent pandas version of its one-line rule
on the reference system's real closes (../shared seed CSVs), the first defined bar included;
the declared lookbacks of engine.sim.warmup are checked against the indicator arrays; and a
sweep row equals the single run of the same combination with the new warm-up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine import run_backtest
from engine.data import load_prices
from engine.sim import indicators as ind
from engine.sim import warmup as wu
from engine.sim.kernels import METRIC_ORDER
from engine.sim.strategies import Bars, get_strategy
from engine.sim.sweep_kernels import evaluate
from engine.spec import SimOptions

SEEDS = ["600419.SH.csv", "600446.SH.csv", "600519.csv", "600558.SH.csv"]
TOL = 1e-12  # ties within this relative distance are no signal (the engine's documented rule)


@pytest.fixture(scope="module", params=SEEDS)
def prices(request: pytest.FixtureRequest) -> pd.DataFrame:
    seed_dir: Path = request.getfixturevalue("seed_dir")
    return load_prices(seed_dir / request.param)


# --- the one-line rules in pandas (no engine code) -------------------------------------------


def _sign(a: pd.Series, b: pd.Series) -> np.ndarray:
    """+1 / -1 where a is above / below b beyond the tie tolerance, 0 otherwise or on NaN."""
    a, b = a.to_numpy(), b.to_numpy()
    tol = TOL * np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore"):
        return np.where(a - b > tol, 1.0, np.where(b - a > tol, -1.0, 0.0))


def _ema(close: pd.Series, span: int) -> pd.Series:
    seeded = close.copy()
    seeded.iloc[: span - 1] = np.nan
    seeded.iloc[span - 1] = close.iloc[:span].mean()
    return seeded.ewm(span=span, adjust=False).mean()


def _rsi(close: pd.Series, period: int) -> pd.Series:
    d = close.diff()
    avg = {}
    for name, s in (("gain", d.clip(lower=0)), ("loss", (-d).clip(lower=0))):
        seeded = s.copy()
        seeded.iloc[:period] = np.nan
        seeded.iloc[period] = s.iloc[1 : period + 1].mean()
        avg[name] = seeded.ewm(alpha=1 / period, adjust=False).mean()
    rsi = 100 - 100 / (1 + avg["gain"] / avg["loss"])
    return rsi.mask((avg["loss"] == 0) & (avg["gain"] > 0), 100.0).mask(
        (avg["loss"] == 0) & (avg["gain"] == 0), 50.0
    )


def _hold(start: int, enter_long, enter_short, exit_long, exit_short) -> np.ndarray:
    """Latch from bar ``start`` (flat before; backtrader's first next()): enter on a True,
    leave on the matching exit, else hold (plain loop)."""
    pos, out = 0.0, np.zeros(len(enter_long))
    for i in range(start, len(out)):
        if enter_long[i]:
            pos = 1.0
        elif enter_short[i]:
            pos = -1.0
        elif (pos == 1.0 and exit_long[i]) or (pos == -1.0 and exit_short[i]):
            pos = 0.0
        out[i] = pos
    return out


def rule_sma_cross(df: pd.DataFrame, p: dict[str, Any]) -> tuple[np.ndarray, list[pd.Series]]:
    f, s = df["close"].rolling(p["fast"]).mean(), df["close"].rolling(p["slow"]).mean()
    return _sign(f, s), [f, s]


def rule_ema_cross(df: pd.DataFrame, p: dict[str, Any]) -> tuple[np.ndarray, list[pd.Series]]:
    f, s = _ema(df["close"], p["fast"]), _ema(df["close"], p["slow"])
    return _sign(f, s), [f, s]


def rule_rsi_reversion(df: pd.DataFrame, p: dict[str, Any]) -> tuple[np.ndarray, list[pd.Series]]:
    r = _rsi(df["close"], p["period"])
    lo, hi = (r < p["lower"]).to_numpy(), (r > p["upper"]).to_numpy()
    never = np.zeros(len(r), bool)
    return _hold(first_defined([r]), lo, hi, never, never), [r]


def rule_bollinger(df: pd.DataFrame, p: dict[str, Any]) -> tuple[np.ndarray, list[pd.Series]]:
    close, w, k = df["close"], p["window"], p["k"]
    # the mean as exactly as a float allows: a close equal to its mean is an exit, and
    # pandas' running-sum mean can be an ulp off there
    mid = close.rolling(w).apply(lambda a: math.fsum(a) / len(a), raw=True)
    # the exact (two-pass) population std of each window: pandas' rolling std leaves ~1e-8
    # of noise on windows of equal closes; a flat window (std ~ 0) has no bands
    sd = np.full(len(close), np.nan)
    sd[w - 1 :] = np.lib.stride_tricks.sliding_window_view(close.to_numpy(), w).std(axis=1)
    sd = pd.Series(sd, index=close.index)
    band = (k * sd).where(sd > TOL * mid.abs())
    c = close.to_numpy()
    with np.errstate(invalid="ignore"):
        target = _hold(
            first_defined([mid, sd]),
            c < (mid - band).to_numpy(),
            c > (mid + band).to_numpy(),
            c >= mid.to_numpy(),
            c <= mid.to_numpy(),
        )
    return target, [mid, sd]


def rule_donchian(df: pd.DataFrame, p: dict[str, Any]) -> tuple[np.ndarray, list[pd.Series]]:
    hi_n, lo_n = (
        df["high"].rolling(p["entry"]).max().shift(1),
        df["low"].rolling(p["entry"]).min().shift(1),
    )
    hi_m, lo_m = (
        df["high"].rolling(p["exit"]).max().shift(1),
        df["low"].rolling(p["exit"]).min().shift(1),
    )
    c = df["close"]
    target = _hold(
        first_defined([hi_n, lo_n, hi_m, lo_m]),
        (c > hi_n).to_numpy(),
        (c < lo_n).to_numpy(),
        (c < lo_m).to_numpy(),
        (c > hi_m).to_numpy(),
    )
    return target, [hi_n, lo_n, hi_m, lo_m]


def rule_momentum(df: pd.DataFrame, p: dict[str, Any]) -> tuple[np.ndarray, list[pd.Series]]:
    roc = df["close"] / df["close"].shift(p["lookback"]) - 1.0
    t = p["threshold"]
    return np.where(roc > t, 1.0, np.where(roc < -t, -1.0, 0.0)), [roc]


def rule_buy_and_hold(df: pd.DataFrame, p: dict[str, Any]) -> tuple[np.ndarray, list[pd.Series]]:
    return np.ones(len(df)), []


Rule = Callable[[pd.DataFrame, dict[str, Any]], tuple[np.ndarray, list[pd.Series]]]
CASES: list[tuple[str, Rule, list[dict[str, Any]]]] = [
    ("sma_cross", rule_sma_cross, [{}, {"fast": 1, "slow": 15}, {"fast": 5, "slow": 20}]),
    ("ema_cross", rule_ema_cross, [{}, {"fast": 3, "slow": 8}, {"fast": 20, "slow": 60}]),
    ("rsi_reversion", rule_rsi_reversion, [{}, {"period": 5, "lower": 40, "upper": 60}]),
    ("bollinger_reversion", rule_bollinger, [{}, {"window": 5, "k": 1.0}, {"window": 2, "k": 0.5}]),
    ("donchian_breakout", rule_donchian, [{}, {"entry": 5, "exit": 3}, {"entry": 3, "exit": 8}]),
    ("momentum", rule_momentum, [{}, {"lookback": 5, "threshold": 0.01}]),
    ("buy_and_hold", rule_buy_and_hold, [{}]),
]


def first_defined(indicators: list[pd.Series]) -> int:
    """The first bar where every indicator is finite (0 with none)."""
    if not indicators:
        return 0
    ok = np.logical_and.reduce([np.isfinite(s.to_numpy()) for s in indicators])
    return int(np.flatnonzero(ok)[0])


@pytest.mark.parametrize(("name", "rule", "param_sets"), CASES, ids=[c[0] for c in CASES])
def test_every_builtin_is_its_rule_from_the_first_defined_bar(
    prices: pd.DataFrame, name: str, rule: Rule, param_sets: list[dict[str, Any]]
) -> None:
    strategy = get_strategy(name)
    bars = Bars.from_frame(prices)
    for given in param_sets:
        p = strategy.validate(given)
        expected, indicators = rule(prices, p)
        first = first_defined(indicators)
        assert strategy.warmup(p) == first, (name, p)
        assert not expected[:first].any()  # the rule itself is flat while undefined
        for cache in (None, {}):  # a single run (no cache) and a sweep (shared cache)
            target = strategy.signal(bars, p, cache)
            np.testing.assert_array_equal(target, expected, err_msg=f"{name} {p}")


def test_the_first_defined_bar_is_acted_on(prices: pd.DataFrame) -> None:
    # the old warm-up forced bar slow - 1 (where both SMAs first exist) to flat; somewhere in
    # these combinations the rule says long or short right there, and the target says so too
    strategy = get_strategy("sma_cross")
    bars = Bars.from_frame(prices)
    acted = 0
    for fast, slow in ((1, 2), (1, 3), (2, 5), (1, 15), (3, 10), (5, 20), (10, 50)):
        target = strategy.signal(bars, {"fast": fast, "slow": slow})
        expected, _ = rule_sma_cross(prices, {"fast": fast, "slow": slow})
        assert target[slow - 1] == expected[slow - 1]
        acted += expected[slow - 1] != 0.0
    assert acted > 0


def test_a_close_fill_enters_on_the_first_defined_bar(seed_dir: Path) -> None:
    prices = load_prices(seed_dir / "600519.csv")
    for fast, slow in ((1, 2), (1, 3), (2, 5), (3, 10), (1, 15)):
        expected, _ = rule_sma_cross(prices, {"fast": fast, "slow": slow})
        if expected[slow - 1] > 0:
            break
    else:
        pytest.fail("no combination is long on its first defined bar: pick other windows")
    res = run_backtest(prices, "sma_cross", {"fast": fast, "slow": slow}, fill="close")
    position = res.equity["position"].to_numpy()
    assert not position[: slow - 1].any() and position[slow - 1] > 0
    assert res.trades["entry_time"].iloc[0] == prices.index[slow - 1]


@pytest.mark.parametrize(
    ("kind", "call"),
    [
        ("sma", ind.sma),
        ("ema", ind.ema),
        ("rsi", ind.rsi),
        ("rolling_std", lambda x, w: ind.rolling_std(x, w, 0)),
        ("rolling_max", ind.rolling_max),
        ("rolling_min", ind.rolling_min),
        ("roc", ind.roc),
        ("shift", ind.shift),
    ],
)
def test_declared_lookbacks_are_where_the_arrays_become_defined(kind: str, call) -> None:
    x = 100.0 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.02, 400)))
    for w in (1, 2, 3, 14, 50, 399, 400):
        first = wu.lookback(kind, w)
        finite = np.flatnonzero(np.isfinite(call(x, w)))
        assert finite.tolist() == list(range(first, len(x))), (kind, w)  # from first on
    prior = ind.shift(ind.rolling_max(x, 20), 1)
    assert np.flatnonzero(np.isfinite(prior))[0] == wu.prior_lookback("rolling_max", 20)


def test_warmups_by_formula() -> None:
    # the numbers a user sees ("needs at least warmup + 1 bars"): where the rule first acts
    assert get_strategy("sma_cross").warmup({"fast": 10, "slow": 50}) == 49
    assert get_strategy("ema_cross").warmup({"fast": 12, "slow": 26}) == 25
    assert get_strategy("bollinger_reversion").warmup({"window": 20}) == 19
    assert get_strategy("rsi_reversion").warmup({"period": 14}) == 14
    assert get_strategy("donchian_breakout").warmup({"entry": 5, "exit": 30}) == 30
    assert get_strategy("momentum").warmup({"lookback": 60}) == 60
    assert get_strategy("buy_and_hold").warmup() == 0
    assert wu.warmup_from_lookbacks() == 0 and wu.warmup_from_lookbacks(3, 9, 4) == 9
    assert set(wu.BUILTIN) == {"sma_cross", "ema_cross", "rsi_reversion", "bollinger_reversion",
                               "donchian_breakout", "momentum", "buy_and_hold"}  # fmt: skip


def test_exactly_warmup_plus_one_bars_run(seed_dir: Path) -> None:
    prices = load_prices(seed_dir / "600519.csv")
    for name, p in (("sma_cross", {"fast": 3, "slow": 30}), ("bollinger_reversion", {})):
        need = get_strategy(name).warmup(p) + 1
        res = run_backtest(prices.iloc[:need], name, p, fill="close")
        assert len(res.equity) == need


@pytest.mark.parametrize(
    "options",
    [SimOptions(), SimOptions(fill="close", stop_loss=5.0), SimOptions(allow_short=True)],
    ids=["default", "close-stop", "short"],
)
def test_sweep_rows_equal_single_runs_at_the_warm_up_edge(seed_dir: Path, options) -> None:
    prices = load_prices(seed_dir / "600519.csv")
    for name, rule, param_sets in CASES:
        strategy = get_strategy(name)
        combos = [strategy.validate(p) for p in param_sets]
        metrics, _ = evaluate(prices, strategy, combos, options)
        for row, p in zip(metrics, combos, strict=True):
            single = run_backtest(prices, name, p, options=options)
            got = dict(zip(METRIC_ORDER, row, strict=True))
            assert got["total_return"] == pytest.approx(
                single.metrics["total_return"], rel=1e-12, abs=1e-15
            ), (name, p)
            assert got["n_trades"] == single.metrics["n_trades"], (name, p)
