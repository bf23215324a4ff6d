"""The 10,000-combination sma_cross sweep on 100,000 bars in one process (issue 4, point 7).

fast 1..100 x slow 102..300 step 2 = 10,000 combinations, all valid, on 100,000 hourly bars.
Each case runs in a fresh subprocess so its peak RSS (VmHWM) is its own
(``python -m bench.sweep_bench --case child --root DIR``):

- ``child``: the sweep array child's code path (``engine.sweep.child.run_sweep_child``) as one
  chunk of all 10,000 combinations: load the Parquet file from a local store, evaluate with the
  sweep kernel (metrics + 64-period returns, no equity kept, indicator cache bounded), write
  chunks/0.parquet and returns/0.npy. The store and spec.json are prepared by the parent.
  Targets: >= 1,000 backtests/s on one core, peak RSS < 500 MB.
- ``equity``: the approach that keeps every equity curve (``run_backtest`` per combination,
  results kept), measured on the first 300 combinations and extrapolated; its equity alone is
  n_combinations x n_bars x 8 bytes = 8 GB for the full sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, peak_rss_mb

TITLE = "sweep 10k combos"
N_BARS = 100_000
FAST = "1:100:1"
SLOW = "102:300:2"
N_COMBOS = 10_000
EQUITY_SAMPLE = 300
SPEC_URI = "s3://results/sweeps/bench/spec.json"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the cases in subprocesses; rows {"benchmark", "value", "unit", "note"}."""
    with tempfile.TemporaryDirectory() as tmp:
        prepare(Path(tmp))
        child = _spawn("child", tmp)
    if "error" in child:
        return [{"benchmark": "sweep child", "value": "-", "unit": "", "note": child["error"]}]
    per_s = N_COMBOS / child["seconds"]
    rss = child["rss_mb"]
    rows: list[dict[str, Any]] = [
        {
            "benchmark": "sweep child, 10,000 combos x 100,000 bars",
            "value": f"{per_s:,.0f}",
            "unit": "backtests/s",
            "note": f"one core, {child['seconds']:.2f} s incl. load + write; "
            f"target >= 1,000/s {'ok' if per_s >= 1000 else 'MISS'}",
        },
        {
            "benchmark": "sweep child peak RSS",
            "value": f"{rss:.0f}",
            "unit": "MB",
            "note": f"target < 500 MB {'ok' if rss < 500 else 'MISS'}; after imports "
            f"{child['base_mb']:.0f} MB; indicator cache <= {child['cache_budget_mb']:.0f} MB",
        },
    ]
    full_mb = N_COMBOS * N_BARS * 8 / 2**20
    note = f"n_combos x n_bars x 8 bytes = {full_mb / 1024:.1f} GB of equity alone"
    if not quick:
        eq = _spawn("equity", "")
        if "error" not in eq:
            per_combo_mb = (eq["rss_mb"] - eq["base_mb"]) / EQUITY_SAMPLE
            note += (
                f"; measured: {EQUITY_SAMPLE} run_backtest results kept took "
                f"{per_combo_mb:.2f} MB each at {EQUITY_SAMPLE / eq['seconds']:,.0f} "
                f"backtests/s -> {per_combo_mb * N_COMBOS / 1024:.1f} GB for 10,000"
            )
    rows.append(
        {
            "benchmark": "keep every equity curve instead",
            "value": f"{full_mb:,.0f}",
            "unit": "MB (estimate)",
            "note": note,
        }
    )
    return rows


def prepare(root: Path) -> None:
    """A local store under ``root`` with the bars and a one-chunk spec.json of the sweep."""
    from engine.sim.synthetic import random_walk
    from engine.spec import RunSpec
    from engine.store.objects import LocalStore
    from engine.store.runs import frame_to_parquet, to_json_bytes
    from engine.sweep.plan import ChunkPlan
    from engine.sweep.results import spec_record
    from engine.sweep.spec import SweepSpec

    (root / "input").mkdir()
    (root / "results").mkdir()
    store = LocalStore(root)
    prices = random_walk(N_BARS, seed=1, freq="h")  # hourly: 100,000 days would pass 2262
    store.put_bytes("input", "bars.parquet", frame_to_parquet(prices, index="timestamp"))
    base = RunSpec("input", "bars.parquet", "results", "sma_cross")
    space: dict[str, Any] = {"fast": FAST, "slow": SLOW}  # range strings, parsed by validate
    spec = SweepSpec("bench", base, space).validate()
    record = spec_record(spec, N_COMBOS, ChunkPlan(1, N_COMBOS), "", "bench")
    store.put_bytes("results", "sweeps/bench/spec.json", to_json_bytes(record))


def _spawn(case: str, root: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.sweep_bench", "--case", case, "--root", root]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"case {case} failed: {tail}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _child_case(root: str) -> dict[str, Any]:
    from engine.sim.strategies import get_strategy
    from engine.sim.sweep_kernels import CACHE_BUDGET_BYTES, evaluate
    from engine.sim.synthetic import random_walk
    from engine.spec import SimOptions
    from engine.store.objects import LocalStore
    from engine.sweep.child import run_sweep_child

    # compile / load the kernels outside the timing
    evaluate(random_walk(500, seed=2), get_strategy("sma_cross"), [{"fast": 5, "slow": 20}],
             SimOptions())  # fmt: skip
    base = peak_rss_mb()
    t0 = time.perf_counter()
    code = run_sweep_child(SPEC_URI, {"BACKTEST_STORAGE_ROOT": root})
    seconds = time.perf_counter() - t0
    if code != 0 or not LocalStore(root).exists("results", "sweeps/bench/chunks/0.parquet"):
        raise SystemExit(f"child exited {code} without writing its chunk")
    return {"seconds": seconds, "rss_mb": peak_rss_mb(), "base_mb": base,
            "cache_budget_mb": CACHE_BUDGET_BYTES / 2**20}  # fmt: skip


def _equity_case() -> dict[str, Any]:
    from engine.api import run_backtest
    from engine.sim.synthetic import random_walk

    prices = random_walk(N_BARS, seed=1, freq="h")
    run_backtest(random_walk(500, seed=2), "sma_cross", {"fast": 5, "slow": 20})
    base = peak_rss_mb()
    kept = []
    t0 = time.perf_counter()
    for i in range(EQUITY_SAMPLE):
        fast, slow = 1 + i % 100, 102 + 2 * (i // 100)
        kept.append(run_backtest(prices, "sma_cross", {"fast": fast, "slow": slow}))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_mb": peak_rss_mb(), "base_mb": base, "kept": len(kept)}


def main() -> None:
    """Subprocess entry: run one case and print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_bench")
    parser.add_argument("--case", choices=("child", "equity"), required=True)
    parser.add_argument("--root", default="", help="the prepared store (child case)")
    ns = parser.parse_args()
    result = _child_case(ns.root) if ns.case == "child" else _equity_case()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
