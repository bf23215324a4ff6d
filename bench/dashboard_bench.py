"""Dashboard benchmarks: render time of the Sweep results page with a 10,000-combination
summary and of the Jobs page with 1,000 jobs in the local executor's database.

Measured with Streamlit's AppTest (the script run, element tree included; no browser), in a
temporary storage root. ``run()`` returns rows {"benchmark", "value", "unit", "note"}.
Figures, never assertions.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TITLE = "dashboard"
REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
RESULTS = "backtest-results"


@contextmanager
def _storage_root() -> Iterator[Path]:
    """A temporary BACKTEST_STORAGE_ROOT (previous environment restored afterwards)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("BACKTEST_")}
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        for key in saved:
            del os.environ[key]
        os.environ["BACKTEST_STORAGE_ROOT"] = tmp
        os.environ["BACKTEST_CONFIG"] = str(Path(tmp) / "no-config.toml")
        try:
            yield Path(tmp)
        finally:
            for key in [k for k in os.environ if k.startswith("BACKTEST_")]:
                del os.environ[key]
            os.environ.update(saved)


def _sweep_folder(root: Path, sweep_id: str, n_fast: int = 100, n_slow: int = 100) -> int:
    """sweeps/<id>/ per the layout with n_fast x n_slow combinations (synthetic metrics)."""
    from engine.store.objects import LocalStore
    from engine.store.runs import frame_to_parquet, to_json_bytes

    store = LocalStore(root)
    store.create_bucket(RESULTS)
    fast, slow = np.meshgrid(np.arange(2, 2 + n_fast), np.arange(200, 200 + n_slow))
    rng = np.random.default_rng(0)
    n = fast.size
    summary = pd.DataFrame({"combo_id": np.arange(n), "source_key": "samples/x.csv",
                            "fast": fast.ravel(), "slow": slow.ravel()})  # fmt: skip
    for metric in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "calmar"):
        summary[metric] = rng.normal(0.1, 0.3, n)
    summary["n_trades"] = rng.integers(1, 200, n).astype(float)
    spec = {"sweep_id": sweep_id, "base": {"strategy": "sma_cross", "params": {}},
            "space": [{"name": "fast"}, {"name": "slow"}], "n_combinations": n,
            "n_children": 10, "chunk_size": n // 10}  # fmt: skip
    robustness: dict[str, Any] = {
        "n_trials": n, "deflated_sharpe": 0.3, "probabilistic_sharpe": 0.8,
        "pbo": 0.2, "pbo_skipped_reason": None, "plateau_score": 0.9, "oos": [],
        "missing_chunks": [], "failed_chunks": [], "top_runs": []}  # fmt: skip
    prefix = f"sweeps/{sweep_id}/"
    store.put_bytes(RESULTS, prefix + "spec.json", to_json_bytes(spec))
    store.put_bytes(RESULTS, prefix + "summary.parquet", frame_to_parquet(summary))
    store.put_bytes(RESULTS, prefix + "robustness.json", to_json_bytes(robustness))
    store.put_bytes(RESULTS, prefix + "_SUCCESS", b"")
    return n


def _jobs(n: int) -> None:
    """n finished (cancelled) jobs in the local executor's database; nothing is left to run."""
    from jobs.local import LocalExecutor
    from jobs.settings import load_settings

    settings = load_settings()
    with LocalExecutor(settings, worker="none") as executor:
        ids = [
            executor.submit_command(
                [sys.executable, "-c", "pass"], name=f"bench-job-{i}", kind="run"
            ).id
            for i in range(n)
        ]
        for job_id in ids:
            executor.cancel(job_id, reason="benchmark fixture")


def _time_page(page: str, query: dict[str, str], repeats: int) -> tuple[float, float]:
    """(first render, median of warm reruns) of ``page`` in seconds."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(page)
    at.query_params.update(query)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"{page} raised: {at.exception[0].value}")
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
    return first, statistics.median(warm)


def _rows(name: str, timed: Callable[[], tuple[float, float]], note: str) -> list[dict[str, Any]]:
    first, warm = timed()
    return [
        {"benchmark": f"{name} (first render)", "value": f"{first * 1e3:.0f}", "unit": "ms",
         "note": note},
        {"benchmark": f"{name} (warm rerun)", "value": f"{warm * 1e3:.0f}", "unit": "ms",
         "note": note + "; target < 2 s (sweep) / < 1 s (jobs)"},
    ]  # fmt: skip


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time both pages; rows {"benchmark", "value", "unit", "note"}."""
    repeats = 2 if quick else 5
    rows: list[dict[str, Any]] = []
    with _storage_root() as root:
        n = _sweep_folder(root, "bench-sweep")
        query = {"sweep": "bench-sweep", "metric": "sharpe", "x": "fast", "y": "slow"}
        rows += _rows(
            "sweep results page, 10,000 combinations",
            lambda: _time_page("views/sweep_results.py", query, repeats),
            f"AppTest script run, {n:,} rows, heatmap + parallel coordinates + top-N",
        )
    with _storage_root() as root:
        from bench.synthetic_sweep import write_sweep

        write_sweep(root, "bench-1m", 1000, 1000)
        query = {"sweep": "bench-1m", "metric": "sharpe"}
        rows += _rows(
            "sweep results page, 1,000,000 combinations",
            lambda: _time_page("views/sweep_results.py", query, repeats),
            "AppTest script run (server side only; the browser's share is in the browser group)",
        )
    with _storage_root():
        _jobs(1000)
        rows += _rows(
            "jobs page, 1,000 jobs",
            lambda: _time_page("views/jobs.py", {}, repeats),
            "AppTest script run over the local executor's SQLite records",
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
