"""A stored strategy's sweep on the AWS Batch backend (moto, no Docker): the SubmitJob payloads
carry only the spec's address, spec.json is pinned to sweeps/<id>/strategy.py, and running the
payloads' own commands as the containers would (one process per array index, then the collect)
uses that copy even after the stored file was edited."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.sim.synthetic import random_walk
from engine.store.objects import LocalStore
from engine.sweep.results import read_sweep
from engine.userstrat import put_strategy
from jobs.sweeps import SweepRequest, build_sweep_spec, submit_sweep_jobs
from tests._strategy_files import close_above_sma
from tests.jobs.test_jobs_batch import aws_creds, moto_batch  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[2]
NAME = "batch_close_above_sma"
GOOD = close_above_sma(NAME)
EDITED = GOOD.replace("close[w - 1 :] > sma", "close[w - 1 :] < sma")


def run_container(command: list[str], root: Path, index: int | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["BACKTEST_STORAGE_ROOT"] = str(root)
    if index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    argv = [sys.executable, *command[1:]] if command[0] == "python" else command
    done = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_stored_strategy_sweep_on_batch_runs_its_pinned_copy(
    moto_batch: Any,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    ex, calls = moto_batch
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(400, seed=12).to_csv(root / "input" / "prices.csv")
    store = LocalStore(root)
    put_strategy(store, "input", GOOD, user="dana")
    spec = build_sweep_spec(
        SweepRequest(
            "input", ["prices.csv"], "results", NAME, {"window": [2, 5, 9, 30]}, sweep_id="b1"
        )
    )
    sub = submit_sweep_jobs(ex, store, spec, n_children=2)
    assert sub.n_combinations == 3  # window=2 breaks "window above 3"

    array, collect = calls.params["SubmitJob"]
    uri = "s3://results/sweeps/b1/spec.json"
    assert array["arrayProperties"] == {"size": 2}
    assert array["containerOverrides"]["command"] == [
        "python", "-m", "engine.backtest", "--sweep", uri
    ]  # fmt: skip
    assert collect["containerOverrides"]["command"] == ["python", "-m", "engine.sweep.collect", uri]
    assert collect["dependsOn"] == [{"jobId": sub.array.id}]
    sha = hashlib.sha256(GOOD.encode()).hexdigest()
    assert store.get_bytes("results", "sweeps/b1/strategy.py") == GOOD.encode()

    put_strategy(store, "input", EDITED, user="bob", overwrite=True)  # edited mid-sweep
    for index in range(2):
        run_container(array["containerOverrides"]["command"], root, index)
    run_container(collect["containerOverrides"]["command"], root, None)
    result = read_sweep(store, "results", "b1")
    assert result.finished and sorted(result.summary["window"]) == [5, 9, 30]
    assert result.spec["base"]["strategy_sha256"] == sha

    from engine.api import run_backtest
    from engine.data import load_prices
    from engine.userstrat import load_strategy_file

    original = tmp_path / "original.py"
    original.write_text(GOOD, encoding="utf-8")
    strategy = load_strategy_file(original)
    prices = load_prices((root / "input" / "prices.csv").read_bytes(), name="prices.csv")
    for row in result.summary.itertuples():
        single = run_backtest(prices, strategy, {"window": int(row.window)}).metrics
        assert row.total_return == pytest.approx(single["total_return"], abs=1e-12)
        assert row.n_trades == single["n_trades"]
