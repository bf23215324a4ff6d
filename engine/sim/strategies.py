"""Strategy registry: name -> typed parameter schema + signal function + warm-up.

A strategy turns :class:`Bars` into a target position per bar: +1 long, 0 flat, -1 short. The
engine clips -1 to 0 unless shorting is allowed, so every strategy here is long-only by default.
Targets use only data up to and including each bar's close, and are 0 for the first
``warmup(params)`` bars: up to the first bar where all the strategy's indicators are defined
(derived from their lookbacks in :mod:`engine.sim.warmup`), where the rule acts. The CLI
``--help``, parameter validation and the dashboard's form are all generated from
:data:`STRATEGIES`.

Indicator arrays are memoised in the optional ``cache`` dict, keyed like ``("sma", 20)``; one
cache belongs to one :class:`Bars`, so a sweep computes each distinct indicator once. Without a
cache (a single run) a signal function gets ``cache=None`` and may skip materialising its
indicators (sma_cross computes both averages and the comparison in one pass).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from engine.errors import ParamError
from engine.sim import indicators as ind
from engine.sim import signals as sig
from engine.sim import warmup as wu

Cache = dict[tuple[Any, ...], np.ndarray]
PARAM_KINDS = ("int", "float", "bool", "choice")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class Bars(NamedTuple):
    """OHLCV as float64 1-D numpy arrays of the same length, and the timestamps (``index``,
    a DatetimeIndex; None when the bars were made from bare arrays)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    index: Any = None

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Bars:
        """Bars from a :func:`engine.data.load_prices` frame (volume 0 when absent)."""

        def col(name: str) -> np.ndarray:
            if name == "volume" and name not in df:
                return np.zeros(len(df))
            return np.ascontiguousarray(df[name].to_numpy(dtype=np.float64))

        return cls(col("open"), col("high"), col("low"), col("close"), col("volume"), df.index)

    def head(self, n: int) -> Bars:
        """The first ``n`` bars."""
        index = None if self.index is None else self.index[:n]
        o, h, lo, c, v = (a[:n] for a in self[:5])
        return Bars(o, h, lo, c, v, index)


@dataclass(frozen=True)
class Param:
    """One typed parameter: kind is int, float, bool or choice; low/high are inclusive."""

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def coerce(self, value: Any) -> Any:
        """Parse ``value`` (also a CLI string like "15", "2.5", "true") into this kind."""
        try:
            if self.kind == "int":
                return _to_int(value)
            if self.kind == "float":
                return _to_float(value)
            if self.kind == "bool":
                return _to_bool(value)
        except (TypeError, ValueError):
            raise ParamError(
                f"{self.name}={value!r} is not a valid {self.kind}; allowed {self.allowed()}"
            ) from None
        for choice in self.choices or ():
            if value == choice or str(value) == str(choice):
                return choice
        raise ParamError(f"{self.name}={value!r} is not allowed; choose one of {self.allowed()}")

    def check(self, value: Any) -> Any:
        """Coerce ``value`` and check the bounds; ParamError naming the allowed range."""
        v = self.coerce(value)
        if self.kind in ("int", "float") and (
            (self.low is not None and v < self.low) or (self.high is not None and v > self.high)
        ):
            raise ParamError(f"{self.name}={value!r} is out of range; allowed {self.allowed()}")
        return v

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``"int 2..1000"``."""
        if self.kind == "choice":
            return ", ".join(str(c) for c in self.choices or ())
        if self.kind == "bool":
            return "true or false"
        low = "-inf" if self.low is None else _fmt(self.low)
        high = "inf" if self.high is None else _fmt(self.high)
        return f"{self.kind} {low}..{high}"


@dataclass(frozen=True)
class Constraint:
    """A cross-parameter rule: ``check(params)`` must hold; ``message`` says how to fix it."""

    names: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], bool]
    message: str


# ``cache`` is None when the caller keeps none: compute, do not store
SignalFn = Callable[[Bars, Mapping[str, Any], Cache | None], np.ndarray]
WarmupFn = Callable[[Mapping[str, Any]], int]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: schema, constraints, signal function and warm-up function."""

    name: str
    description: str
    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...]
    signal_fn: SignalFn
    warmup_fn: WarmupFn
    # a strategy file's exact source and its sha256 (None for a built-in of the engine)
    source: str | None = None
    sha256: str | None = None

    @property
    def is_file(self) -> bool:
        """True for a strategy loaded from a team's file (``strategies/<NAME>.py``)."""
        return self.sha256 is not None

    def param(self, name: str) -> Param:
        """The :class:`Param` called ``name``; ParamError listing the known ones."""
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise ParamError(f"{self.name} has no parameter {name!r}; known parameters: {known}")

    def defaults(self) -> dict[str, Any]:
        """Default value of every parameter."""
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Fill defaults, coerce, check bounds and constraints; return a new dict.

        Raises :class:`ParamError` (one line naming the parameter, the value given and what
        is allowed) for an unknown name, a bad value or a violated constraint.
        """
        given = dict(params or {})
        for name in given:
            self.param(name)
        try:
            out = {
                p.name: p.check(given[p.name]) if p.name in given else p.default
                for p in self.params
            }
        except ParamError as exc:
            raise ParamError(f"{self.name}: {exc}") from None
        for c in self.constraints:
            if not c.check(out):
                shown = ", ".join(f"{n}={_fmt(out[n])}" for n in c.names)
                raise ParamError(f"{self.name}: {c.message} (got {shown})")
        return out

    def is_valid(self, params: Mapping[str, Any] | None = None) -> bool:
        """True when :meth:`validate` would accept ``params`` (used to drop sweep combos)."""
        try:
            self.validate(params)
        except ParamError:
            return False
        return True

    def warmup(self, params: Mapping[str, Any] | None = None) -> int:
        """Bars whose target is forced to 0: the first bar where all the strategy's indicators
        are defined (:mod:`engine.sim.warmup`); data needs more bars than this."""
        return int(self.warmup_fn(self.validate(params)))

    def signal(
        self, bars: Bars, params: Mapping[str, Any] | None = None, cache: Cache | None = None
    ) -> np.ndarray:
        """Target per bar (float64 in {-1, 0, 1}), 0 during the warm-up."""
        p = self.validate(params)
        # signal functions return a fresh array (never a cached one), so it is ours to edit
        target = np.asarray(self.signal_fn(bars, p, cache), np.float64)
        target[: self.warmup_fn(p)] = 0.0
        return target

    def label(self, params: Mapping[str, Any] | None = None) -> str:
        """``"sma_cross(fast=10, slow=50)"``: the name with validated parameters."""
        p = self.validate(params)
        return f"{self.name}({', '.join(f'{k}={_fmt(v)}' for k, v in p.items())})"


# --- parsing helpers -------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _to_int(value: Any) -> int:
    if isinstance(value, bool | np.bool_):
        raise TypeError("bool is not an int")
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)
        except ValueError:
            value = float(value)
    f = float(value)
    if not f.is_integer():
        raise ValueError("not a whole number")
    return int(f)


def _to_float(value: Any) -> float:
    if isinstance(value, bool | np.bool_):
        raise TypeError("bool is not a float")
    f = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(f):
        raise ValueError("not finite")
    return f


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a bool")


# --- cached indicators -----------------------------------------------------------------------


def _cached(
    cache: Cache | None, key: tuple[Any, ...], make: Callable[[], np.ndarray]
) -> np.ndarray:
    if cache is None:
        return make()
    arr = cache.get(key)
    if arr is None:
        arr = make()
        cache[key] = arr
    return arr


def _sma(bars: Bars, w: int, cache: Cache | None) -> np.ndarray:
    return _cached(cache, ("sma", w), lambda: ind.sma(bars.close, w))


def _ema(bars: Bars, w: int, cache: Cache | None) -> np.ndarray:
    return _cached(cache, ("ema", w), lambda: ind.ema(bars.close, w))


# --- strategies ------------------------------------------------------------------------------


def _sma_cross(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    if cache is None:  # one pass, no SMA arrays: bit-identical to the cached path below
        out = np.empty(bars.close.shape[0])
        sig.sma_cross_into(bars.close, p["fast"], p["slow"], out)
        return out
    return sig.cross_sign(_sma(bars, p["fast"], cache), _sma(bars, p["slow"], cache))


def _ema_cross(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    return sig.cross_sign(_ema(bars, p["fast"], cache), _ema(bars, p["slow"], cache))


def _rsi_reversion(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    r = _cached(cache, ("rsi", p["period"]), lambda: ind.rsi(bars.close, p["period"]))
    n = r.shape[0]
    lower, upper = np.full(n, float(p["lower"])), np.full(n, float(p["upper"]))
    # long after RSI < lower until RSI > upper (which flips to short, i.e. flat when long-only)
    return sig.band_state(r, lower, upper, np.full(n, np.inf), np.full(n, -np.inf))


def _bollinger_reversion(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    w, k = p["window"], p["k"]
    mid = _sma(bars, w, cache)
    sd = _cached(cache, ("std", w, 0), lambda: ind.rolling_std(bars.close, w, 0))
    width = k * sd
    # no bands on a flat window: rounding noise around the mean must not trigger entries
    width[sd <= sig.REL_TOL * np.abs(mid)] = np.nan
    return sig.band_state(bars.close, mid - width, mid + width, mid, mid)


def _donchian_breakout(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    def prior(kind: str, w: int) -> np.ndarray:
        fn = ind.rolling_max if kind == "max" else ind.rolling_min
        src = bars.high if kind == "max" else bars.low
        return _cached(cache, ("prior_" + kind, w), lambda: ind.shift(fn(src, w), 1))

    hi_n, lo_n = prior("max", p["entry"]), prior("min", p["entry"])
    hi_m, lo_m = prior("max", p["exit"]), prior("min", p["exit"])
    # the state machine starts flat on the first bar where all four channels exist (as
    # backtrader's next() does): with entry < exit an entry before the exit channel exists
    # would otherwise be held, unseen behind the warm-up, into the first defined bar
    start = wu.donchian_breakout(p)
    out = np.zeros(bars.close.shape[0])
    levels = (a[start:] for a in (bars.close, hi_n, lo_n, hi_m, lo_m))
    out[start:] = sig.breakout_state(*levels)
    return out


def _momentum(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    r = _cached(cache, ("roc", p["lookback"]), lambda: ind.roc(bars.close, p["lookback"]))
    t = float(p["threshold"])
    out = np.zeros(r.shape[0])
    out[r > t] = 1.0
    out[r < -t] = -1.0
    return out


def _buy_and_hold(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
    return np.ones(bars.close.shape[0])


def _window(name: str, default: int, help_: str, low: int = 1) -> Param:
    return Param(name, "int", default, low, 10_000, help_)


def _less(a: str, b: str) -> Constraint:
    return Constraint((a, b), lambda p: p[a] < p[b], f"{a} must be < {b}")


def _register(*strategies: Strategy) -> dict[str, Strategy]:
    return {s.name: s for s in strategies}


STRATEGIES: dict[str, Strategy] = _register(
    Strategy(
        "sma_cross",
        "Long while SMA(close, fast) > SMA(close, slow); short (if allowed) while below.",
        (
            _window("fast", 10, "fast moving-average window, bars"),
            _window("slow", 50, "slow moving-average window, bars", low=2),
        ),
        (_less("fast", "slow"),),
        _sma_cross,
        wu.sma_cross,
    ),
    Strategy(
        "ema_cross",
        "Long while EMA(close, fast) > EMA(close, slow); short (if allowed) while below.",
        (
            _window("fast", 12, "fast EMA span, bars"),
            _window("slow", 26, "slow EMA span, bars", low=2),
        ),
        (_less("fast", "slow"),),
        _ema_cross,
        wu.ema_cross,
    ),
    Strategy(
        "rsi_reversion",
        "Long once Wilder RSI(period) < lower, held until RSI > upper; short (if allowed) "
        "once RSI > upper, held until RSI < lower.",
        (
            _window("period", 14, "RSI period, bars", low=2),
            Param("lower", "float", 30.0, 0.0, 100.0, "oversold level: go long below it"),
            Param("upper", "float", 70.0, 0.0, 100.0, "overbought level: exit / short above it"),
        ),
        (_less("lower", "upper"),),
        _rsi_reversion,
        wu.rsi_reversion,
    ),
    Strategy(
        "bollinger_reversion",
        "Long once close < SMA(window) - k*std, held until close >= SMA; short (if allowed) "
        "once close > SMA + k*std, held until close <= SMA (population std).",
        (
            _window("window", 20, "band window, bars", low=2),
            Param("k", "float", 2.0, 0.1, 10.0, "band width in standard deviations"),
        ),
        (),
        _bollinger_reversion,
        wu.bollinger_reversion,
    ),
    Strategy(
        "donchian_breakout",
        "Long on a close above the prior `entry`-bar high, exit on a close below the prior "
        "`exit`-bar low; short (if allowed) mirrors it.",
        (
            _window("entry", 20, "breakout channel, bars (excluding the current bar)"),
            _window("exit", 10, "exit channel, bars (excluding the current bar)"),
        ),
        (),
        _donchian_breakout,
        wu.donchian_breakout,
    ),
    Strategy(
        "momentum",
        "Long while close / close[lookback bars ago] - 1 > threshold; short (if allowed) "
        "while it is < -threshold.",
        (
            _window("lookback", 60, "rate-of-change lookback, bars"),
            Param("threshold", "float", 0.0, 0.0, 10.0, "minimum |return| to hold, a fraction"),
        ),
        (),
        _momentum,
        wu.momentum,
    ),
    Strategy("buy_and_hold", "Always long.", (), (), _buy_and_hold, wu.buy_and_hold),
)


# Strategy files this process has loaded (engine.userstrat.loader registers them): the engine
# runs one file per name per process (a run, a sweep child, a collect), so get_strategy finds it
# by name like a built-in. The dashboard never loads one, so it finds only built-ins here.
FILE_STRATEGIES: dict[str, Strategy] = {}


def register_file_strategy(strategy: Strategy) -> Strategy:
    """Make a loaded strategy file findable by :func:`get_strategy` in this process."""
    if strategy.name in STRATEGIES:
        raise ParamError(f"{strategy.name!r} is a built-in strategy; a file cannot replace it")
    FILE_STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    """The built-in (or, in the engine, loaded file) strategy ``name``; ParamError listing the
    known names."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        pass
    if isinstance(name, str) and name in FILE_STRATEGIES:
        return FILE_STRATEGIES[name]
    known = ", ".join(sorted(STRATEGIES))
    raise ParamError(
        f"unknown strategy {name!r}; known strategies: {known} (or a file "
        f"strategies/{name}.py in the input bucket)"
    )


def list_strategies() -> list[Strategy]:
    """All registered strategies, sorted by name."""
    return [STRATEGIES[k] for k in sorted(STRATEGIES)]
