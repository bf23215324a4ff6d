"""Resuming a walk-forward sweep reruns its missing in-sample chunks too and ends with the
walk-forward results (local executor; the commands AWS Batch would get, on moto).

A walk-forward sweep is one array (ordinary chunks, then windows x chunks) plus the walk-forward
collect. Children lost before they ran fail the array, so the collect never runs; the resume
must rerun exactly the lost children of both kinds and the walk-forward collect, and the
results must equal those of the same sweep run without a loss.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from engine.errors import BacktestError
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep import collect as plain_collect
from engine.sweep import wf_jobs
from engine.sweep.spec import SweepSpec
from engine.sweep.wf_windows import WalkForwardSpec
from jobs.batch import BatchExecutor
from jobs.factory import aws_clients
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.resume import read_state, resume_sweep
from jobs.settings import Settings, load_settings
from jobs.sweeps import submit_sweep_jobs
from tests.jobs.test_jobs_batch import Calls, make_stack

RESULTS = "results"
N_ORDINARY = 2  # full-sample chunks; 520 bars at 200:100 -> 4 windows, 1 chunk each


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Path, Settings]]:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / RESULTS).mkdir()
    random_walk(520, seed=5).to_csv(root / "input" / "prices.csv")
    env = {
        "BACKTEST_STORAGE_ROOT": str(root),
        "BACKTEST_CONFIG": str(tmp_path / "none.toml"),
        "BACKTEST_BACKEND": "local",
        "BACKTEST_POLL_MS": "50",
        "BACKTEST_WORKER_IDLE": "3",
    }
    yield root, load_settings(env)


def _spec(sweep_id: str) -> SweepSpec:
    return SweepSpec(
        sweep_id=sweep_id,
        base=RunSpec("input", "prices.csv", RESULTS, "sma_cross"),
        space={"fast": "5:25:5", "slow": "20:60:20"},
        walk_forward=WalkForwardSpec.parse("200:100"),
        top_n=1,
    )


def _submit(settings: Settings, root: Path, sweep_id: str, lost: list[int]) -> Any:
    """Submit the sweep with no worker; fail array children ``lost`` before they run."""
    with LocalExecutor(settings, worker="none") as quiet:
        sub = submit_sweep_jobs(quiet, LocalStore(root), _spec(sweep_id), n_children=N_ORDINARY)
        for index in lost:
            quiet.terminate(f"{sub.array.id}:{index}", reason="lost (test)")
    return sub


def _frame(store: LocalStore, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.get_bytes(RESULTS, key)))


def _results(store: LocalStore, sweep_id: str) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    prefix = f"sweeps/{sweep_id}/walk_forward/"
    windows = _frame(store, prefix + "windows.parquet")
    equity = _frame(store, prefix + "equity.parquet")
    report = json.loads(store.get_bytes(RESULTS, prefix + "result.json"))
    return windows, equity, report["files"]


def _reference(settings: Settings, root: Path) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """The same sweep run with nothing lost."""
    sub = _submit(settings, root, "wf-ref", [])
    with LocalExecutor(settings, worker="thread", concurrency=2) as ex:
        assert ex.wait(sub.collect.id, timeout=300).status is JobStatus.SUCCEEDED
    return _results(LocalStore(root), "wf-ref")


def test_resume_reruns_lost_ordinary_and_walk_forward_chunks(local: Any) -> None:
    root, settings = local
    store = LocalStore(root)
    # children: 0..1 full sample, 2..5 the four windows' in-sample chunks; lose 1, 3 and 5
    sub = _submit(settings, root, "wf", [1, 3, 5])
    assert sub.array.array_size == N_ORDINARY + 4
    with LocalExecutor(settings, worker="thread", concurrency=2) as ex:
        assert ex.wait(sub.collect.id, timeout=300).status is JobStatus.FAILED
        state = read_state(store, RESULTS, "wf")
        assert state.walk_forward is not None
        assert (state.to_rerun, state.wf_to_rerun, state.n_to_rerun) == ([1], [1, 3], 3)
        assert not state.collected
        assert not store.exists(RESULTS, wf_jobs.result_key("wf"))

        resumed = resume_sweep(ex, store, RESULTS, "wf")
        assert (resumed.chunks, resumed.wf_chunks) == ([1], [1, 3])
        assert resumed.array is not None and resumed.array.array_size == 3
        assert resumed.collect.command[-3:-1] == ("engine.sweep.wf_jobs", "collect")
        assert "1 missing chunk(s) (1) and 2 missing walk-forward in-sample chunk(s) (1, 3)" in (
            resumed.summary()
        )
        assert "then walk-forward collect job" in resumed.summary()
        done = ex.wait(resumed.collect.id, timeout=300)
        assert done.status is JobStatus.SUCCEEDED, ex.logs(resumed.collect.id)
    after = read_state(store, RESULTS, "wf")
    assert after.collected and after.n_to_rerun == 0
    windows, equity, files = _results(store, "wf")
    assert windows["params"].notna().all() and (windows["note"].fillna("") == "").all()
    ref_windows, ref_equity, ref_files = _reference(settings, root)
    pd.testing.assert_frame_equal(windows, ref_windows)
    pd.testing.assert_frame_equal(equity, ref_equity)
    assert [f["metrics"] for f in files] == [f["metrics"] for f in ref_files]
    summary = _frame(store, "sweeps/wf/summary.parquet")
    assert len(summary) == len(_frame(store, "sweeps/wf-ref/summary.parquet"))


def test_a_walk_forward_sweep_collected_by_the_plain_collect_is_resumable(local: Any) -> None:
    root, settings = local
    store = LocalStore(root)
    sub = _submit(settings, root, "wfp", [4])  # in-sample chunk 2 (window 2) lost
    with LocalExecutor(settings, worker="thread", concurrency=2) as ex:
        assert ex.wait(sub.collect.id, timeout=300).status is JobStatus.FAILED
        env = {"BACKTEST_STORAGE_ROOT": str(root)}
        plain_collect.collect(store, RESULTS, "wfp", env={**os.environ, **env})
        assert store.exists(RESULTS, "sweeps/wfp/_SUCCESS")
        state = read_state(store, RESULTS, "wfp")
        assert not state.collected  # no walk-forward results: not the end of this sweep
        assert (state.to_rerun, state.wf_to_rerun) == ([], [2])
        resumed = resume_sweep(ex, store, RESULTS, "wfp")
        assert resumed.array is not None and resumed.array.array_size is None  # one plain job
        assert resumed.array.command[-3:-1] == ("engine.sweep.wf_jobs", "resume-child")
        assert ex.wait(resumed.collect.id, timeout=300).status is JobStatus.SUCCEEDED
        assert read_state(store, RESULTS, "wfp").collected
        with pytest.raises(BacktestError, match="already collected"):
            resume_sweep(ex, store, RESULTS, "wfp")
    windows, _, files = _results(store, "wfp")
    assert windows["params"].notna().all() and files[0]["n_chosen"] == 4


def test_resume_child_refuses_a_bad_manifest_in_one_line(local: Any, capsys: Any) -> None:
    root, settings = local
    store = LocalStore(root)
    _submit(settings, root, "wfm", [])
    env = {**os.environ, "BACKTEST_STORAGE_ROOT": str(root)}
    spec_uri = "s3://results/sweeps/wfm/spec.json"
    cases = [
        ({"sweep_id": "wfm", "spec": spec_uri, "chunks": [], "wf_chunks": [4]},
         "'wf_chunks' must be a list of indices 0..3"),
        ({"sweep_id": "wfm", "spec": spec_uri, "chunks": [2]},
         "'chunks' must be a list of indices 0..1"),
        ({"sweep_id": "wfm", "spec": spec_uri, "chunks": [], "wf_chunks": []},
         "both empty; nothing to rerun"),
        ({"sweep_id": "wfm", "spec": "s3://results/sweeps/other/spec.json", "chunks": [0]},
         "is not a resume manifest of sweep 'wfm'"),
    ]  # fmt: skip
    for n, (manifest, needle) in enumerate(cases, start=1):
        key = f"sweeps/wfm/resume/{n}.json"
        store.put_bytes(RESULTS, key, json.dumps(manifest).encode())
        code = wf_jobs.main(["resume-child", f"s3://results/{key}"], env=env)
        err = capsys.readouterr().err.strip()
        assert code == 2 and needle in err and len(err.splitlines()) == 1, err
    assert not store.list(RESULTS, "sweeps/wfm/walk_forward/is/")  # nothing was evaluated


@pytest.fixture
def batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[BatchExecutor, Calls, Path]]:
    """A BatchExecutor on in-process moto (tests/jobs/test_resume.py's fixture) over a storage
    root holding the same prices."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(name, value)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BATCH", "AWS_ENDPOINT_URL_LOGS"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / RESULTS).mkdir()
    random_walk(520, seed=5).to_csv(root / "input" / "prices.csv")
    with mock_aws(config={"batch": {"use_docker": False}}):
        client, logs = aws_clients(Settings(backend="aws", user="alice"), env={})
        queue, definition = make_stack(client, boto3.client("iam", region_name="us-east-1"))
        settings = Settings(backend="aws", user="alice", job_queue=queue, job_definition=definition)
        calls = Calls(client, "SubmitJob")
        yield BatchExecutor(settings, client, logs, poll=0.01), calls, root


def test_batch_resume_of_a_walk_forward_sweep_runs_as_batch_would(
    batch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex, calls, root = batch
    store = LocalStore(root)
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # every job ends FAILED at once
    sub = submit_sweep_jobs(ex, store, _spec("wfb"), n_children=N_ORDINARY)
    assert ex.get(sub.array.id).status is JobStatus.FAILED
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER")
    base = {**os.environ, "BACKTEST_STORAGE_ROOT": str(root)}
    for index in (0, 2, 4):  # these children finished before the array failed
        env = {**base, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)}
        assert wf_jobs.main(["child", sub.spec_uri], env=env) == 0

    resumed = resume_sweep(ex, store, RESULTS, "wfb")
    assert (resumed.chunks, resumed.wf_chunks) == ([1], [1, 3])
    array_req, collect_req = calls.params["SubmitJob"][-2:]
    assert array_req["arrayProperties"] == {"size": 3}
    command = array_req["containerOverrides"]["command"]
    assert command[:4] == ["python", "-m", "engine.sweep.wf_jobs", "resume-child"]
    assert command[4] == "s3://results/sweeps/wfb/resume/1.json"
    assert collect_req["containerOverrides"]["command"] == [
        "python", "-m", "engine.sweep.wf_jobs", "collect", sub.spec_uri,
    ]  # fmt: skip
    assert collect_req["dependsOn"] == [{"jobId": resumed.array.id}]  # type: ignore[union-attr]
    for k in range(3):  # child k of the new array, as Batch numbers it
        env = {**base, "AWS_BATCH_JOB_ARRAY_INDEX": str(k)}
        assert wf_jobs.main(command[3:], env=env) == 0
    state = read_state(store, RESULTS, "wfb")
    assert state.n_to_rerun == 0 and not state.collected
    assert wf_jobs.main(collect_req["containerOverrides"]["command"][3:], env=base) == 0
    assert read_state(store, RESULTS, "wfb").collected
    windows, _, files = _results(store, "wfb")
    assert windows["params"].notna().all() and files[0]["n_chosen"] == 4
