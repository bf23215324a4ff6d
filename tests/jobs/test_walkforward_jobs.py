"""Walk-forward sweeps through the jobs layer: the CLI on the local backend end to end, the
holdout default, one-line errors, and the payloads AWS Batch receives (moto)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from engine import load_prices, run_backtest
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec, SimOptions
from engine.store.objects import LocalStore
from engine.sweep import wf_jobs
from engine.sweep.results import read_sweep
from engine.sweep.spec import SweepSpec
from engine.sweep.wf_windows import WalkForwardSpec
from jobs.batch import BatchExecutor
from jobs.factory import aws_clients
from jobs.settings import Settings
from jobs.sweeps import SweepRequest, build_sweep_spec, submit_sweep_jobs
from tests.jobs.test_jobs_batch import Calls, make_stack
from tests.realaws import limit_container_overrides

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(520, seed=5).to_csv(root / "input" / "prices.csv")
    random_walk(430, seed=6).to_csv(root / "input" / "other.csv")
    return root


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=REPO, env=env, capture_output=True, check=False, text=True, timeout=300,
    )  # fmt: skip


def local_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BACKTEST_STORAGE_ROOT=str(root),
        BACKTEST_POLL_MS="50",
        BACKTEST_WORKER_IDLE="2",
        BACKTEST_CONCURRENCY="2",
    )
    return env


def chained(prices: pd.DataFrame, windows: pd.DataFrame, options: SimOptions) -> pd.Series:
    """The out-of-sample runs chained, each with run_backtest on its own slice (warm-up bars
    before it: SMA(slow) is undefined on the first slow - 1 bars)."""
    parts, cash = [], options.cash
    for row in windows.sort_values("window").to_dict("records"):
        params = json.loads(row["params"])
        start = prices.index.get_loc(pd.Timestamp(row["oos_start"]))
        stop = prices.index.get_loc(pd.Timestamp(row["oos_end"])) + 1
        warm = params["slow"] - 1
        res = run_backtest(
            prices.iloc[start - warm : stop],
            "sma_cross",
            params,
            options=replace(options, cash=cash),
        )
        part = res.equity["equity"].iloc[warm:]
        parts.append(part)
        cash = float(part.iloc[-1])
    return pd.concat(parts)


def frame(store: LocalStore, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.get_bytes("results", key)))


def test_cli_walk_forward_sweep_end_to_end_on_the_local_backend(root: Path) -> None:
    env = local_env(root)
    out = cli(
        "sweep", "input", "prices.csv", "other.csv", "results", "--strategy", "sma_cross",
        "--range", "fast=5:25:5", "--range", "slow=20:60:20", "--commission", "0.001",
        "--walk-forward", "200:100", "--wf-constraint", "n_trades>=1", "--children", "2",
        "--top-n", "1", "--sweep-id", "wf", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    # prices.csv: 520 bars -> windows at 200, 300, 400, 500 (the last 20 bars); other.csv: 3
    assert "walk-forward: the array has 9 children: 0..1 the full sample" in lines[1]
    assert "of 7 window(s)" in lines[1]
    waited = cli("wait", lines[-1], "--timeout", "240", env=env)
    assert waited.returncode == 0, (waited.stdout, waited.stderr)
    store = LocalStore(root)
    assert store.exists("results", "sweeps/wf/_SUCCESS")
    result = read_sweep(store, "results", "wf")
    assert result.spec["walk_forward"]["in_sample"] == 200
    assert result.spec["walk_forward"]["constraints"] == ["n_trades>=1"]
    # the holdout default: an out-of-sample figure for the full-sample sweep too
    assert result.spec["split"] == {"kind": "train_test", "train_fraction": 0.7}
    assert result.robustness["oos"] and result.robustness["oos_skipped_reason"] is None
    windows = frame(store, "sweeps/wf/walk_forward/windows.parquet")
    curve = frame(store, "sweeps/wf/walk_forward/equity.parquet").set_index("timestamp")
    report = json.loads(store.get_bytes("results", "sweeps/wf/walk_forward/result.json"))
    options = SimOptions(commission=0.001)
    for key, n_windows in (("prices.csv", 4), ("other.csv", 3)):
        rows = windows[windows.source_key == key]
        assert len(rows) == n_windows and rows["params"].notna().all()
        prices = load_prices(root / "input" / key)
        expected = chained(prices, rows, options)
        got = curve[curve.source_key == key]["equity"]
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
        assert list(pd.DatetimeIndex(got.index)) == list(expected.index)
        entry = next(f for f in report["files"] if f["source_key"] == key)
        assert entry["metrics"]["final_equity"] == pytest.approx(expected.iloc[-1], rel=1e-12)
        is_m, oos_m = rows["is_metric"].to_numpy(), rows["oos_metric"].to_numpy()
        ok = np.isfinite(is_m) & np.isfinite(oos_m)
        want = oos_m[ok].mean() / is_m[ok].mean() if is_m[ok].mean() > 0 else None
        assert entry["efficiency"] == (pytest.approx(want) if want is not None else None)
        # each window's in-sample metric is the best of the space on exactly its IS bars
        first = rows.sort_values("window").iloc[0]
        table = _is_table(prices, 0, 200, options)
        assert first["is_metric"] == pytest.approx(table["sharpe"].max(), rel=1e-12)


def _is_table(prices: pd.DataFrame, lo: int, hi: int, options: SimOptions) -> pd.DataFrame:
    from engine import run_sweep

    table = run_sweep(
        prices.iloc[lo:hi], "sma_cross", {"fast": range(5, 30, 5), "slow": [20, 40, 60]},
        options=options,
    )  # fmt: skip
    return table[(table["n_trades"] >= 1) & ~table["ruined"]]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--walk-forward", "200"], "--walk-forward takes IS:OOS[:STEP]"),
        (["--walk-forward", "200:100:50"], "step 50 is shorter than the out-of-sample"),
        (["--walk-forward", "200:1Y"], "must all be bars"),
        (["--walk-forward", "200:100", "--wf-metric", "volatility"], "cannot be maximised"),
        (["--walk-forward", "200:100", "--wf-constraint", "dd<1"], "unknown metric 'dd'"),
        (["--anchored"], "--anchored only apply with --walk-forward"),
        (["--walk-forward", "40:100"], "window 0 has 40 in-sample bars; the space needs 60"),
        (["--walk-forward", "600:100"], "leaves no window on 520 bars"),
    ],
)
def test_bad_walk_forward_input_is_one_line_and_submits_nothing(root, extra, needle) -> None:
    env = local_env(root)
    out = cli(
        "sweep", "input", "prices.csv", "results", "--strategy", "sma_cross",
        "--range", "fast=5:25:5", "--range", "slow=20:60:20", "--sweep-id", "bad", *extra,
        env=env,
    )  # fmt: skip
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert not (root / "results" / "sweeps" / "bad").exists()


def test_holdout_is_the_default_and_can_be_turned_off() -> None:
    args = ("input", ["prices.csv"], "results", "sma_cross", {"fast": "5:10:5"})
    on = build_sweep_spec(SweepRequest(*args))
    off = build_sweep_spec(SweepRequest(*args, holdout=False))
    assert on.split is not None and (on.split.kind, on.split.train_fraction) == ("train_test", 0.7)
    assert off.split is None
    assert "walk_forward" not in off.to_dict()  # a plain sweep's spec.json is unchanged


@pytest.fixture
def moto_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BatchExecutor, Calls]]:
    """A BatchExecutor on in-process moto (as tests/jobs/test_jobs_batch.py's fixture)."""
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(var, value)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BATCH", "AWS_ENDPOINT_URL_LOGS"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws(config={"batch": {"use_docker": False}}):
        batch, logs = aws_clients(Settings(backend="aws", user="alice"), env={})
        queue, definition = make_stack(batch, boto3.client("iam", region_name="us-east-1"))
        settings = Settings(backend="aws", user="alice", job_queue=queue, job_definition=definition)
        calls = Calls(batch, "SubmitJob")
        limit_container_overrides(batch)
        yield BatchExecutor(settings, batch, logs, poll=0.01), calls


def test_walk_forward_on_batch_sends_one_array_and_the_collect(moto_batch: Any, root) -> None:
    ex, calls = moto_batch
    store = LocalStore(root)
    spec = SweepSpec(
        sweep_id="wfb",
        base=RunSpec("input", "prices.csv", "results", "sma_cross"),
        space={"fast": "5:25:5", "slow": "20:60:20"},
        walk_forward=WalkForwardSpec.parse("1Y:6M", anchored=True),
    )
    sub = submit_sweep_jobs(ex, store, spec, n_children=2)
    array, collect = calls.params["SubmitJob"]
    plan = wf_jobs.read_plan(store, "results", "wfb")
    # 520 business days from 2015-01-05 (to 2016-12-30): OOS from 2016-01-05 and 2016-07-05
    assert len(plan.units) == 2 and plan.chunks_per_unit == 1
    assert array["arrayProperties"] == {"size": 2 + 2}
    uri = "s3://results/sweeps/wfb/spec.json"
    assert array["containerOverrides"]["command"] == [
        "python", "-m", "engine.sweep.wf_jobs", "child", uri
    ]  # fmt: skip
    assert collect["containerOverrides"]["command"] == [
        "python", "-m", "engine.sweep.wf_jobs", "collect", uri
    ]  # fmt: skip
    assert collect["dependsOn"] == [{"jobId": sub.array.id}]
    assert "arrayProperties" not in collect
    env_vars = {e["name"]: e["value"] for e in array["containerOverrides"]["environment"]}
    assert json.loads(env_vars["BACKTEST_JOB_SPEC"]) == {"sweep_id": "wfb", "spec_uri": uri}
    # run the commands Batch received, as each container would, then read the result
    base = {**os.environ, "BACKTEST_STORAGE_ROOT": str(root)}
    for i in range(array["arrayProperties"]["size"]):
        env = {**base, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)}
        assert wf_jobs.main(array["containerOverrides"]["command"][3:], env=env) == 0
    assert wf_jobs.main(collect["containerOverrides"]["command"][3:], env=base) == 0
    windows = frame(store, "sweeps/wfb/walk_forward/windows.parquet")
    assert windows["oos_start"].str[:10].tolist() == ["2016-01-05", "2016-07-05"]
    assert windows["is_start"].str[:10].tolist() == ["2015-01-05"] * 2  # anchored
    assert store.exists("results", "sweeps/wfb/_SUCCESS")
