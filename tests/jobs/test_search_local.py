"""A TPE search end to end on the local executor: rounds, step jobs and the collect run as real
subprocesses (the same commands a Batch container runs). The same seed asks the same trials in
every round; another seed asks others; a budget above the space's valid combinations evaluates
each once; a stopped search is visible in its progress and continues by hand with the same
trials."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.results import read_sweep
from engine.sweep.spec import SweepSpec
from jobs.cli import main as jobs_main
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.search_jobs import SearchProgress, search_progress, submit_search
from jobs.settings import Settings

pytestmark = pytest.mark.slow  # each test runs a whole search as subprocesses (30-80 s)

COST = 0.075  # s per bar and trial: 8 trials x 400 bars -> two chunks of 4 per round


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(400, seed=5).to_csv(root / "input" / "prices.csv")
    return root


def search(sweep_id: str, seed: int, n: int = 24, space: dict[str, str] | None = None) -> SweepSpec:
    base = RunSpec("input", "prices.csv", "results", "sma_cross")
    space = space or {"fast": "2:30:1", "slow": "10:120:5"}
    return SweepSpec(
        sweep_id, base, space, mode="tpe", n=n, seed=seed, search={"round_size": 8}, top_n=0
    )


def wait_done(ex: LocalExecutor, root: Path, sweep_id: str, states: tuple[str, ...] = ("done",)):
    store = LocalStore(root)
    deadline = time.monotonic() + 600  # a bound on a hung search, not a speed check
    while time.monotonic() < deadline:
        progress = search_progress(store, "results", sweep_id, ex)
        if progress.state in (*states, "stopped"):
            return progress
        time.sleep(0.2)
    raise AssertionError(f"search {sweep_id} did not end: {progress}")


def rounds(root: Path, sweep_id: str) -> list[list[dict[str, Any]]]:
    folder = root / "results" / "sweeps" / sweep_id / "search"
    files = sorted(folder.glob("round-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return [json.loads(p.read_text())["trials"] for p in files]


def test_a_search_reproduces_with_its_seed_and_differs_with_another(root: Path) -> None:
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root), poll_ms=50), worker="thread") as ex:
        subs = [submit_search(ex, store, search(i, s), cost_s=COST) for i, s in
                (("a", 3), ("b", 3), ("c", 4))]  # fmt: skip
        assert [s.layout.children(0) for s in subs] == [2, 2, 2]
        ends = [wait_done(ex, root, s.sweep_id) for s in subs]
    for progress in ends:
        assert progress == SearchProgress(
            progress.sweep_id, progress.spec_uri, 24, 24, 612, 8, 3, 3, 24, "done",
            "collected: 24 trials in 3 rounds",
        )  # fmt: skip
    a, b, c = (rounds(root, i) for i in "abc")
    assert len(a) == 3 and [len(r) for r in a] == [8, 8, 8]
    assert a == b  # every round, every trial
    assert a[0] != c[0]
    numbers = [t["trial"] for r in a for t in r]
    assert numbers == list(range(24))
    combos = {(t["params"]["fast"], t["params"]["slow"]) for r in a for t in r}
    assert len(combos) == 24 and all(f < s for f, s in combos)
    summary = read_sweep(store, "results", "a").summary
    assert sorted(summary["combo_id"]) == list(range(24))
    by_id = summary.set_index("combo_id")
    for t in (t for r in a for t in r):  # each chunk row is the trial its round file asked
        assert (by_id.loc[t["trial"], "fast"], by_id.loc[t["trial"], "slow"]) == (
            t["params"]["fast"], t["params"]["slow"]
        )  # fmt: skip


def test_a_budget_above_the_valid_combinations_tries_each_once(root: Path) -> None:
    store = LocalStore(root)
    space = {"fast": "5:25:5", "slow": "20:60:10"}  # 25 points; fast < slow keeps 23
    with LocalExecutor(Settings(storage_root=str(root), poll_ms=50), worker="thread") as ex:
        sub = submit_search(ex, store, search("small", 1, n=25, space=space))
        assert (sub.budget_requested, sub.layout.budget, sub.valid_combinations) == (25, 23, 23)
        progress = wait_done(ex, root, "small")
    assert (progress.state, progress.budget_requested, progress.budget) == ("done", 25, 23)
    assert progress.trials_evaluated == 23 and progress.rounds_asked == 3
    combos = [(t["params"]["fast"], t["params"]["slow"]) for r in rounds(root, "small") for t in r]
    every = {(f, s) for f in range(5, 30, 5) for s in range(20, 70, 10) if f < s}
    assert len(combos) == 23 and set(combos) == every
    spec = json.loads((root / "results" / "sweeps" / "small" / "spec.json").read_text())
    assert spec["n"] == 23 and spec["n_combinations"] == 23
    info = json.loads(
        (root / "results" / "sweeps" / "small" / "search" / "search.json").read_text()
    )
    assert (info["budget_requested"], info["budget"], info["valid_combinations"]) == (25, 23, 23)


def test_a_stopped_search_says_so_and_continues_by_hand_with_the_same_trials(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(root)
    settings = Settings(storage_root=str(root), poll_ms=50)
    with LocalExecutor(settings, worker="none") as quiet:  # nothing runs yet
        sub = submit_search(quiet, store, search("stop", 3))
        quiet.terminate(sub.array.id, reason="lost")  # round 0's array never ran
    with LocalExecutor(settings, worker="thread") as ex:
        stopped = wait_done(ex, root, "stop")  # stopped once the array FAILED
        assert ex.wait(sub.step.id, timeout=600).status is JobStatus.FAILED  # Dependent Job failed
        uri = "s3://results/sweeps/stop/spec.json"
        assert stopped.state == "stopped"
        assert stopped.continue_command == f"python -m jobs search-step {uri} --round 0"
        assert f"`python -m jobs search-step {uri} --round 0`" in stopped.message
        monkeypatch.setenv("BACKTEST_STORAGE_ROOT", str(root))
        monkeypatch.delenv("AWS_BATCH_JOB_ID", raising=False)
        assert jobs_main(["search-step", uri, "--round", "0"]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith("round 0 was incomplete (round 0 chunk 0 ")
        assert wait_done(ex, root, "stop").state == "done"
        reference = submit_search(ex, store, search("ref", 3))
        assert wait_done(ex, root, reference.sweep_id).state == "done"
    assert rounds(root, "stop") == rounds(root, "ref")
    jobs0 = json.loads((root / "results/sweeps/stop/search/jobs-0.json").read_text())
    assert jobs0["submissions"][0]["array"] == sub.array.id
    assert len(jobs0["submissions"]) == 2  # the lost submission and the one by hand, both kept
