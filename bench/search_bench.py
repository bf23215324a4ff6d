"""The TPE search's ask step (issue 13 point 2): how long a step job takes to ask a round.

A step rebuilds the optuna study from every told trial and asks the next round
(:func:`jobs.search.ask_round`), so its cost grows with the history. Measured: asking a round of
100 trials of ``sma_cross`` over fast 2..100 x slow 10..400 step 2 (one objective, Sharpe) after
0, 500 and 1,000 told trials (seeded synthetic values), and the same with two objectives (the
multi-objective TPE). The backtests themselves are the sweep figures; this is the overhead a
round adds between two array jobs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.common import Row, fmt_time

TITLE = "TPE search"
ROUND = 100
HISTORIES = (0, 500, 1000)


def _spec(objectives: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from engine.spec import RunSpec
    from engine.sweep.search_spec import SearchSpec
    from engine.sweep.spec import SweepSpec

    base = RunSpec("in", "prices.csv", "out", strategy="sma_cross")
    space: dict[str, Any] = {"fast": "2:100:1", "slow": "10:400:2"}
    search = SearchSpec(round_size=ROUND, objectives=objectives)
    return SweepSpec("bench-tpe", base, space, mode="tpe", n=5000, seed=1, search=search).validate()


def _history(spec, n: int) -> list:  # type: ignore[no-untyped-def]
    """``n`` told trials over valid combinations, with seeded objective values."""
    from jobs.search import Told

    rng = np.random.default_rng(7)
    out: list[Told] = []
    seen: set[tuple[int, int]] = set()
    while len(out) < n:
        fast, slow = int(rng.integers(2, 101)), int(rng.integers(5, 201)) * 2
        if fast >= slow or (fast, slow) in seen:
            continue
        seen.add((fast, slow))
        values = tuple(float(rng.normal()) for _ in spec.search.objectives)
        out.append(Told(len(out), {"fast": fast, "slow": slow}, values))
    return out


def _ask_seconds(spec, history: list, repeats: int) -> float:  # type: ignore[no-untyped-def]
    from jobs.search import ask_round

    r = len(history) // ROUND
    numbers = range(len(history), len(history) + ROUND)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        asked = ask_round(spec, r, numbers, history)
        times.append(time.perf_counter() - t0)
        if len(asked.trials) != ROUND:
            raise RuntimeError(f"asked {len(asked.trials)} trials, not {ROUND}")
    return sorted(times)[len(times) // 2]


def run(quick: bool = False) -> list[Row]:
    """One row per (objectives, history size)."""
    rows = []
    for objectives in (("sharpe",), ("sharpe", "max_drawdown")):
        spec = _spec(objectives)
        for n in HISTORIES[:2] if quick else HISTORIES:
            seconds = _ask_seconds(spec, _history(spec, n), 1 if quick else 3)
            rows.append(
                Row(
                    TITLE,
                    f"ask {ROUND} trials after {n:,} told",
                    " + ".join(objectives),
                    fmt_time(seconds),
                    f"{ROUND / seconds:,.0f} trials/s",
                    note="jobs.search.ask_round: study rebuilt from the told trials, then asked",
                )
            )
    return rows
