"""Strategy registry: name -> typed parameter schema + signal function + warm-up.

A strategy turns :class:`Bars` into a target position per bar: +1 long, 0 flat, -1 short. The
engine clips -1 to 0 unless shorting is allowed, so every strategy here is long-only by default.
Targets use only data up to and including each bar's close, and are 0 for the first
``warmup(params)`` bars: up to the first bar where all the strategy's indicators are defined
(derived from their lookbacks in :mod:`engine.sim.warmup`), where the rule acts. The CLI
``--help``, parameter validation and the dashboard's form are all generated from
:data:`STRATEGIES`. Each built-in is a module of the strategy-file contract
(``engine/sim/builtin/<name>.py``: NAME, DESCRIPTION, PARAMS, CONSTRAINTS, signal), read by the
same contract reader as a team's file (:mod:`engine.sim.contract`); a team's loaded files are
found by name too (:func:`register_file_strategy`).

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

Cache = dict[tuple[Any, ...], np.ndarray]
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


# --- the registry -----------------------------------------------------------------------------


def _builtins() -> dict[str, Strategy]:
    # each built-in is a module of the strategy-file contract (engine/sim/builtin/<name>.py),
    # read by the same contract reader as a team's file
    from engine.sim.builtin import load

    return load()


STRATEGIES: dict[str, Strategy] = _builtins()


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
