"""Sweep submission: validation, planning, spec.json, the job graph, and the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import DataError, NotFoundError, ParamError
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.store.runs import read_run
from engine.sweep.plan import chunk_indices, fixed_plan, tasks_by_file
from engine.sweep.results import read_sweep
from engine.sweep.spec import SweepSpec
from jobs.local import LocalExecutor
from jobs.model import JobKind, JobStatus
from jobs.settings import Settings
from jobs.sweeps import submit_sweep, submit_sweep_jobs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(300, seed=5).to_csv(root / "input" / "prices.csv")
    random_walk(300, seed=6).to_csv(root / "input" / "other.csv")
    return root


def spec(sweep_id="s1", space=None, **changes) -> SweepSpec:
    base = RunSpec("input", "prices.csv", "results", "sma_cross")
    space = space or {"fast": "5:25:5", "slow": "20:60:10"}  # 25 candidates, 23 valid
    return SweepSpec(sweep_id=sweep_id, base=base, space=space, **changes)


def test_submit_writes_spec_and_the_job_graph(root: Path) -> None:
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        sub = submit_sweep_jobs(ex, store, spec(), n_children=3)
        doc = json.loads(store.get_bytes("results", "sweeps/s1/spec.json"))
        assert (doc["n_combinations"], doc["n_children"], doc["chunk_size"]) == (23, 3, 8)
        assert doc["created_at"].endswith("Z") and doc["user"]
        assert doc["jobs"] == {"array": sub.array.id, "collect": sub.collect.id, "backend": "local"}
        assert SweepSpec.from_dict({k: v for k, v in doc.items() if k in spec().to_dict()})
        array, coll = ex.get(sub.array.id), ex.get(sub.collect.id)
        assert array.kind is JobKind.SWEEP and array.array_size == 3
        assert array.command[1:] == ("-m", "engine.backtest", "--sweep", sub.spec_uri)
        assert sub.spec_uri == "s3://results/sweeps/s1/spec.json"
        assert coll.kind is JobKind.COLLECT and coll.depends_on == (array.id,)
        assert coll.command[1:] == ("-m", "engine.sweep.collect", sub.spec_uri)
        assert array.spec and array.spec["sweep_id"] == "s1"
        assert array.result_prefix == "s3://results/sweeps/s1/"
        assert len(ex.list(parent_id=array.id)) == 3


def test_plan_from_cost_and_target(root: Path) -> None:
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        # 23 combinations x 300 bars x 1 ms = 6.9 s of work; 1 s per child -> 7 wanted,
        # chunks of ceil(23 / 7) = 4 -> ceil(23 / 4) = 6 children
        sub = submit_sweep_jobs(ex, store, spec("a", target_child_seconds=1.0), cost_s=1e-3)
        assert (sub.plan.n_children, sub.plan.chunk_size) == (6, 4)
        # the same work under the default 120 s target is one plain job
        record = submit_sweep(ex, store, spec("b"), cost_s=1e-3)
        assert record.array_size is None and record.kind is JobKind.SWEEP
        doc = json.loads(store.get_bytes("results", "sweeps/b/spec.json"))
        assert (doc["n_children"], doc["chunk_size"]) == (1, 23)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (spec(space={"fast": "5:25:5", "slowest": [1]}), ParamError, "no parameter 'slowest'"),
        (spec(space={"fast": [60], "slow": [20, 30]}), ParamError, "fast must be < slow"),
        (spec(space={"fast": [5], "slow": [400]}), DataError, "300 bars"),
        (spec(extra_keys=("absent.csv",)), NotFoundError, "absent.csv"),
        (spec(sweep_id="bad/id"), ParamError, "invalid run id"),
    ],
)
def test_bad_sweeps_submit_nothing(root: Path, bad: SweepSpec, error, match: str) -> None:
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        with pytest.raises(error, match=match):
            submit_sweep(ex, store, bad)
        assert ex.list() == []
    assert not store.list("results", "sweeps/")


def test_an_existing_sweep_id_is_refused(root: Path) -> None:
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        submit_sweep(ex, store, spec())
        with pytest.raises(ParamError, match="already exists"):
            submit_sweep(ex, store, spec())


@given(n_tasks=st.integers(1, 50_000), children=st.integers(1, 12_000))
def test_fixed_plans_cover_every_task_once(n_tasks: int, children: int) -> None:
    plan = fixed_plan(n_tasks, children)
    assert 1 <= plan.n_children <= min(children, n_tasks, 10_000)
    covered = [len(chunk_indices(i, plan, n_tasks)) for i in range(plan.n_children)]
    assert sum(covered) == n_tasks and min(covered) >= 1


@given(n_comb=st.integers(1, 300), n_files=st.integers(1, 4), children=st.integers(1, 40))
def test_every_file_and_combination_lands_in_exactly_one_chunk(n_comb, n_files, children):
    keys = [f"f{i}.csv" for i in range(n_files)]
    plan = fixed_plan(n_comb * n_files, children)
    seen = []
    for i in range(plan.n_children):
        for key, ids in tasks_by_file(chunk_indices(i, plan, n_comb * n_files), n_comb, keys):
            seen.extend((key, c) for c in ids)
    assert sorted(seen) == sorted((k, c) for k in keys for c in range(n_comb))


def test_a_one_chunk_sweep_runs_as_a_plain_job(root: Path) -> None:
    store = LocalStore(root)
    settings = Settings(storage_root=str(root), poll_ms=50)
    with LocalExecutor(settings, worker="thread", concurrency=2) as ex:
        small = spec(space={"fast": [5, 10], "slow": [30]}, top_n=1)
        sub = submit_sweep_jobs(ex, store, small)
        assert sub.array.array_size is None
        done = ex.wait(sub.collect.id, timeout=120)
        assert done.status is JobStatus.SUCCEEDED, ex.logs(sub.array.id)
    result = read_sweep(store, "results", "s1")
    assert result.finished and len(result.summary) == 2


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=REPO, env=env, capture_output=True, check=False, text=True, timeout=300,
    )  # fmt: skip


def test_cli_sweep_end_to_end_on_the_local_backend(root: Path) -> None:
    env = dict(os.environ)
    env.update(
        BACKTEST_STORAGE_ROOT=str(root),
        BACKTEST_POLL_MS="50",
        BACKTEST_WORKER_IDLE="2",
        BACKTEST_CONCURRENCY="2",
    )
    out = cli(
        "sweep", "input", "prices.csv", "results", "--strategy", "sma_cross",
        "--range", "fast=5:25:5", "--range", "slow=20:60:10", "--commission", "0.002",
        "--children", "3", "--top-n", "2", "--sweep-id", "e2e", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert "23 combinations x 1 file(s) in array of 3" in lines[0]
    collect_id = lines[-1]
    waited = cli("wait", collect_id, "--timeout", "240", env=env)
    assert waited.returncode == 0, (waited.stdout, waited.stderr)
    array_id = lines[1].split()[-1]
    children = cli("ls", "--children", array_id, "--json", env=env).stdout.splitlines()
    assert sorted(json.loads(c)["status"] for c in children) == ["SUCCEEDED"] * 3
    store = LocalStore(root)
    result = read_sweep(store, "results", "e2e")
    assert result.finished and sorted(result.summary.combo_id) == list(range(23))
    assert result.spec["space"] == [
        {"name": "fast", "start": 5, "stop": 25, "step": 5},
        {"name": "slow", "start": 20, "stop": 60, "step": 10},
    ]
    assert result.spec["base"]["options"]["commission"] == 0.002
    assert result.robustness["missing_chunks"] == [] and result.robustness["n_trials"] == 23
    tops = [t["run_id"] for t in result.robustness["top_runs"]]
    assert tops == ["e2e-top1", "e2e-top2"]
    for run_id in tops:
        run_spec, metrics, _, _ = read_run(store, "results", run_id)
        assert run_spec["options"]["commission"] == 0.002 and metrics["sharpe"] is not None
    assert store.exists("results", "sweeps/e2e/_SUCCESS")
