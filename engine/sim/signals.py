# ruff: noqa: PLR0917  (numba kernels take their arrays positionally)
"""Signal state machines: indicator arrays in, targets (+1 / 0 / -1) out, one pass each.

:func:`sma_cross_into` fuses two SMAs and their comparison into one pass without keeping the
averages (a single run needs only the target); it shares the window-sum arithmetic of
:func:`engine.sim.indicators.sma_into`, so its decisions equal ``cross_sign(sma, sma)`` bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.sim.indicators import _U, _jit, _jit_inline, _period, _slide, _window_sum

# numba keys this file's on-disk cache on this file only, and the kernels here inline the
# window-sum helpers of indicators.py: this literal (sha256 of indicators.py, first 16 hex
# digits; tests/engine/test_kernels_split.py checks it) makes an edit there come with an edit
# here, which refreshes the cache.
INDICATORS_DIGEST = "7f667919771873c7"

# Two floats closer than this (relative) count as equal, so rounding noise in flat stretches
# (e.g. SMA(10) vs SMA(50) of a constant price) never produces a signal.
REL_TOL = 1e-12


@_jit_inline
def _sign(f: float, s: float) -> float:
    """+1.0 if f > s, -1.0 if f < s, 0.0 when equal within REL_TOL (relative) or NaN."""
    tol = REL_TOL * max(abs(f), abs(s))
    if f - s > tol:
        return 1.0
    if s - f > tol:
        return -1.0
    return 0.0


@_jit
def cross_sign_into(fast: np.ndarray, slow: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` with :func:`cross_sign` of ``fast`` and ``slow``."""
    for i in range(fast.shape[0]):
        out[i] = _sign(fast[i], slow[i])


def cross_sign(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """+1 where fast > slow, -1 where fast < slow, 0 when equal (within 1e-12 relative) or NaN.

    >>> cross_sign(np.array([1.0, 2.0, 3.0, np.nan]), np.array([2.0, 2.0, 2.0, 1.0])).tolist()
    [-1.0, 0.0, 1.0, 0.0]
    """
    out = np.empty(fast.shape[0])
    cross_sign_into(fast, slow, out)
    return out


@_jit
def sma_cross_into(x: np.ndarray, fast: int, slow: int, out: np.ndarray) -> None:
    """Fill ``out`` with ``cross_sign(sma(x, fast), sma(x, slow))``, bit for bit, without
    keeping either average (0 wherever one of them is still undefined).

    Block by block (a block = the larger window's re-sum period): a plain running sum decides
    each bar, with a rounding-error bound computed alongside (see :func:`_cross_plain`); a
    block where any bar is too close to call within that bound (rare: flat stretches, near
    ties, NaN or inf) is redone with the compensated sums :func:`sma` uses.
    """
    n = x.shape[0]
    out[: min(max(fast, slow) - 1, n)] = 0.0
    block = max(_period(fast), _period(slow))
    _cross_exact(x, fast, slow, 0, min(block, n), out)
    for b0 in range(block, n, block):
        b1 = min(b0 + block, n)
        if not _cross_plain(x, fast, slow, b0, b1, out):
            _cross_exact(x, fast, slow, b0, b1, out)


@_jit
def _cross_exact(x: np.ndarray, fast: int, slow: int, b0: int, b1: int, out: np.ndarray) -> None:
    """``out[b0:b1]`` from the compensated sums (bit for bit those of :func:`sma_into`);
    ``b0`` is 0 or a multiple of both windows' periods (where both are re-summed)."""
    first = max(fast, slow) - 1
    pf = _period(fast)
    ps = _period(slow)
    sf = cf = ss = cs = 0.0
    for i in range(max(b0, min(fast, slow) - 1), b1):
        if i == fast - 1 or (i >= fast and i % pf == 0):
            sf, cf = _window_sum(x, i - fast + 1, i + 1)
        elif i >= fast:
            sf, cf = _slide(x, i, fast, sf, cf)
        if i == slow - 1 or (i >= slow and i % ps == 0):
            ss, cs = _window_sum(x, i - slow + 1, i + 1)
        elif i >= slow:
            ss, cs = _slide(x, i, slow, ss, cs)
        if i >= first:
            out[i] = _sign((sf + cf) / fast, (ss + cs) / slow)


@_jit
def _cross_plain(x: np.ndarray, fast: int, slow: int, b0: int, b1: int, out: np.ndarray) -> bool:
    """Fill ``out[b0:b1]`` from plain running sums; True when every bar is provably what
    :func:`_cross_exact` gives (else the caller redoes the block).

    Error bound (u = 2**-53, sx = the sum of |x| over the block and the window before it):
    each plain add errs by at most u * |its result|. A window sum's results are its start
    partial sums and the running sums (each |.| <= the sum of |x| over one window; a value is
    in at most w of each, so all together <= 2 * w * sx) and the differences
    d = x[i] - x[i-w] (together <= 2 * sx): the plain mean is within ``u * sx * (2 + 2 / w)``
    of the exact one. The compensated sums err only by their second-order term (error terms
    <= u * sx each, summed with plain adds): <= 1.1 * (m * u)**2 * sx, m the terms of a
    block. So the plain difference g = f - s is within D/2 of the compensated one; the
    products, the subtraction and the REL_TOL threshold round by a few u * max(|f|, |s|)
    (budget 32 u). A bar whose |g| is farther than D + 32 u * max(|f|, |s|) from the
    threshold gets the same sign both ways.
    """
    wmax = max(fast, slow)
    pf = 0.0
    for j in range(b0 - fast + 1, b0 + 1):
        pf += x[j]
    ps = 0.0
    for j in range(b0 - slow + 1, b0 + 1):
        ps += x[j]
    sx = 0.0
    for j in range(b0 - wmax + 1, b0 + 1):
        sx += abs(x[j])
    rf = 1.0 / fast
    rs = 1.0 / slow
    budget = 32.0 * _U
    low = np.inf
    i = b0
    while True:
        f = pf * rf
        s = ps * rs
        g = f - s
        mx = max(abs(f), abs(s))
        tol = REL_TOL * mx
        out[i] = 1.0 if g > tol else (-1.0 if -g > tol else 0.0)
        low = min(low, abs(abs(g) - tol) - budget * mx)
        i += 1
        if i >= b1:
            break
        xi = x[i]
        pf += xi - x[i - fast]
        ps += xi - x[i - slow]
        sx += abs(xi)
    m = wmax + 2.0 * (b1 - b0)
    second = 1.1 * (m * _U) ** 2 * sx
    bound = _U * sx * (4.0 + 2.0 * rf + 2.0 * rs) + second * (rf + rs)
    return sx < 1e300 and low > 2.0 * bound * (1.0 + 1e-6)


@njit(cache=True)
def band_state_into(
    x: np.ndarray,
    enter_long: np.ndarray,
    enter_short: np.ndarray,
    exit_long: np.ndarray,
    exit_short: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` with :func:`band_state`."""
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
    out = np.empty(x.shape[0])
    band_state_into(x, enter_long, enter_short, exit_long, exit_short, out)
    return out


@njit(cache=True)
def breakout_state_into(
    close: np.ndarray,
    hi_n: np.ndarray,
    lo_n: np.ndarray,
    hi_m: np.ndarray,
    lo_m: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` with :func:`breakout_state`."""
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
    out = np.empty(close.shape[0])
    breakout_state_into(close, hi_n, lo_n, hi_m, lo_m, out)
    return out
