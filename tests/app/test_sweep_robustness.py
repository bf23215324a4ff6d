"""app.sweep_robustness over real sweeps (submitted through jobs.sweeps, children and collect run
in-process): verdicts against their thresholds, PBO logits recomputed from the stored returns
equal to collect's PBO, and the in- vs out-of-sample scatter on collect's own scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import sweep_robustness as rob
from app import sweep_service as ss
from app.context import AppContext
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.child import run_sweep_child
from engine.sweep.collect import collect
from engine.sweep.spec import SweepSpec
from jobs.local import LocalExecutor
from jobs.settings import Settings
from jobs.sweeps import HOLDOUT, submit_sweep_jobs
from tests._results_helpers import INPUT, RESULTS, Lab, app_test, lab_fixture, texts  # noqa: F401

SPACE = {"fast": "4:20:2", "slow": "24:60:4"}  # 9 x 10 = 90 combinations, all valid


class _NoExecutor:
    backend = "local"


def ctx_for(lab: Lab) -> AppContext:
    settings = Settings(storage_root=str(lab.root))
    return AppContext(settings=settings, store=lab.store, executor=_NoExecutor())  # type: ignore[arg-type]


def collected_sweep(root: Path, key: str, sweep_id: str, *, holdout: bool) -> str:
    """A real sma_cross sweep over ``key``: submitted, its 2 children and collect run."""
    spec = SweepSpec(
        sweep_id=sweep_id, base=RunSpec(INPUT, key, RESULTS, "sma_cross"), space=SPACE,
        split=HOLDOUT if holdout else None, top_n=1,
    )  # fmt: skip
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        sub = submit_sweep_jobs(ex, store, spec, n_children=2)
    env = {"BACKTEST_STORAGE_ROOT": str(root)}
    for i in range(sub.plan.n_children):
        assert run_sweep_child(sub.spec_uri, {**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)}) == 0
    collect(store, RESULTS, sweep_id, env=env)
    return sweep_id


def test_verdicts_judge_each_statistic_against_its_threshold() -> None:
    robustness = {
        "n_trials": 1000, "deflated_sharpe": 0.97, "probabilistic_sharpe": 0.6, "pbo": 0.62,
        "plateau_score": 0.4,
        "oos": [{"is_sharpe": 2.0, "oos_sharpe": 1.5}, {"is_sharpe": 1.0, "oos_sharpe": 0.0}],
    }  # fmt: skip
    table = rob.verdicts(robustness).set_index("statistic")
    assert table.loc["Deflated Sharpe ratio", "verdict"] == "pass"  # 0.97 > 0.95
    assert "1,000 combinations" in table.loc["Deflated Sharpe ratio", "meaning"]
    assert table.loc["Probabilistic Sharpe ratio", "verdict"] == "fail"  # 0.6
    assert table.loc["Probability of backtest overfitting (PBO)", "verdict"] == "fail"  # > 0.5
    assert table.loc["Plateau score", "verdict"] == "fail"  # 0.4 < 0.5
    # (1.5 + 0) / 2 over (2 + 1) / 2 = 0.5: exactly the threshold passes
    assert table.loc["Out-of-sample efficiency", "value"] == "0.5"
    assert table.loc["Out-of-sample efficiency", "verdict"] == "pass"
    skipped = rob.verdicts({"pbo": None, "pbo_skipped_reason": "only 8 return periods", "oos": []})
    row = skipped.set_index("statistic").loc["Probability of backtest overfitting (PBO)"]
    assert row["value"] == "n/a" and row["verdict"] == "not available: only 8 return periods"
    oos = skipped.set_index("statistic").loc["Out-of-sample efficiency", "verdict"]
    assert oos == "not available: no holdout was kept for this sweep"


def test_logits_and_scatter_recomputed_from_the_stored_returns(lab: Lab) -> None:
    key = lab.add_file("a.csv", n_bars=800, seed=5)
    collected_sweep(lab.root, key, "hold", holdout=True)
    view = ss.read_sweep(ctx_for(lab), "hold")
    stored = json.loads((lab.root / RESULTS / "sweeps/hold/robustness.json").read_text())
    extra = rob.recompute(ctx_for(lab), view)
    assert extra.logits is not None and stored["pbo"] is not None
    assert float(np.mean(extra.logits <= 0)) == pytest.approx(stored["pbo"])
    assert len(extra.logits) == stored["pbo_details"]["splits_used"]
    assert "equals collect's" in extra.pbo_note
    points = extra.points
    assert points is not None and len(points) == 90
    # collect's in-sample best (rank 1 of its top 10) is the scatter's highest in-sample point
    first = next(o for o in stored["oos"] if o["rank"] == 1)
    top = points.loc[points["is_sharpe"].idxmax()]
    assert top["is_sharpe"] == pytest.approx(first["is_sharpe"], abs=1e-3)
    assert top["oos_sharpe"] == pytest.approx(first["oos_sharpe"], abs=1e-3)
    params = ", ".join(f"{k}={v}" for k, v in first["params"].items())
    assert top["combination"] == params


def test_no_holdout_means_no_scatter_and_says_so(lab: Lab) -> None:
    key = lab.add_file("a.csv", n_bars=800, seed=5)
    collected_sweep(lab.root, key, "plain", holdout=False)
    extra = rob.recompute(ctx_for(lab), ss.read_sweep(ctx_for(lab), "plain"))
    assert extra.points is None and "no holdout was kept" in extra.points_note
    assert extra.logits is not None  # PBO needs no holdout


def test_robustness_tab_shows_verdicts_and_both_charts(lab: Lab) -> None:
    key = lab.add_file("a.csv", n_bars=800, seed=5)
    collected_sweep(lab.root, key, "hold", holdout=True)
    at = app_test("views/sweep_results.py", sweep="hold", tab="Robustness")
    assert not at.exception
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    assert list(table.columns) == rob.COLUMNS
    assert set(table["verdict"]) <= {"pass", "fail"} | {
        v for v in table["verdict"] if str(v).startswith("not available")
    }
    assert (table["threshold"] != "").all()
    charts = {el.proto.alt.split(":")[0]: el for el in at.get("echarts_chart")}
    assert {"Histogram", "Scatter"} <= set(charts)
    assert "90 combinations" in charts["Scatter"].proto.alt
    assert "PBO = the share of splits" in texts(at)


def test_ruined_rows_never_reach_the_scatter(lab: Lab) -> None:
    key = lab.add_file("a.csv", n_bars=800, seed=5)
    collected_sweep(lab.root, key, "hold", holdout=True)
    path = lab.root / RESULTS / "sweeps/hold/summary.parquet"
    summary = pd.read_parquet(path)
    summary.loc[[0, 1], "ruined"] = True
    summary.to_parquet(path)
    extra = rob.recompute(ctx_for(lab), ss.read_sweep(ctx_for(lab), "hold"))
    assert extra.points is not None and len(extra.points) == 88


def test_rank_correlation_is_spearmans_without_scipy() -> None:
    x = pd.Series([3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0])
    y = pd.Series([2.0, 7.0, 1.0, 8.0, 2.5, 3.0, 6.0])
    # no ties: rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)), ranks by hand
    rx, ry = [4, 1, 5, 2, 6, 7, 3], [2, 6, 1, 7, 3, 4, 5]
    d2 = sum((a - b) ** 2 for a, b in zip(rx, ry, strict=True))
    assert rob.rank_correlation(x, y) == pytest.approx(1 - 6 * d2 / (7 * (49 - 1)))
    assert rob.rank_correlation(x, x * 10 + 1) == pytest.approx(1.0)
    assert rob.rank_correlation(x, -x) == pytest.approx(-1.0)
    assert rob.rank_correlation(x[:2], y[:2]) is None  # too few pairs
    assert rob.rank_correlation(x, pd.Series([1.0] * 7)) is None  # a constant side
    with_nan = pd.Series([np.nan, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0])
    assert rob.rank_correlation(with_nan, y) == pytest.approx(rob.rank_correlation(x[1:], y[1:]))
