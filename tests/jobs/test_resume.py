"""A lost child does not lose the sweep: `python -m jobs resume` / jobs.resume on both backends.

Local: a sweep whose children are lost (terminated before they ran) ends FAILED with its collect
job; the resume reruns only those chunks and the summary then holds every combination, with
the same metrics as the engine's in-process run_sweep. Batch (moto): the resume submits one
array covering exactly the missing indices, whose children (run here with the very command
and array indices Batch would give them) complete the sweep.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from app.seed import seed
from engine import load_prices, run_sweep
from engine.errors import BacktestError
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.store.runs import parquet_to_frame, to_json_bytes, utc_now
from engine.sweep.child import run_sweep_child
from engine.sweep.collect import main as collect_main
from engine.sweep.results import chunk_key, read_json, sweep_prefix
from engine.sweep.resume_child import main as resume_child_main
from engine.sweep.spec import SweepSpec
from jobs.batch import BatchExecutor
from jobs.factory import aws_clients
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.resume import read_state, resume_sweep, terminate_sweep
from jobs.settings import Settings, load_settings
from jobs.sweeps import submit_sweep_jobs
from tests.jobs.test_jobs_batch import Calls, make_stack

REPO = Path(__file__).resolve().parents[2]
INPUT, RESULTS, TREND = "backtest-input", "backtest-results", "samples/trend_up_daily.csv"
GRID = {"fast": [5, 10, 15, 20], "slow": [30, 40, 60]}  # 12 combinations


def _spec(sweep_id: str) -> SweepSpec:
    base = RunSpec(INPUT, TREND, RESULTS)
    return SweepSpec(sweep_id=sweep_id, base=base, space=dict(GRID), top_n=2)  # fewer reruns


def _expected(root: Path) -> pd.DataFrame:
    prices = load_prices(root / INPUT / TREND)
    return run_sweep(prices, "sma_cross", GRID).sort_values(["fast", "slow"], ignore_index=True)


def _check_summary(root: Path, sweep_id: str) -> None:
    store = LocalStore(root)
    prefix = sweep_prefix(sweep_id)
    assert store.exists(RESULTS, prefix + "_SUCCESS")
    got = parquet_to_frame(store.get_bytes(RESULTS, prefix + "summary.parquet"))
    got = got.sort_values(["fast", "slow"], ignore_index=True)
    want = _expected(root)
    assert len(got) == len(want) == 12
    for column in ("fast", "slow", "total_return", "sharpe", "n_trades", "final_equity"):
        np.testing.assert_allclose(got[column].astype(float), want[column].astype(float))
    robustness = read_json(store, RESULTS, prefix + "robustness.json")
    text = str(robustness)
    assert "missing_chunks': [1" not in text and "failed_chunks': [1" not in text


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Path, Settings, dict[str, str]]]:
    root = tmp_path / "store"
    seed(root)
    env = {
        "BACKTEST_STORAGE_ROOT": str(root),
        "BACKTEST_CONFIG": str(tmp_path / "none.toml"),
        "BACKTEST_BACKEND": "local",
        "BACKTEST_POLL_MS": "50",
        "BACKTEST_WORKER_IDLE": "3",
    }
    settings = load_settings(env)
    yield root, settings, env


def _lose_children(settings: Settings, root: Path, sweep_id: str, lost: list[int]) -> Any:
    """Submit a 4-chunk sweep with no worker, fail children ``lost`` before they run."""
    with LocalExecutor(settings, worker="none") as quiet:
        sub = submit_sweep_jobs(quiet, LocalStore(root), _spec(sweep_id), n_children=4)
        for index in lost:
            quiet.terminate(f"{sub.array.id}:{index}", reason="lost (test)")
    return sub


def test_local_resume_reruns_only_the_lost_chunks(local: Any) -> None:
    root, settings, _ = local
    store = LocalStore(root)
    sub = _lose_children(settings, root, "sw-local", [1, 3])
    with LocalExecutor(settings, worker="thread", concurrency=2) as ex:
        collect = ex.wait(sub.collect.id, timeout=300)
        for r in ex.list(parent_id=sub.array.id):  # on failure, say why
            print(r.id, r.status.value, r.status_reason, ex.logs(r.id)[-800:])
        assert collect.status is JobStatus.FAILED  # the array failed: collect never ran
        assert ex.get(sub.array.id).status is JobStatus.FAILED
        state = read_state(store, RESULTS, "sw-local")
        assert (state.done, state.to_rerun, state.rows_done) == ([0, 2], [1, 3], 6)
        assert (state.array_id, state.collect_id) == (sub.array.id, sub.collect.id)

        resumed = resume_sweep(ex, store, RESULTS, "sw-local")
        assert resumed.chunks == [1, 3]
        assert resumed.array is not None and resumed.array.array_size == 2
        assert resumed.collect.depends_on == (resumed.array.id,)
        assert "2 missing chunk(s) (1, 3)" in resumed.summary()
        done = ex.wait(resumed.collect.id, timeout=300)
        assert done.status is JobStatus.SUCCEEDED, ex.logs(resumed.collect.id)
        logs = [ex.logs(f"{resumed.array.id}:{k}") for k in (0, 1)]
        assert "chunk 1" in logs[0] and "chunk 3" in logs[1]
        after = read_state(store, RESULTS, "sw-local")
        assert after.collected and after.to_rerun == []
        assert (after.array_id, after.collect_id) == (resumed.array.id, resumed.collect.id)
        with pytest.raises(BacktestError, match="already collected"):
            resume_sweep(ex, store, RESULTS, "sw-local")
    _check_summary(root, "sw-local")


def test_cli_resume_of_one_lost_chunk(local: Any) -> None:
    root, settings, env = local
    sub = _lose_children(settings, root, "sw-cli", [2])
    run_env = {**{k: v for k, v in os.environ.items() if not k.startswith("BACKTEST_")}, **env}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobs", *args],
            cwd=REPO, env=run_env, check=False, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    early = cli("resume", "sw-cli")  # the other children have not run yet
    assert early.returncode == 2
    assert early.stderr.strip().startswith("error: sweep sw-cli's children")
    assert re.search(
        r"are still (PENDING|RUNNABLE|RUNNING); resume once they have ended$", early.stderr.strip()
    )
    assert cli("wait", sub.collect.id).returncode == 1  # collect failed with the array
    out = cli("resume", "sw-cli")
    assert out.returncode == 0, out.stderr
    first, collect_id = out.stdout.strip().splitlines()
    assert first.startswith("resumed sweep sw-cli: 1 missing chunk(s) (2) as job ")
    waited = cli("wait", collect_id)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    _check_summary(root, "sw-cli")
    missing = cli("resume", "no-such-sweep")
    assert missing.returncode != 0
    assert missing.stderr.strip() == "error: no sweep 'no-such-sweep' in bucket 'backtest-results'"


def test_terminate_sweep_stops_children_and_collect(local: Any) -> None:
    root, settings, _ = local
    store = LocalStore(root)
    with LocalExecutor(settings, worker="none") as ex:
        sub = submit_sweep_jobs(ex, store, _spec("sw-stop"), n_children=4)
        stopped = terminate_sweep(ex, store, (RESULTS, "sw-stop"), reason="stop (test)")
        assert stopped.children == 4
        assert ex.get(sub.array.id).status is JobStatus.FAILED
        assert ex.get(sub.collect.id).status is JobStatus.FAILED
        assert ex.get(sub.collect.id).status_reason == "stop (test)"
        assert stopped.summary() == (
            "terminate requested for sweep sw-stop: 4 unfinished child job(s) and collect; "
            "now children FAILED, collect FAILED"
        )


# -- AWS Batch (moto) ------------------------------------------------------------------------


@pytest.fixture
def batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[BatchExecutor, Calls, Path]]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BATCH", "AWS_ENDPOINT_URL_LOGS"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "store"
    seed(root)
    with mock_aws(config={"batch": {"use_docker": False}}):
        settings = Settings(backend="aws", user="alice")
        client, logs = aws_clients(settings, env={})
        queue, definition = make_stack(client, boto3.client("iam", region_name="us-east-1"))
        settings = Settings(backend="aws", user="alice", job_queue=queue, job_definition=definition)
        calls = Calls(client, "SubmitJob", "TerminateJob", "CancelJob")
        yield BatchExecutor(settings, client, logs, poll=0.01), calls, root


def test_batch_resume_submits_exactly_the_missing_chunks(
    batch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex, calls, root = batch
    store = LocalStore(root)
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # every job ends FAILED at once
    sub = submit_sweep_jobs(ex, store, _spec("sw-batch"), n_children=4)
    assert ex.get(sub.array.id).status is JobStatus.FAILED
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER")
    child_env = {"BACKTEST_STORAGE_ROOT": str(root)}
    for index in (0, 3):  # these children did finish before the array failed
        assert (
            run_sweep_child(sub.spec_uri, {**child_env, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)})
            == 0
        )
    assert store.exists(RESULTS, chunk_key("sw-batch", 3))

    resumed = resume_sweep(ex, store, RESULTS, "sw-batch")
    array_req, collect_req = calls.params["SubmitJob"][-2:]
    assert array_req["arrayProperties"] == {"size": 2}
    command = array_req["containerOverrides"]["command"]
    assert command[:3] == ["python", "-m", "engine.sweep.resume_child"]
    assert len(" ".join(command)) < 200  # the chunk list is in the store, not the override
    assert collect_req["dependsOn"] == [{"jobId": resumed.array.id}]  # type: ignore[union-attr]
    assert collect_req["containerOverrides"]["command"] == [
        "python", "-m", "engine.sweep.collect", sub.spec_uri,
    ]  # fmt: skip
    assert resumed.chunks == [1, 2]
    # run what Batch would run: child k of the new array, with AWS_BATCH_JOB_ARRAY_INDEX=k
    for k in range(array_req["arrayProperties"]["size"]):
        env = {**child_env, "AWS_BATCH_JOB_ARRAY_INDEX": str(k)}
        assert resume_child_main(command[3:], env) == 0
    state = read_state(store, RESULTS, "sw-batch")
    assert state.done == [0, 1, 2, 3] and state.rows_done == 12
    assert collect_main(collect_req["containerOverrides"]["command"][3:], child_env) == 0
    _check_summary(root, "sw-batch")


class RunningOnBatch:
    """Make moto answer as real Batch does while a sweep runs (moto finishes jobs at once):
    the array RUNNING with children 0 and 2 RUNNING, the collect PENDING, each until a
    TerminateJob names it; then FAILED, as Batch reports a terminated job."""

    def __init__(self, client: Any, array_id: str, collect_id: str) -> None:
        self.array_id, self.collect_id = array_id, collect_id
        self.running = {f"{array_id}:0", f"{array_id}:2"}
        self.terminated: list[str] = []
        self.list_params: dict[str, Any] = {}
        events = client.meta.events
        events.register("provide-client-params.batch.ListJobs", self._remember)
        events.register("provide-client-params.batch.TerminateJob", self._terminate)
        events.register("after-call.batch.DescribeJobs", self._describe)
        events.register("after-call.batch.ListJobs", self._list)

    def _remember(self, params: dict[str, Any], **_: Any) -> None:
        self.list_params = dict(params)

    def _terminate(self, params: dict[str, Any], **_: Any) -> None:
        self.terminated.append(params["jobId"])

    def _state(self, job_id: str, live: str) -> str:
        return "FAILED" if job_id in self.terminated else live

    def _describe(self, parsed: dict[str, Any], **_: Any) -> None:
        for job in parsed.get("jobs", []):
            job_id = job["jobId"]
            if job_id == self.array_id:
                job["status"] = self._state(job_id, "RUNNING")
                if job["status"] == "RUNNING":
                    summary = {"RUNNING": 2, "SUCCEEDED": 1, "RUNNABLE": 1}
                    job["arrayProperties"]["statusSummary"] = summary
            elif job_id == self.collect_id:
                job["status"] = self._state(job_id, "PENDING")
            elif job_id in self.running:
                job["status"] = self._state(job_id, "RUNNING")

    def _list(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.list_params.get("arrayJobId") != self.array_id:
            return
        wanted = self.list_params.get("jobStatus")
        ids = sorted(self.running) if wanted == "RUNNING" else []
        parsed["jobSummaryList"] = [
            {"jobId": i, "jobName": "child", "status": "RUNNING", "createdAt": 1,
             "arrayProperties": {"index": int(i.rsplit(":", 1)[1])}}
            for i in ids if i not in self.terminated
        ]  # fmt: skip
        parsed.pop("nextToken", None)


def test_batch_terminate_sweep_stops_running_children_and_collect(batch: Any) -> None:
    ex, _, root = batch
    store = LocalStore(root)
    sub = submit_sweep_jobs(ex, store, _spec("sw-kill"), n_children=4)
    fake = RunningOnBatch(ex.batch, sub.array.id, sub.collect.id)
    assert ex.get(sub.array.id).status is JobStatus.RUNNING
    stopped = terminate_sweep(ex, store, (RESULTS, "sw-kill"), reason="stop (test)")
    assert fake.terminated[0] == sub.array.id  # queued children are cancelled with the parent
    assert sorted(fake.terminated[1:3]) == [f"{sub.array.id}:0", f"{sub.array.id}:2"]
    assert fake.terminated[3:] == [sub.collect.id]
    assert stopped.summary() == (
        "terminate requested for sweep sw-kill: 3 unfinished child job(s) and collect; "
        "now children FAILED, collect FAILED"
    )


def test_a_resume_being_submitted_is_not_resumed_twice(local: Any) -> None:
    root, settings, _ = local
    store = LocalStore(root)
    sub = _lose_children(settings, root, "sw-twice", [0, 1, 2, 3])  # every child lost
    manifest = {
        "sweep_id": "sw-twice",
        "spec": sub.spec_uri,
        "chunks": [0, 1, 2, 3],
        "created_at": utc_now(),
        "previous": {"array": sub.array.id, "collect": sub.collect.id},
    }  # what another resume wrote an instant ago, before its jobs were submitted
    store.put_bytes(RESULTS, "sweeps/sw-twice/resume/1.json", to_json_bytes(manifest))
    with LocalExecutor(settings, worker="none") as ex:
        ex.terminate(sub.collect.id)
        state = read_state(store, RESULTS, "sw-twice")
        assert state.submitting and state.array_id == sub.array.id
        with pytest.raises(BacktestError, match="a resume of sweep sw-twice is being submitted"):
            resume_sweep(ex, store, RESULTS, "sw-twice")
        stale = {**manifest, "created_at": "2020-01-02T00:00:00Z"}  # abandoned long ago
        store.put_bytes(RESULTS, "sweeps/sw-twice/resume/1.json", to_json_bytes(stale))
        resumed = resume_sweep(ex, store, RESULTS, "sw-twice")
        assert resumed.chunks == [0, 1, 2, 3] and resumed.manifest_uri is not None
        assert resumed.manifest_uri.endswith("sweeps/sw-twice/resume/2.json")
