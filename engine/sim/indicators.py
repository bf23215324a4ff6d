"""Technical indicators: numba-compiled, float64 array in, float64 array out, O(n).

Every function returns an array as long as its input, NaN where the indicator is not yet
defined (the warm-up), and uses only values up to and including each bar: changing a later
value never changes an earlier output. Windows are bar counts (>= 1); the callers (the
strategy registry) validate them, so these kernels do not re-check.

Each public function is a thin Python wrapper that allocates its output with numpy and fills
it with the compiled ``*_into`` kernel of the same name (``sma_into(x, window, out)``...).
Large numpy allocations get transparent huge pages here; arrays allocated inside numba do
not, and their 4 KiB page faults cost about 3 ms per million bars and array.

The state machines that turn indicator arrays into targets live in :mod:`engine.sim.signals`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Window sums are re-computed from scratch at the first defined bar and at every multiple of
# the window's period (RESYNC * 2**k >= window), so a NaN or an inf that has left the window
# stops affecting the sum; in between they are updated with an error-free (compensated) add,
# so their error stays relative to the current window's values. The periods are powers of two
# times RESYNC, so every multiple of the larger period is a re-sum point of both windows of
# sma_cross (its blocks).
RESYNC = 512
_U = 2.0**-53  # unit roundoff
# rolling_std re-computes a window exactly when its sum of squared deviations is within this
# many (window x mean^2) ulps of zero: the rolling update's own error there, so a flat window
# (e.g. two equal closes) is exactly 0 rather than sqrt(rounding noise) ~ 1e-8 * price.
_FLAT = 64.0 * _U

_jit = njit(cache=True, nogil=True, error_model="numpy")
# small helpers are inlined at numba IR level: as separate calls they cost ~5x in the hot loops
_jit_inline = njit(nogil=True, error_model="numpy", inline="always")


@_jit_inline
def _period(window: int) -> int:
    """Re-sum period of a window: the smallest ``RESYNC * 2**k >= window``."""
    p = RESYNC
    while p < window:
        p *= 2
    return p


@_jit_inline
def _window_sum(x: np.ndarray, start: int, stop: int) -> tuple[float, float]:
    """Compensated sum of ``x[start:stop]`` as (sum, correction) (Knuth's TwoSum per add)."""
    s = 0.0
    c = 0.0
    for j in range(start, stop):
        a = s
        b = x[j]
        s = a + b
        bb = s - a
        c += (a - (s - bb)) + (b - bb)
    return s, c


@_jit_inline
def _slide(x: np.ndarray, i: int, window: int, s: float, c: float) -> tuple[float, float]:
    """Move the window-sum state (s + c = sum of x[i-window..i-1]) to bar ``i``.

    The new value minus the leaving one is formed exactly (TwoSum) and added with a TwoSum,
    the rounding errors kept in ``c``: the sum stays within a few ulps of the *current*
    window's sum however far the series has fallen since (a plain running sum keeps an
    absolute error of the largest sums seen, so after a x10,000 fall SMA(1) and SMA(2) of a
    flat close could differ). One add on the loop-carried chain, like a plain running sum.
    """
    a = x[i]
    b = -x[i - window]
    d = a + b
    bb = d - a
    ed = (a - (d - bb)) + (b - bb)
    t = s + d
    bb = t - s
    es = (s - (t - bb)) + (d - bb)
    return t, c + (es + ed)


@_jit
def sma_into(x: np.ndarray, window: int, out: np.ndarray) -> None:
    """Fill ``out`` with :func:`sma` of ``x``."""
    n = x.shape[0]
    out[: min(window - 1, n)] = np.nan
    p = _period(window)
    i = window - 1
    while i < n:
        s, c = _window_sum(x, i - window + 1, i + 1)
        out[i] = (s + c) / window
        stop = min((i // p + 1) * p, n)
        for j in range(i + 1, stop):
            s, c = _slide(x, j, window, s, c)
            out[j] = (s + c) / window
        i = stop


def sma(x: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average of the last ``window`` values; NaN for the first ``window - 1``.

    O(n): a compensated running sum (one exact add and subtract per bar, re-summed at the
    first defined bar and every multiple of ``RESYNC * 2**k >= window``), accurate to a few
    ulps of each window's own mean.

    >>> sma(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    out = np.empty(x.shape[0])
    sma_into(x, window, out)
    return out


@njit(cache=True)
def ema_into(x: np.ndarray, span: int, out: np.ndarray) -> None:
    """Fill ``out`` with :func:`ema` of ``x``."""
    n = x.shape[0]
    out[: min(span - 1, n)] = np.nan
    if n < span:
        return
    alpha = 2.0 / (span + 1.0)
    seed = 0.0
    for i in range(span):
        seed += x[i]
    prev = seed / span
    out[span - 1] = prev
    for i in range(span, n):
        prev = prev + alpha * (x[i] - prev)
        out[i] = prev


def ema(x: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average with ``alpha = 2 / (span + 1)``, seeded with an SMA.

    Output ``span - 1`` is the mean of the first ``span`` values (the TA-Lib convention);
    after that ``ema[i] = ema[i-1] + alpha * (x[i] - ema[i-1])``. NaN before the seed.

    >>> ema(np.array([1.0, 2.0, 3.0, 4.0]), 3).tolist()
    [nan, nan, 2.0, 3.0]
    """
    out = np.empty(x.shape[0])
    ema_into(x, span, out)
    return out


@njit(cache=True)
def rsi_into(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """Fill ``out`` with :func:`rsi` of ``x``."""
    n = x.shape[0]
    out[: min(period, n)] = np.nan
    if n <= period:
        return
    gain = 0.0
    loss = 0.0
    for i in range(1, period + 1):
        d = x[i] - x[i - 1]
        if d > 0:
            gain += d
        else:
            loss -= d
    gain /= period
    loss /= period
    out[period] = _rsi_value(gain, loss)
    for i in range(period + 1, n):
        d = x[i] - x[i - 1]
        g = d if d > 0 else 0.0
        lo = -d if d < 0 else 0.0
        gain = (gain * (period - 1) + g) / period
        loss = (loss * (period - 1) + lo) / period
        out[i] = _rsi_value(gain, loss)


def rsi(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's relative strength index (0..100); NaN for the first ``period`` values.

    Changes ``d[i] = x[i] - x[i-1]``; the first average gain/loss is the plain mean of
    ``d[1..period]``, then ``avg = (avg * (period - 1) + new) / period``.
    ``RSI = 100 - 100 / (1 + avg_gain / avg_loss)``; 100 when there is no loss but a gain,
    50 when the price did not move at all.

    >>> rsi(np.array([1.0, 2.0, 1.0, 2.0, 3.0]), 2).tolist()
    [nan, nan, 50.0, 75.0, 87.5]
    """
    out = np.empty(x.shape[0])
    rsi_into(x, period, out)
    return out


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


@njit(cache=True)
def rolling_std_into(x: np.ndarray, window: int, ddof: int, out: np.ndarray) -> None:
    """Fill ``out`` with :func:`rolling_std` of ``x``."""
    n = x.shape[0]
    if window - ddof <= 0:
        out[:] = np.nan
        return
    out[: min(window - 1, n)] = np.nan
    mean = 0.0
    m2 = 0.0
    countdown = 0
    for i in range(window - 1, n):
        start = i - window + 1
        if countdown == 0:
            mean, m2 = _window_moments(x, start, i + 1)
            countdown = window
        else:
            old = x[start - 1]
            delta = x[i] - old
            new_mean = mean + delta / window
            m2 += delta * (x[i] - new_mean + old - mean)
            mean = new_mean
            if m2 <= _FLAT * window * (mean * mean) and m2 != 0.0:
                # within the updates' rounding error of a flat window: decide it exactly
                mean, m2 = _window_moments(x, start, i + 1)
        countdown -= 1
        out[i] = np.sqrt(max(m2, 0.0) / (window - ddof))


def rolling_std(x: np.ndarray, window: int, ddof: int = 0) -> np.ndarray:
    """Standard deviation of the last ``window`` values (``ddof`` 0: population, as Bollinger).

    Rolling Welford update (add the new value, remove the one leaving the window), re-synced
    with an exact corrected two-pass computation every ``window`` bars so rounding cannot
    drift (O(n) overall); a window whose update lands within its rounding error of zero is
    re-computed exactly, so a constant window gives exactly 0. NaN for the first
    ``window - 1`` values and wherever ``window - ddof <= 0``.

    >>> rolling_std(np.array([1.0, 3.0, 5.0, 5.0]), 2).tolist()
    [nan, 1.0, 1.0, 0.0]
    """
    out = np.empty(x.shape[0])
    rolling_std_into(x, window, ddof, out)
    return out


@njit(cache=True)
def _window_moments(x: np.ndarray, start: int, stop: int) -> tuple[float, float]:
    """Mean and sum of squared deviations of x[start:stop], corrected two-pass."""
    w = stop - start
    mean = 0.0
    for j in range(start, stop):
        mean += x[j]
    mean /= w
    corr = 0.0
    for j in range(start, stop):
        corr += x[j] - mean
    mean += corr / w
    m2 = 0.0
    for j in range(start, stop):
        m2 += (x[j] - mean) ** 2
    return mean, m2


def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    """Maximum of the last ``window`` values (monotonic deque, O(n)); NaN for the first
    ``window - 1``.

    >>> rolling_max(np.array([3.0, 1.0, 2.0, 0.0]), 2).tolist()
    [nan, 3.0, 2.0, 2.0]
    """
    out = np.empty(x.shape[0])
    rolling_extreme_into(x, window, True, out, np.empty(x.shape[0], dtype=np.int64))
    return out


def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    """Minimum of the last ``window`` values (monotonic deque, O(n)); NaN for the first
    ``window - 1``.

    >>> rolling_min(np.array([3.0, 1.0, 2.0, 0.0]), 2).tolist()
    [nan, 1.0, 1.0, 0.0]
    """
    out = np.empty(x.shape[0])
    rolling_extreme_into(x, window, False, out, np.empty(x.shape[0], dtype=np.int64))
    return out


@njit(cache=True)
def rolling_extreme_into(
    x: np.ndarray, window: int, is_max: bool, out: np.ndarray, dq: np.ndarray
) -> None:
    """Fill ``out`` with the rolling max (``is_max``) or min of ``x``; ``dq`` is an int64
    scratch array as long as ``x`` (indices; values monotonic from head to tail)."""
    n = x.shape[0]
    out[: min(window - 1, n)] = np.nan
    head = 0
    tail = 0
    for i in range(n):
        v = x[i]
        while tail > head and ((x[dq[tail - 1]] <= v) if is_max else (x[dq[tail - 1]] >= v)):
            tail -= 1
        dq[tail] = i
        tail += 1
        if dq[head] <= i - window:
            head += 1
        if i >= window - 1:
            out[i] = x[dq[head]]


@njit(cache=True)
def roc_into(x: np.ndarray, lookback: int, out: np.ndarray) -> None:
    """Fill ``out`` with :func:`roc` of ``x``."""
    n = x.shape[0]
    out[: min(lookback, n)] = np.nan
    for i in range(lookback, n):
        out[i] = x[i] / x[i - lookback] - 1.0


def roc(x: np.ndarray, lookback: int) -> np.ndarray:
    """Rate of change ``x[i] / x[i - lookback] - 1``; NaN for the first ``lookback`` values.

    >>> roc(np.array([100.0, 110.0, 121.0]), 1).round(12).tolist()
    [nan, 0.1, 0.1]
    """
    out = np.empty(x.shape[0])
    roc_into(x, lookback, out)
    return out


@njit(cache=True)
def shift_into(x: np.ndarray, periods: int, out: np.ndarray) -> None:
    """Fill ``out`` with :func:`shift` of ``x``."""
    n = x.shape[0]
    out[: min(periods, n)] = np.nan
    for i in range(periods, n):
        out[i] = x[i - periods]


def shift(x: np.ndarray, periods: int) -> np.ndarray:
    """``x`` delayed by ``periods`` bars (NaN-filled at the start): ``out[i] = x[i - periods]``.

    >>> shift(np.array([1.0, 2.0, 3.0]), 1).tolist()
    [nan, 1.0, 2.0]
    """
    out = np.empty(x.shape[0])
    shift_into(x, periods, out)
    return out
