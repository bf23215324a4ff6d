"""Technical indicators: numba-compiled, float64 array in, float64 array out, O(n).

Every function returns an array as long as its input, NaN where the indicator is not yet
defined (the warm-up), and uses only values up to and including each bar: changing a later
value never changes an earlier output. Windows are bar counts (>= 1); the callers (the
strategy registry) validate them, so these kernels do not re-check.

The state machines at the end turn indicator arrays into targets (+1 / 0 / -1) in one pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Rolling sums are re-computed exactly at least every RESYNC bars, so rounding cannot drift
# over a long series while the common step stays one add and one subtract.
RESYNC = 512


@njit(cache=True)
def sma(x: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average of the last ``window`` values; NaN for the first ``window - 1``.

    A running sum (one add and one subtract per bar), re-summed exactly every
    ``max(window, RESYNC)`` bars so the rounding error stays at a few ulps: O(n) overall.

    >>> sma(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    total = 0.0
    countdown = 0
    for i in range(window - 1, n):
        if countdown == 0:
            total = 0.0
            for j in range(i - window + 1, i + 1):
                total += x[j]
            countdown = max(window, RESYNC)
        else:
            total += x[i] - x[i - window]
        countdown -= 1
        out[i] = total / window
    return out


@njit(cache=True)
def ema(x: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average with ``alpha = 2 / (span + 1)``, seeded with an SMA.

    Output ``span - 1`` is the mean of the first ``span`` values (the TA-Lib convention);
    after that ``ema[i] = ema[i-1] + alpha * (x[i] - ema[i-1])``. NaN before the seed.

    >>> ema(np.array([1.0, 2.0, 3.0, 4.0]), 3).tolist()
    [nan, nan, 2.0, 3.0]
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n < span:
        return out
    alpha = 2.0 / (span + 1.0)
    seed = 0.0
    for i in range(span):
        seed += x[i]
    prev = seed / span
    out[span - 1] = prev
    for i in range(span, n):
        prev = prev + alpha * (x[i] - prev)
        out[i] = prev
    return out


@njit(cache=True)
def rsi(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's relative strength index (0..100); NaN for the first ``period`` values.

    Changes ``d[i] = x[i] - x[i-1]``; the first average gain/loss is the plain mean of
    ``d[1..period]``, then ``avg = (avg * (period - 1) + new) / period``.
    ``RSI = 100 - 100 / (1 + avg_gain / avg_loss)``; 100 when there is no loss but a gain,
    50 when the price did not move at all.

    >>> rsi(np.array([1.0, 2.0, 1.0, 2.0, 3.0]), 2).tolist()
    [nan, nan, 50.0, 75.0, 87.5]
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
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
    return out


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 100.0 if gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


@njit(cache=True)
def rolling_std(x: np.ndarray, window: int, ddof: int = 0) -> np.ndarray:
    """Standard deviation of the last ``window`` values (``ddof`` 0: population, as Bollinger).

    Rolling Welford update (add the new value, remove the one leaving the window), re-synced
    with an exact corrected two-pass computation every ``window`` bars so rounding cannot
    drift (O(n) overall). NaN for the first ``window - 1`` values and wherever
    ``window - ddof <= 0``; a constant window gives exactly 0.

    >>> rolling_std(np.array([1.0, 3.0, 5.0, 5.0]), 2).tolist()
    [nan, 1.0, 1.0, 0.0]
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window - ddof <= 0:
        return out
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
        countdown -= 1
        out[i] = np.sqrt(max(m2, 0.0) / (window - ddof))
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


@njit(cache=True)
def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    """Maximum of the last ``window`` values (monotonic deque, O(n)); NaN for the first
    ``window - 1``.

    >>> rolling_max(np.array([3.0, 1.0, 2.0, 0.0]), 2).tolist()
    [nan, 3.0, 2.0, 2.0]
    """
    return _rolling_extreme(x, window, True)


@njit(cache=True)
def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    """Minimum of the last ``window`` values (monotonic deque, O(n)); NaN for the first
    ``window - 1``.

    >>> rolling_min(np.array([3.0, 1.0, 2.0, 0.0]), 2).tolist()
    [nan, 1.0, 1.0, 0.0]
    """
    return _rolling_extreme(x, window, False)


@njit(cache=True)
def _rolling_extreme(x: np.ndarray, window: int, is_max: bool) -> np.ndarray:
    n = x.shape[0]
    out = np.full(n, np.nan)
    dq = np.empty(n, dtype=np.int64)  # indices; values monotonic from head to tail
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
    return out


@njit(cache=True)
def roc(x: np.ndarray, lookback: int) -> np.ndarray:
    """Rate of change ``x[i] / x[i - lookback] - 1``; NaN for the first ``lookback`` values.

    >>> roc(np.array([100.0, 110.0, 121.0]), 1).round(12).tolist()
    [nan, 0.1, 0.1]
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(lookback, n):
        out[i] = x[i] / x[i - lookback] - 1.0
    return out


@njit(cache=True)
def shift(x: np.ndarray, periods: int) -> np.ndarray:
    """``x`` delayed by ``periods`` bars (NaN-filled at the start): ``out[i] = x[i - periods]``.

    >>> shift(np.array([1.0, 2.0, 3.0]), 1).tolist()
    [nan, 1.0, 2.0]
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(periods, n):
        out[i] = x[i - periods]
    return out


# --- signal state machines (used by engine.strategies) ---------------------------------------

# Two floats closer than this (relative) count as equal, so rounding noise in flat stretches
# (e.g. SMA(10) vs SMA(50) of a constant price) never produces a signal.
REL_TOL = 1e-12


@njit(cache=True)
def cross_sign(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """+1 where fast > slow, -1 where fast < slow, 0 when equal (within 1e-12 relative) or NaN.

    >>> cross_sign(np.array([1.0, 2.0, 3.0, np.nan]), np.array([2.0, 2.0, 2.0, 1.0])).tolist()
    [-1.0, 0.0, 1.0, 0.0]
    """
    out = np.zeros(fast.shape[0])
    for i in range(fast.shape[0]):
        f, s = fast[i], slow[i]
        tol = REL_TOL * max(abs(f), abs(s))
        if f - s > tol:
            out[i] = 1.0
        elif s - f > tol:
            out[i] = -1.0
    return out


@njit(cache=True)
def band_state(
    x: np.ndarray,
    enter_long: np.ndarray,
    enter_short: np.ndarray,
    exit_long: np.ndarray,
    exit_short: np.ndarray,
) -> np.ndarray:
    """Mean-reversion state machine, checked in this order at each bar: x < enter_long -> +1;
    x > enter_short -> -1; a long with x >= exit_long -> 0; a short with x <= exit_short -> 0;
    else the previous state. NaN values or levels never trigger.

    >>> lo, hi, mid = np.full(5, 1.0), np.full(5, 3.0), np.full(5, 2.0)
    >>> band_state(np.array([2.0, 0.5, 1.5, 2.5, 3.5]), lo, hi, mid, mid).tolist()
    [0.0, 1.0, 1.0, 0.0, -1.0]
    """
    out = np.zeros(x.shape[0])
    pos = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v < enter_long[i]:
            pos = 1.0
        elif v > enter_short[i]:
            pos = -1.0
        elif (pos == 1.0 and v >= exit_long[i]) or (pos == -1.0 and v <= exit_short[i]):
            pos = 0.0
        out[i] = pos
    return out


@njit(cache=True)
def breakout_state(
    close: np.ndarray, hi_n: np.ndarray, lo_n: np.ndarray, hi_m: np.ndarray, lo_m: np.ndarray
) -> np.ndarray:
    """Breakout state machine, checked in this order at each bar: close > hi_n -> +1;
    close < lo_n -> -1; a long with close < lo_m -> 0; a short with close > hi_m -> 0; else
    the previous state. NaN levels never trigger.

    >>> hi_n, lo_n, hi_m, lo_m = (np.full(4, v) for v in (10.0, 5.0, 9.0, 7.0))
    >>> breakout_state(np.array([8.0, 11.0, 8.0, 6.0]), hi_n, lo_n, hi_m, lo_m).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    out = np.zeros(close.shape[0])
    pos = 0.0
    for i in range(close.shape[0]):
        c = close[i]
        if c > hi_n[i]:
            pos = 1.0
        elif c < lo_n[i]:
            pos = -1.0
        elif (pos == 1.0 and c < lo_m[i]) or (pos == -1.0 and c > hi_m[i]):
            pos = 0.0
        out[i] = pos
    return out
