"""The collect of a TPE search: round and pareto columns, best by the first objective,
robustness over every trial and the "search" block; the round files are written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.store.objects import LocalStore, Store
from engine.store.runs import parquet_to_frame
from engine.sweep.collect import collect
from engine.sweep.results import load_doc
from engine.sweep.search_collect import search_columns
from tests._tpe_engine_helpers import put_prices, put_round, put_spec, run_round_child, tpe_sweep
from tests.engine.test_search_child import ROUND0, ROUND1, ROUND2

IN, OUT = "input", "results"


@pytest.fixture
def local(tmp_path: Path) -> tuple[Store, dict[str, str]]:
    for b in (IN, OUT):
        (tmp_path / b).mkdir()
    return LocalStore(tmp_path), {"BACKTEST_STORAGE_ROOT": str(tmp_path)}


def run_search(store: Store, env: dict[str, str], objectives: tuple[str, ...], sweep_id: str):
    put_prices(store, IN, n_bars=500, seed=8)
    spec = tpe_sweep(IN, OUT, objectives=objectives, sweep_id=sweep_id)
    uri = put_spec(store, spec, chunk_size=2)
    for r, params in enumerate((ROUND0, ROUND1, ROUND2)):
        put_round(store, spec, r, params)
    for r, children in ((0, 2), (1, 2), (2, 1)):
        for i in range(children):
            assert run_round_child(uri, env, r, i if children > 1 else None) == 0
    report = collect(store, OUT, sweep_id, env=env)
    summary = parquet_to_frame(store.get_bytes(OUT, f"sweeps/{sweep_id}/summary.parquet"))
    stored = json.loads(store.get_bytes(OUT, f"sweeps/{sweep_id}/robustness.json"))
    return summary, report, stored


def brute_pareto(sharpe: list[float], dd: list[float], ruined: list[bool]) -> list[bool]:
    ok = [not r and np.isfinite(s) and np.isfinite(d) for s, d, r in zip(sharpe, dd, ruined)]
    out = []
    for i in range(len(sharpe)):
        dominated = any(
            ok[j]
            and sharpe[j] >= sharpe[i]
            and dd[j] <= dd[i]
            and (sharpe[j] > sharpe[i] or dd[j] < dd[i])
            for j in range(len(sharpe))
        )
        out.append(ok[i] and not dominated)
    return out


def test_two_objective_search_collect(local) -> None:
    store, env = local
    summary, report, stored = run_search(store, env, ("sharpe", "max_drawdown"), "tpe2")
    assert summary["combo_id"].tolist() == list(range(10))
    assert summary[["fast", "slow"]].to_dict("records") == ROUND0 + ROUND1 + ROUND2
    assert summary["round"].tolist() == [0] * 4 + [1] * 4 + [2] * 2
    assert list(summary.columns[:2]) == ["combo_id", "round"]
    sharpe, dd = summary["sharpe"].tolist(), summary["max_drawdown"].tolist()
    want = brute_pareto(sharpe, dd, summary["ruined"].tolist())
    assert summary["pareto"].dtype == bool and summary["pareto"].tolist() == want
    assert 1 <= sum(want) < 10
    best = int(np.nanargmax(np.where(summary["ruined"], np.nan, sharpe)))
    assert report["metric"] == "sharpe" and report["best"]["combo_id"] == best
    assert report["n_trials"] == 10 and report["dsr_inputs"] is not None
    assert "round" not in report["best"]["metrics"] and "pareto" not in report["best"]["metrics"]
    assert report["top_runs"][0]["combo_id"] == best
    cumulative = [max(s for s, r in zip(sharpe, summary["round"]) if r <= k) for k in range(3)]
    assert stored["search"] == {
        "objectives": ["sharpe", "max_drawdown"],
        "directions": ["maximize", "minimize"],
        "n_trials": 10,
        "n_rounds": 3,
        "round_size": 4,
        "seed": 11,
        "budget": 10,
        "pareto_size": sum(want),
        "best_by_round": pytest.approx(cumulative),
    }
    top = json.loads(store.get_bytes(OUT, "runs/tpe2-top1/spec.json"))
    assert {k: top["params"][k] for k in ("fast", "slow")} == summary.loc[
        best, ["fast", "slow"]
    ].to_dict()


def test_a_minimised_first_objective_picks_the_smallest(local) -> None:
    store, env = local
    summary, report, stored = run_search(store, env, ("max_drawdown",), "tpe1")
    assert "pareto" not in summary.columns
    dd = summary["max_drawdown"].to_numpy()
    best = int(np.argmin(np.where(summary["ruined"], np.inf, dd)))
    assert report["metric"] == "max_drawdown" and report["best"]["combo_id"] == best
    assert [t["combo_id"] for t in report["top_runs"]] == [int(i) for i in np.argsort(dd)[:2]]
    assert report["top_runs"][0]["max_drawdown"] == pytest.approx(dd.min())
    assert stored["search"]["pareto_size"] is None
    rounds = summary["round"].to_numpy()
    assert stored["search"]["best_by_round"] == pytest.approx(
        [dd[rounds <= k].min() for k in range(3)]
    )


def test_ruined_trials_are_never_on_the_front(local) -> None:
    store, _env = local
    put_prices(store, IN)
    spec = tpe_sweep(IN, OUT, objectives=("sharpe", "max_drawdown"), sweep_id="tr")
    uri = put_spec(store, spec, chunk_size=2)
    doc = load_doc(store, OUT, uri.split("/", 3)[3])
    frame = pd.DataFrame(
        {
            "combo_id": np.arange(4, dtype=np.int64),
            "sharpe": [2.0, 1.0, 0.5, np.nan],
            "max_drawdown": [0.1, 0.2, 0.05, 0.01],
            "ruined": [True, False, False, False],
        }
    )
    out = search_columns(frame, doc)
    # without the ruined row 0, row 1 is not dominated; row 3 has no sharpe
    assert out["pareto"].tolist() == [False, True, True, False]
    assert out["round"].tolist() == [0, 0, 0, 0]
