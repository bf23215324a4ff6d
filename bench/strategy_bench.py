"""A strategy file vs a built-in (issue 12 point 6), and numba's cache of a file across processes.

1. The reference rule "long while close > SMA(window)" as a user file
   (examples/strategies/close_above_sma.py, written with engine.helpers) swept over window
   5..200 (196 combinations) on 100,000 bars through the sweep child's evaluator
   (:func:`engine.sim.sweep_kernels.evaluate`), against the built-in ``sma_cross(fast=1,
   slow=window)`` over the same windows (the same positions). Repeats are interleaved, so both
   see the same machine load. Target: the file at >= 50% of the built-in's backtests/s.
2. examples/strategies/vol_breakout.py (an own ``@njit(cache=True)`` function) loaded and run
   in two fresh processes sharing a new strategy cache: the first compiles the file's function,
   the second loads it from numba's on-disk cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import REPO, Row, fmt_time, synthetic

TITLE = "strategy file"
N_BARS = 100_000
WINDOWS = range(5, 201)
EXAMPLES = REPO / "examples" / "strategies"

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from engine.sim.strategies import Bars
from engine.sim.synthetic import random_walk
from engine.userstrat import load_strategy_file
from engine.userstrat.loader import MODULE_PREFIX
s = load_strategy_file(sys.argv[1])
bars = Bars.from_frame(random_walk(1000, seed=1))
t1 = time.perf_counter()
s.signal(bars, None)
t2 = time.perf_counter()
stats = sys.modules[MODULE_PREFIX + s.sha256[:16]]._calm_only.stats
print(json.dumps({"first_call": t2 - t1, "total": t2 - t0,
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def _sweeps(repeats: int) -> tuple[float, float]:
    """(median seconds of the built-in sweep, of the file sweep), interleaved."""
    from engine.sim.strategies import get_strategy
    from engine.sim.sweep_kernels import BoundedCache, evaluate
    from engine.spec import SimOptions
    from engine.userstrat import load_strategy_file

    prices = synthetic(N_BARS, seed=3)
    builtin = get_strategy("sma_cross")
    user = load_strategy_file(EXAMPLES / "close_above_sma.py")
    b_combos = [builtin.validate({"fast": 1, "slow": w}) for w in WINDOWS]
    u_combos = [user.validate({"window": w}) for w in WINDOWS]
    options = SimOptions()

    def one(strategy, combos) -> float:  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        evaluate(prices, strategy, combos, options, cache=BoundedCache())
        return time.perf_counter() - t0

    one(builtin, b_combos[:3])  # compile / warm
    one(user, u_combos[:3])
    b_times, u_times = [], []
    for _ in range(repeats):
        b_times.append(one(builtin, b_combos))
        u_times.append(one(user, u_combos))
    b_times.sort()
    u_times.sort()
    return b_times[len(b_times) // 2], u_times[len(u_times) // 2]


def _cache_runs() -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-strategy-cache-") as folder:
        env = {**os.environ, "BACKTEST_STRATEGY_CACHE": folder, "PYTHONPATH": str(REPO)}
        out = []
        for _ in range(2):
            proc = subprocess.run(
                [sys.executable, "-c", PROBE, str(EXAMPLES / "vol_breakout.py")],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=folder,
            )
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        return out


def run(quick: bool = False) -> list[Row]:
    """Both figures as rows."""
    n = len(WINDOWS)
    b_s, u_s = _sweeps(1 if quick else 5)
    ratio = b_s / u_s
    case = f"close > SMA(w), w 5..200 ({n} combos), {N_BARS:,} bars"
    rows = [
        Row(TITLE, case, "built-in sma_cross(1, w)", fmt_time(b_s), f"{n / b_s:,.0f} backtests/s"),
        Row(
            TITLE,
            case,
            "file close_above_sma",
            fmt_time(u_s),
            f"{n / u_s:,.0f} backtests/s",
            target=">= 50% of the built-in",
            ok=ratio >= 0.5,
            note=f"{ratio:.0%} of the built-in's speed",
        ),
    ]
    cold, warm = _cache_runs()
    for label, r in (("first process", cold), ("second process", warm)):
        rows.append(
            Row(
                TITLE,
                f"vol_breakout.py first signal call, {label}",
                "numba cache",
                fmt_time(r["first_call"]),
                note=f"own function compiled {int(r['misses'])}x, from cache {int(r['hits'])}x;"
                f" process total {fmt_time(r['total'])}",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
