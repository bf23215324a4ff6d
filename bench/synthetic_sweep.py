"""A large collected sweep written straight into a storage root, in the sweep result layout
(engine/sweep/results.py): ``sweeps/<id>/spec.json``, ``summary.parquet``, ``robustness.json``
and ``_SUCCESS`` last. Used by the browser benchmark and the sweep-scale e2e test, which need a
1,000,000-combination sweep without running one.

Rows look like a real summary (combo_id, source_key, the swept parameters, every metric and the
``ruined`` flag); the metrics are a smooth function of the parameters plus noise from a fixed
seed, and about 1% of the rows are ruined (metrics as in the ruin contract).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

INPUT, RESULTS = "backtest-input", "backtest-results"
SOURCE_KEY = "samples/trend_up_daily.csv"
RUINED_SHARE = 0.01
UNDEFINED_WHEN_RUINED = ("sharpe", "sortino", "volatility", "calmar", "cagr")


def summary_frame(n_fast: int, n_slow: int, seed: int = 0) -> pd.DataFrame:
    """``n_fast x n_slow`` sma_cross combinations (fast 2.., slow above every fast)."""
    grid_fast, grid_slow = np.meshgrid(
        np.arange(2, 2 + n_fast), np.arange(2 + n_fast, 2 + n_fast + n_slow)
    )
    fast, slow = grid_fast.ravel(order="F"), grid_slow.ravel(order="F")
    n = fast.size
    rng = np.random.default_rng(seed)
    shape = np.sin(fast / max(n_fast, 1) * 3.0) + np.cos(slow / max(n_slow, 1) * 2.0)
    sharpe = 0.4 * shape + rng.normal(0.0, 0.2, n)
    frame = pd.DataFrame(
        {
            "combo_id": np.arange(n, dtype=np.int64),
            "source_key": SOURCE_KEY,
            "fast": fast.astype(np.int64),
            "slow": slow.astype(np.int64),
            "total_return": 0.3 * shape + rng.normal(0.0, 0.1, n),
            "cagr": 0.05 * shape + rng.normal(0.0, 0.02, n),
            "volatility": np.abs(rng.normal(0.2, 0.05, n)),
            "sharpe": sharpe,
            "sortino": sharpe * 1.3,
            "max_drawdown": np.clip(rng.normal(0.3, 0.1, n), 0.0, 1.0),
            "max_drawdown_duration": rng.integers(5, 500, n).astype(np.float64),
            "calmar": sharpe / 2.0,
            "n_trades": rng.integers(1, 400, n).astype(np.float64),
            "win_rate": np.clip(rng.normal(0.5, 0.1, n), 0.0, 1.0),
            "profit_factor": np.abs(rng.normal(1.1, 0.3, n)),
            "avg_trade_return": rng.normal(0.001, 0.01, n),
            "exposure": rng.uniform(0.2, 0.9, n),
            "buy_hold_return": 0.8,
            "periods_per_year": 252.0,
        }
    )
    frame["final_equity"] = 100_000.0 * (1.0 + frame["total_return"])
    ruined = rng.random(n) < RUINED_SHARE
    frame["ruined"] = ruined
    frame.loc[ruined, "total_return"] = -1.0
    frame.loc[ruined, "final_equity"] = 0.0
    frame.loc[ruined, "max_drawdown"] = 1.0
    frame.loc[ruined, list(UNDEFINED_WHEN_RUINED)] = np.nan
    return frame


def write_sweep(
    root: Path,
    sweep_id: str,
    n_fast: int = 1000,
    n_slow: int = 1000,
    *,
    created_at: str = "2026-01-02T03:04:05Z",
) -> pd.DataFrame:
    """A collected sweep ``sweep_id`` under storage root ``root``; returns its summary."""
    from engine.spec import RunSpec
    from engine.store.objects import LocalStore
    from engine.store.runs import frame_to_parquet, to_json_bytes
    from engine.sweep.spec import SweepSpec

    store = LocalStore(root)
    for bucket in (INPUT, RESULTS):
        if not store.bucket_exists(bucket):
            store.create_bucket(bucket)
    summary = summary_frame(n_fast, n_slow)
    space: dict[str, Any] = {
        "fast": f"2:{1 + n_fast}:1", "slow": f"{2 + n_fast}:{1 + n_fast + n_slow}:1"
    }  # fmt: skip
    base = RunSpec(INPUT, SOURCE_KEY, RESULTS, strategy="sma_cross")
    spec: dict[str, Any] = SweepSpec(sweep_id, base, space).to_dict()
    n_children = 100
    spec.update(
        n_combinations=len(summary), n_children=n_children,
        chunk_size=-(-len(summary) // n_children), created_at=created_at, user="bench",
    )  # fmt: skip
    best = summary.iloc[int(np.nanargmax(summary["sharpe"].to_numpy()))]
    robustness: dict[str, Any] = {
        "n_trials": len(summary), "deflated_sharpe": 0.3, "probabilistic_sharpe": 0.8,
        "pbo": 0.2, "pbo_skipped_reason": None, "plateau_score": 0.9, "oos": [],
        "missing_chunks": [], "failed_chunks": [], "top_runs": [],
        "best": {"combo_id": int(best["combo_id"]),
                 "params": {"fast": int(best["fast"]), "slow": int(best["slow"])},
                 "metrics": {"sharpe": float(best["sharpe"])}},
    }  # fmt: skip
    prefix = f"sweeps/{sweep_id}/"
    store.put_bytes(RESULTS, prefix + "spec.json", to_json_bytes(spec))
    store.put_bytes(RESULTS, prefix + "summary.parquet", frame_to_parquet(summary))
    store.put_bytes(RESULTS, prefix + "robustness.json", to_json_bytes(robustness))
    store.put_bytes(RESULTS, prefix + "_SUCCESS", b"")
    return summary
