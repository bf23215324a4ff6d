"""The 90-combination sma_cross sweep (fast 5..50 step 5 x slow 20..200 step 20, fast < slow)
on 100,000 bars: backtests per second and peak RSS, each case in a fresh subprocess so the
peak RSS is that case's own (``python -m bench.sweep --case engine|numpy``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench.common import REPO, Row, fmt_time, peak_rss_mb, synthetic

TITLE = "sweep 90 combos"
N_BARS = 100_000
FAST = range(5, 51, 5)
SLOW = range(20, 201, 20)
TARGET_PER_S = 1_000.0
TARGET_RSS_MB = 400.0


def combos() -> list[tuple[int, int]]:
    """The 90 valid (fast, slow) pairs."""
    return [(f, s) for f in FAST for s in SLOW if f < s]


def run(quick: bool = False) -> list[Row]:
    """Run each implementation's case in its own process and collect its JSON line."""
    rows = []
    for impl in ("engine", "numpy"):
        result = _spawn(impl, repeats=1 if quick else 3)
        if "error" in result:
            rows.append(Row(TITLE, f"{N_BARS:,} bars", impl, note=result["error"]))
            continue
        per_s = result["per_s"]
        rss = result["rss_mb"]
        is_engine = impl == "engine"
        rows.append(
            Row(
                TITLE,
                f"{N_BARS:,} bars",
                impl,
                fmt_time(result["seconds"]),
                f"{per_s:,.0f} backtests/s",
                f"{rss:.0f} MB",
                target=">= 1,000/s, < 400 MB" if is_engine else "",
                ok=(per_s >= TARGET_PER_S and rss < TARGET_RSS_MB) if is_engine else None,
                note=f"{result['rows']} rows, median of {result['repeats']} sweeps, one core",
            )
        )
    return rows


def _spawn(impl: str, repeats: int) -> dict:
    cmd = [sys.executable, "-m", "bench.sweep", "--case", impl, "--repeats", str(repeats)]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"case failed: {tail}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _case(impl: str, repeats: int) -> dict:
    prices = synthetic(N_BARS, seed=1)
    pairs = combos()
    if impl == "engine":
        from engine import run_sweep

        space = [{"fast": f, "slow": s} for f, s in pairs]

        def job() -> int:
            return len(run_sweep(prices, "sma_cross", space))

        run_sweep(synthetic(500, seed=2), "sma_cross", space[:2])  # load the compiled kernels
    else:
        from bench import numpy_ref

        def job() -> int:
            return len(numpy_ref.run_sweep(prices, pairs))

    times = []
    n_rows = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n_rows = job()
        times.append(time.perf_counter() - t0)
    times.sort()
    seconds = times[len(times) // 2]
    return {
        "seconds": seconds,
        "per_s": n_rows / seconds,
        "rss_mb": peak_rss_mb(),
        "rows": n_rows,
        "repeats": repeats,
    }


def main() -> None:
    """Subprocess entry: run one case and print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.sweep")
    parser.add_argument("--case", choices=("engine", "numpy"), required=True)
    parser.add_argument("--repeats", type=int, default=3)
    ns = parser.parse_args()
    print(json.dumps(_case(ns.case, ns.repeats)))


if __name__ == "__main__":
    main()
