"""Indicators and state machines for strategy authors: ``from engine import helpers as h``.

Stability: the names in :data:`__all__` and the definitions in their docstrings (what each
value is, where it is NaN, argument order and defaults) are a contract. They will not change
within the project; a different definition gets a new name. Anything not in ``__all__`` (and
the ``engine.sim`` modules behind it) may change at any time.

Every function is compiled with numba (the same code the built-in strategies run, from
:mod:`engine.sim.indicators` and :mod:`engine.sim.signals`) and can be called two ways:

- from plain Python: ``x`` may be any 1-D array-like of numbers (a numpy array, a list, a
  pandas Series); it is converted to a contiguous float64 array. A bad argument raises one
  ``TypeError``/``ValueError`` line naming the function and the argument;
- from your own ``@numba.njit`` function: arrays must be 1-D float64 numpy arrays (the
  ``bars`` columns are) and windows integers; numba refuses anything else when it compiles.

Each returns a new float64 array as long as its input. Values at bar ``i`` depend only on
inputs at bars ``<= i`` (no look-ahead). Windows are bar counts. The indicators are NaN
while undefined (the warm-up): the "defined from" line of each says exactly where they start,
for finite input. A NaN in the input makes an indicator NaN (or, for the state machines, never
trigger) while it is among the values used; ``sma`` is also NaN until the next point where it
re-sums its window from scratch (the first multiple of P = the smallest ``512 * 2**k >=
window`` at or after the NaN has left the window). Prices from the engine's loader are finite.

>>> import numpy as np
>>> from engine import helpers as h
>>> close = np.array([10.0, 11.0, 12.0, 11.0, 13.0])
>>> (close > h.sma(close, 3)).astype(float).tolist()
[0.0, 0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload

from engine.sim import indicators as _ind
from engine.sim import signals as _sig

if TYPE_CHECKING:
    from numba.core.decorators import _JITOptions

__all__ = [
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


# --- argument checks (Python callers) -------------------------------------------------------


def _series(fn: str, arg: str, x: Any) -> np.ndarray:
    """``x`` as a contiguous 1-D float64 array; one-line TypeError otherwise."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{fn}: {arg} must be a 1-D array of numbers ({exc})") from None
    if a.ndim != 1:
        raise TypeError(f"{fn}: {arg} must be a 1-D array of numbers, got {a.ndim}-D")
    return np.ascontiguousarray(a)


def _count(fn: str, arg: str, value: Any, low: int) -> int:
    """``value`` as an int >= ``low``; one-line TypeError/ValueError otherwise."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{fn}: {arg} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{fn}: {arg} must be >= {low}, got {value}")
    return int(value)


def _same_length(fn: str, *arrays: np.ndarray) -> None:
    if len({a.shape[0] for a in arrays}) > 1:
        lengths = ", ".join(str(a.shape[0]) for a in arrays)
        raise ValueError(f"{fn}: the arrays must have the same length, got {lengths}")


# --- indicators -----------------------------------------------------------------------------


def sma(x: Any, window: int) -> np.ndarray:
    """Simple moving average: ``sma[i] = mean(x[i - window + 1 .. i])``.

    ``x``: float64 array; ``window``: int >= 1. Defined from bar ``window - 1`` (NaN for the
    first ``window - 1`` bars). Accurate to a few ulps of each window's own mean (a
    compensated running sum, O(n)); ``sma(x, 1)`` is ``x``.

    >>> sma([1.0, 2.0, 3.0, 4.0], 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    x = _series("sma", "x", x)
    return _ind.sma(x, _count("sma", "window", window, 1))


def ema(x: Any, span: int) -> np.ndarray:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, seeded with an SMA.

    ``ema[span - 1] = mean(x[0 .. span - 1])``, then ``ema[i] = ema[i-1] + alpha * (x[i] -
    ema[i-1])`` (the TA-Lib convention; pandas' ``ewm(span, adjust=False)`` started from that
    seed). ``x``: float64 array; ``span``: int >= 1. Defined from bar ``span - 1``.

    >>> ema([1.0, 2.0, 3.0, 4.0], 3).tolist()
    [nan, nan, 2.0, 3.0]
    """
    x = _series("ema", "x", x)
    return _ind.ema(x, _count("ema", "span", span, 1))


def rsi(x: Any, period: int) -> np.ndarray:
    """Wilder's relative strength index, 0..100.

    Changes ``d[i] = x[i] - x[i-1]``; the first average gain (loss) is the mean of the
    positive (negative, as a magnitude) ``d[1 .. period]``, then ``avg = (avg * (period - 1)
    + new) / period``. ``rsi = 100 - 100 / (1 + avg_gain / avg_loss)``: 100 with gains and no
    loss, 50 when nothing moved. ``x``: float64 array; ``period``: int >= 1. Defined from bar
    ``period`` (NaN for the first ``period`` bars: a change needs two bars).

    >>> rsi([1.0, 2.0, 1.0, 2.0, 3.0], 2).tolist()
    [nan, nan, 50.0, 75.0, 87.5]
    """
    x = _series("rsi", "x", x)
    return _ind.rsi(x, _count("rsi", "period", period, 1))


def rolling_std(x: Any, window: int, ddof: int = 0) -> np.ndarray:
    """Standard deviation of ``x[i - window + 1 .. i]`` with ``window - ddof`` in the divisor.

    ``ddof`` 0 (the default) is the population std (Bollinger bands), 1 the sample std
    (pandas' default). ``x``: float64 array; ``window``: int >= 1; ``ddof``: int >= 0.
    Defined from bar ``window - 1``; all NaN when ``window <= ddof``. A constant window
    gives exactly 0.

    >>> rolling_std([1.0, 3.0, 5.0, 5.0], 2).tolist()
    [nan, 1.0, 1.0, 0.0]
    """
    x = _series("rolling_std", "x", x)
    w = _count("rolling_std", "window", window, 1)
    return _ind.rolling_std(x, w, _count("rolling_std", "ddof", ddof, 0))


def rolling_max(x: Any, window: int) -> np.ndarray:
    """Maximum of ``x[i - window + 1 .. i]`` (the current bar included).

    ``x``: float64 array; ``window``: int >= 1. Defined from bar ``window - 1``. For a
    channel of the *prior* bars use ``shift(rolling_max(high, n), 1)`` (defined from bar n).

    >>> rolling_max([3.0, 1.0, 2.0, 0.0], 2).tolist()
    [nan, 3.0, 2.0, 2.0]
    """
    x = _series("rolling_max", "x", x)
    return _ind.rolling_max(x, _count("rolling_max", "window", window, 1))


def rolling_min(x: Any, window: int) -> np.ndarray:
    """Minimum of ``x[i - window + 1 .. i]`` (the current bar included).

    ``x``: float64 array; ``window``: int >= 1. Defined from bar ``window - 1``.

    >>> rolling_min([3.0, 1.0, 2.0, 0.0], 2).tolist()
    [nan, 1.0, 1.0, 0.0]
    """
    x = _series("rolling_min", "x", x)
    return _ind.rolling_min(x, _count("rolling_min", "window", window, 1))


def roc(x: Any, lookback: int) -> np.ndarray:
    """Rate of change: ``roc[i] = x[i] / x[i - lookback] - 1`` (0.1 is +10%).

    ``x``: float64 array; ``lookback``: int >= 1. Defined from bar ``lookback``.

    >>> roc([100.0, 110.0, 121.0], 1).round(12).tolist()
    [nan, 0.1, 0.1]
    """
    x = _series("roc", "x", x)
    return _ind.roc(x, _count("roc", "lookback", lookback, 1))


def shift(x: Any, periods: int) -> np.ndarray:
    """``x`` delayed by ``periods`` bars: ``shift[i] = x[i - periods]``, NaN for the first
    ``periods`` bars.

    ``x``: float64 array; ``periods``: int >= 0 (a negative shift would look ahead, so it is
    refused). If ``x`` is defined from bar k, the result is defined from bar k + periods.

    >>> shift([1.0, 2.0, 3.0], 1).tolist()
    [nan, 1.0, 2.0]
    """
    x = _series("shift", "x", x)
    return _ind.shift(x, _count("shift", "periods", periods, 0))


# --- state machines -------------------------------------------------------------------------


def cross_sign(fast: Any, slow: Any) -> np.ndarray:
    """``+1`` where fast > slow, ``-1`` where fast < slow, ``0`` where they are equal within
    ``1e-12 * max(|fast|, |slow|)`` (rounding noise is no cross) or either is NaN.

    Both float64 arrays of the same length. ``cross_sign(sma(c, 10), sma(c, 50))`` is the
    target of the built-in ``sma_cross(fast=10, slow=50)``, bar for bar.

    >>> cross_sign([1.0, 2.0, 3.0, float("nan")], [2.0, 2.0, 2.0, 1.0]).tolist()
    [-1.0, 0.0, 1.0, 0.0]
    """
    a, b = _series("cross_sign", "fast", fast), _series("cross_sign", "slow", slow)
    _same_length("cross_sign", a, b)
    return _sig.cross_sign(a, b)


def band_state(
    x: Any, enter_long: Any, enter_short: Any, exit_long: Any, exit_short: Any
) -> np.ndarray:
    """Mean-reversion state machine (starts flat, 0). At each bar, the first that holds:

    1. ``x < enter_long`` -> +1;  2. ``x > enter_short`` -> -1;
    3. long and ``x >= exit_long`` -> 0;  4. short and ``x <= exit_short`` -> 0;
    5. else the previous state.

    Five float64 arrays of the same length (``np.full(n, level)`` for a constant level; an
    infinite level never triggers). A comparison with NaN is false, so NaN values or levels
    never trigger: the state holds.

    >>> lo, hi, mid = [1.0] * 5, [3.0] * 5, [2.0] * 5
    >>> band_state([2.0, 0.5, 1.5, 2.5, 3.5], lo, hi, mid, mid).tolist()
    [0.0, 1.0, 1.0, 0.0, -1.0]
    """
    given = {"x": x, "enter_long": enter_long, "enter_short": enter_short,
             "exit_long": exit_long, "exit_short": exit_short}  # fmt: skip
    arrays = [_series("band_state", name, v) for name, v in given.items()]
    _same_length("band_state", *arrays)
    return _sig.band_state(*arrays)


def breakout_state(close: Any, hi_n: Any, lo_n: Any, hi_m: Any, lo_m: Any) -> np.ndarray:
    """Breakout state machine (starts flat, 0). At each bar, the first that holds:

    1. ``close > hi_n`` -> +1;  2. ``close < lo_n`` -> -1;
    3. long and ``close < lo_m`` -> 0;  4. short and ``close > hi_m`` -> 0;
    5. else the previous state.

    Five float64 arrays of the same length; the levels are usually prior channels,
    ``shift(rolling_max(high, n), 1)`` etc. (the built-in ``donchian_breakout``). NaN levels
    never trigger.

    >>> hi_n, lo_n, hi_m, lo_m = [10.0] * 4, [5.0] * 4, [9.0] * 4, [7.0] * 4
    >>> breakout_state([8.0, 11.0, 8.0, 6.0], hi_n, lo_n, hi_m, lo_m).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    given = {"close": close, "hi_n": hi_n, "lo_n": lo_n, "hi_m": hi_m, "lo_m": lo_m}
    arrays = [_series("breakout_state", name, v) for name, v in given.items()]
    _same_length("breakout_state", *arrays)
    return _sig.breakout_state(*arrays)


# --- the same functions inside numba-compiled code ------------------------------------------
# numba cannot call the Python functions above; these overloads give it the same names with
# the same semantics (typed: float64 1-D arrays, integer windows), calling the same kernels.


def _need_array(fn: str, **args: Any) -> None:
    for name, t in args.items():
        if not (isinstance(t, types.Array) and t.ndim == 1 and t.dtype == types.float64):
            raise TypingError(f"engine.helpers.{fn}: {name} must be a 1-D float64 array, got {t}")


def _need_int(fn: str, **args: Any) -> None:
    for name, t in args.items():
        if isinstance(t, types.Omitted | int):  # an omitted argument: its default
            continue
        if not isinstance(t, types.Integer) or isinstance(t, types.Boolean):
            raise TypingError(f"engine.helpers.{fn}: {name} must be an integer, got {t}")


_OPTS: _JITOptions = {"nogil": True, "error_model": "numpy"}


@overload(sma, jit_options=_OPTS)
def _sma_jit(x, window):
    _need_array("sma", x=x)
    _need_int("sma", window=window)

    def impl(x, window):
        if window < 1:
            raise ValueError("engine.helpers.sma: window must be >= 1")
        out = np.empty(x.shape[0])
        _ind.sma_into(x, window, out)
        return out

    return impl


@overload(ema, jit_options=_OPTS)
def _ema_jit(x, span):
    _need_array("ema", x=x)
    _need_int("ema", span=span)

    def impl(x, span):
        if span < 1:
            raise ValueError("engine.helpers.ema: span must be >= 1")
        out = np.empty(x.shape[0])
        _ind.ema_into(x, span, out)
        return out

    return impl


@overload(rsi, jit_options=_OPTS)
def _rsi_jit(x, period):
    _need_array("rsi", x=x)
    _need_int("rsi", period=period)

    def impl(x, period):
        if period < 1:
            raise ValueError("engine.helpers.rsi: period must be >= 1")
        out = np.empty(x.shape[0])
        _ind.rsi_into(x, period, out)
        return out

    return impl


@overload(rolling_std, jit_options=_OPTS)
def _rolling_std_jit(x, window, ddof=0):
    _need_array("rolling_std", x=x)
    _need_int("rolling_std", window=window, ddof=ddof)

    def impl(x, window, ddof=0):
        if window < 1 or ddof < 0:
            raise ValueError("engine.helpers.rolling_std: window must be >= 1 and ddof >= 0")
        out = np.empty(x.shape[0])
        _ind.rolling_std_into(x, window, ddof, out)
        return out

    return impl


def _extreme_jit(fn: str, is_max: bool) -> Any:
    def typer(x, window):
        _need_array(fn, x=x)
        _need_int(fn, window=window)

        def impl(x, window):
            if window < 1:
                raise ValueError("engine.helpers.rolling_max/min: window must be >= 1")
            out = np.empty(x.shape[0])
            _ind.rolling_extreme_into(x, window, is_max, out, np.empty(x.shape[0], np.int64))
            return out

        return impl

    return typer


overload(rolling_max, jit_options=_OPTS)(_extreme_jit("rolling_max", True))
overload(rolling_min, jit_options=_OPTS)(_extreme_jit("rolling_min", False))


@overload(roc, jit_options=_OPTS)
def _roc_jit(x, lookback):
    _need_array("roc", x=x)
    _need_int("roc", lookback=lookback)

    def impl(x, lookback):
        if lookback < 1:
            raise ValueError("engine.helpers.roc: lookback must be >= 1")
        out = np.empty(x.shape[0])
        _ind.roc_into(x, lookback, out)
        return out

    return impl


@overload(shift, jit_options=_OPTS)
def _shift_jit(x, periods):
    _need_array("shift", x=x)
    _need_int("shift", periods=periods)

    def impl(x, periods):
        if periods < 0:
            raise ValueError("engine.helpers.shift: periods must be >= 0 (no look-ahead)")
        out = np.empty(x.shape[0])
        _ind.shift_into(x, periods, out)
        return out

    return impl


@overload(cross_sign, jit_options=_OPTS)
def _cross_sign_jit(fast, slow):
    _need_array("cross_sign", fast=fast, slow=slow)

    def impl(fast, slow):
        if fast.shape[0] != slow.shape[0]:
            raise ValueError("engine.helpers.cross_sign: the arrays must have the same length")
        out = np.empty(fast.shape[0])
        _sig.cross_sign_into(fast, slow, out)
        return out

    return impl


@overload(band_state, jit_options=_OPTS)
def _band_state_jit(x, enter_long, enter_short, exit_long, exit_short):
    _need_array("band_state", x=x, enter_long=enter_long, enter_short=enter_short,
                exit_long=exit_long, exit_short=exit_short)  # fmt: skip

    def impl(x, enter_long, enter_short, exit_long, exit_short):
        n = x.shape[0]
        if (enter_long.shape[0] != n or enter_short.shape[0] != n or exit_long.shape[0] != n
                or exit_short.shape[0] != n):  # fmt: skip
            raise ValueError("engine.helpers.band_state: the arrays must have the same length")
        out = np.empty(n)
        _sig.band_state_into(x, enter_long, enter_short, exit_long, exit_short, out)
        return out

    return impl


@overload(breakout_state, jit_options=_OPTS)
def _breakout_state_jit(close, hi_n, lo_n, hi_m, lo_m):
    _need_array("breakout_state", close=close, hi_n=hi_n, lo_n=lo_n, hi_m=hi_m, lo_m=lo_m)

    def impl(close, hi_n, lo_n, hi_m, lo_m):
        n = close.shape[0]
        if (hi_n.shape[0] != n or lo_n.shape[0] != n or hi_m.shape[0] != n
                or lo_m.shape[0] != n):  # fmt: skip
            raise ValueError("engine.helpers.breakout_state: the arrays must have the same length")
        out = np.empty(n)
        _sig.breakout_state_into(close, hi_n, lo_n, hi_m, lo_m, out)
        return out

    return impl
