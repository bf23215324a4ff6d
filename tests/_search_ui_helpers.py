"""A TPE search's folder written by hand in the contract's layout (test input for the dashboard
side; the engine and jobs sides have their own tests): spec.json with mode tpe, chunks whose rows
come from the real engine.api.run_sweep, and once collected summary.parquet with ``round`` and
``pareto`` plus robustness.json's "search" block. The front is computed here by brute force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.store.runs import frame_to_parquet, to_json_bytes

INPUT, RESULTS = "backtest-input", "backtest-results"
SEARCH_FILE = "samples/search-walk.csv"
SPACE = {"fast": "2:21:1", "slow": "25:80:5"}  # what spec.json records (ranges)
GRID = {"fast": list(range(2, 22)), "slow": list(range(25, 81, 5))}  # the same, as lists


def brute_front(frame: pd.DataFrame, objectives: tuple[str, str]) -> np.ndarray:
    """Non-dominated rows (each objective's direction from the registry), ruined never."""
    from engine.sim.metric_registry import LOWER_IS_BETTER

    signs = [(-1.0 if o in LOWER_IS_BETTER else 1.0) for o in objectives]
    values = np.column_stack(
        [frame[o].to_numpy(float) * s for o, s in zip(objectives, signs, strict=True)]
    )
    ok = ~frame["ruined"].to_numpy(bool) & np.isfinite(values).all(axis=1)
    out = np.zeros(len(frame), dtype=bool)
    others = values[ok]
    for i in np.flatnonzero(ok):
        dominated = ((others >= values[i]).all(axis=1) & (others > values[i]).any(axis=1)).any()
        out[i] = not dominated
    return out


def trial_rows(store: LocalStore, budget: int, seed: int = 3) -> pd.DataFrame:
    """``budget`` real sma_cross rows over SEARCH_FILE, in a shuffled order as trials 0..n-1."""
    from engine.api import run_sweep
    from engine.data import load_prices

    if not store.exists(INPUT, SEARCH_FILE):
        frame = random_walk(600, seed=11)
        store.put_bytes(INPUT, SEARCH_FILE, frame.to_csv(index_label="date").encode())
    prices = load_prices(store.get_bytes(INPUT, SEARCH_FILE), name=SEARCH_FILE)
    rows = run_sweep(prices, "sma_cross", GRID)
    order = np.random.default_rng(seed).permutation(len(rows))[:budget]
    rows = rows.iloc[order].reset_index(drop=True)
    rows.insert(0, "source_key", SEARCH_FILE)
    rows.insert(0, "combo_id", np.arange(len(rows), dtype=np.int64))
    return rows


def write_search(
    root: Path,
    sweep_id: str,
    *,
    budget: int = 40,
    round_size: int = 16,
    chunk_size: int = 8,
    objectives: tuple[str, ...] = ("sharpe",),
    seed: int = 7,
    done: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """A TPE search folder; ``done`` lists the chunks written (None: all, and collected).
    Returns the trials (with ``round`` and, for two objectives, ``pareto``)."""
    from engine.sweep.search_spec import SearchSpec
    from engine.sweep.spec import SweepSpec

    store = LocalStore(root)
    for bucket in (INPUT, RESULTS):
        if not store.bucket_exists(bucket):
            store.create_bucket(bucket)
    rows = trial_rows(store, budget)
    base = RunSpec(INPUT, SEARCH_FILE, RESULTS, strategy="sma_cross")
    search = SearchSpec(round_size, tuple(objectives))
    spec: dict[str, Any] = SweepSpec(
        sweep_id, base, dict(SPACE), mode="tpe", n=budget, seed=seed, search=search
    ).to_dict()
    n_children = -(-budget // chunk_size)
    spec.update(n_combinations=budget, n_children=n_children, chunk_size=chunk_size,
                created_at="2026-01-02T03:04:05Z", user="tester")  # fmt: skip
    prefix = f"sweeps/{sweep_id}/"
    store.put_bytes(RESULTS, prefix + "spec.json", to_json_bytes(spec))
    for i in range(n_children) if done is None else done:
        chunk = rows.iloc[i * chunk_size : (i + 1) * chunk_size]
        store.put_bytes(RESULTS, f"{prefix}chunks/{i}.parquet", frame_to_parquet(chunk))
    summary = rows.copy()
    summary["round"] = (summary["combo_id"] // round_size).astype(np.int64)
    if len(objectives) == 2:
        summary["pareto"] = brute_front(summary, (objectives[0], objectives[1]))
    if done is not None:
        return summary
    store.put_bytes(RESULTS, prefix + "summary.parquet", frame_to_parquet(summary))
    first = objectives[0]
    sign = -1.0 if search.directions[0] == "minimize" else 1.0
    best_by_round = []
    for r in range(search.n_rounds(budget)):
        upto = summary[(summary["round"] <= r) & ~summary["ruined"]][first].dropna()
        best_by_round.append(float(sign * (sign * upto).max()) if len(upto) else None)
    robustness = {
        "n_trials": budget, "deflated_sharpe": 0.4, "probabilistic_sharpe": 0.9, "pbo": None,
        "pbo_skipped_reason": "fewer than 16 periods per split", "plateau_score": None,
        "oos": [], "missing_chunks": [], "failed_chunks": [], "top_runs": [],
        "search": {"objectives": list(objectives), "directions": list(search.directions),
                   "n_trials": budget, "n_rounds": len(best_by_round),
                   "round_size": round_size, "seed": seed,
                   "pareto_size": int(summary["pareto"].sum()) if "pareto" in summary else None,
                   "best_by_round": best_by_round},
    }  # fmt: skip
    store.put_bytes(RESULTS, prefix + "robustness.json", to_json_bytes(robustness))
    store.put_bytes(RESULTS, prefix + "_SUCCESS", b"")
    return summary
