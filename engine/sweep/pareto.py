"""The Pareto front of trials scored on several objectives (pure numpy, no I/O).

A trial is on the front (non-dominated) when no other trial is at least as good on every
objective and strictly better on one. ``directions`` say per objective whether larger
(``"maximize"``) or smaller (``"minimize"``) is better. Trials left out by ``eligible`` (a
search's ruined trials) and trials with a NaN objective are never on the front and dominate
nothing. Identical trials do not dominate each other: both are on the front or neither is.

>>> values = np.array([[1.0, 0.30], [0.8, 0.10], [0.5, 0.20], [1.2, 0.50], [0.9, np.nan]])
>>> pareto_front(values, ("maximize", "minimize")).tolist()  # sharpe up, max drawdown down
[True, True, False, True, False]
>>> pareto_front(values, ("maximize", "minimize"), eligible=np.array([1, 1, 1, 0, 1]) == 1).tolist()
[True, True, False, False, False]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.errors import ParamError

DIRECTIONS = ("maximize", "minimize")
_BLOCK = 2048  # rows compared at once by the general (k != 2) path: block x n booleans


def _costs(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """``values`` as costs to minimise (maximised columns negated), float64."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != len(directions) or not directions:
        raise ParamError(
            f"pareto_front needs an n x k array with one direction per column, got shape "
            f"{v.shape} and {len(directions)} direction(s)"
        )
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise ParamError(f"unknown direction(s) {bad}; use maximize or minimize")
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return v * sign


def _front_2d(c: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an n x 2 cost array without NaN (O(n log n))."""
    n = len(c)
    order = np.lexsort((c[:, 1], c[:, 0]))  # by first cost, then second
    a, b = c[order, 0], c[order, 1]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])  # groups of an equal first cost
    group_min = np.minimum.reduceat(b, starts)
    before = np.r_[np.inf, np.minimum.accumulate(group_min)[:-1]]  # best b of smaller a's
    sizes = np.diff(np.r_[starts, n])
    on = (b == np.repeat(group_min, sizes)) & (b < np.repeat(before, sizes))
    out = np.zeros(n, dtype=bool)
    out[order] = on
    return out


def _front_general(c: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an n x k cost array without NaN (pairwise, in blocks)."""
    n = len(c)
    out = np.ones(n, dtype=bool)
    for lo in range(0, n, _BLOCK):
        p = c[lo : lo + _BLOCK, None, :]  # block x 1 x k
        le = np.all(c[None, :, :] <= p, axis=2)  # other at least as good everywhere
        lt = np.any(c[None, :, :] < p, axis=2)  # and strictly better somewhere
        out[lo : lo + _BLOCK] = ~np.any(le & lt, axis=1)
    return out


def pareto_front(
    values: np.ndarray, directions: Sequence[str], eligible: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n trials x k objectives).

    ``eligible`` (bool, n): rows that may be on the front (others are left out entirely);
    rows with a NaN objective are left out too. ParamError for a shape or direction mismatch.
    """
    costs = _costs(values, tuple(directions))
    keep = ~np.any(np.isnan(costs), axis=1)
    if eligible is not None:
        mask = np.asarray(eligible, dtype=bool)
        if mask.shape != keep.shape:
            raise ParamError(f"eligible has shape {mask.shape}, values {costs.shape[0]} rows")
        keep &= mask
    out = np.zeros(len(costs), dtype=bool)
    rows = np.flatnonzero(keep)
    if rows.size:
        sub = costs[rows]
        out[rows] = _front_2d(sub) if sub.shape[1] == 2 else _front_general(sub)
    return out


__all__ = ["DIRECTIONS", "pareto_front"]
