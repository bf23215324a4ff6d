"""A TPE search of a stored strategy file: the submit counts its space in the sandbox subprocess,
pins the file to sweeps/<id>/strategy.py and asks nothing (the submitting process never imports
the file); the first step job (``search-step URI --round -1``) loads the pinned copy, asks round 0
and submits it. Progress says so while round 0 is not asked, a failed first step stops the search
visibly, and a step run by hand submits a step job instead of importing the file."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from engine.errors import ParamError
from engine.sim.strategies import FILE_STRATEGIES
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.spec import SweepSpec
from engine.userstrat.library import put_strategy
from jobs.cli import main as jobs_main
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.search_jobs import search_progress, submit_search
from jobs.search_records import resume_refusal
from jobs.settings import Settings
from tests._search_stored_files import NAME, SMA_PAIR

URI = "s3://results/sweeps/{}/spec.json"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(300, seed=4).to_csv(root / "input" / "prices.csv")
    monkeypatch.setenv("BACKTEST_STORAGE_ROOT", str(root))
    monkeypatch.setenv("BACKTEST_WORKER_IDLE", "2")  # a worker a step spawns exits when idle
    monkeypatch.delenv("AWS_BATCH_JOB_ID", raising=False)
    monkeypatch.delitem(FILE_STRATEGIES, NAME, raising=False)  # a test's own load elsewhere
    put_strategy(LocalStore(root), "input", SMA_PAIR, user="dana@example.com")
    return root


def search(sweep_id: str, space: dict[str, str], n: int = 12) -> SweepSpec:
    base = RunSpec("input", "prices.csv", "results", NAME)
    return SweepSpec(sweep_id, base, space, mode="tpe", n=n, seed=3, search={"round_size": 6})


def not_imported_here() -> bool:
    sha = hashlib.sha256(SMA_PAIR.encode()).hexdigest()
    mods = [m for m in list(sys.modules.values()) if getattr(m, "__backtest_sha256__", "") == sha]
    return NAME not in FILE_STRATEGIES and not mods and not any(NAME in k for k in sys.modules)


def test_the_submit_counts_in_the_sandbox_pins_the_file_and_leaves_round_0_to_a_step(
    root: Path,
) -> None:
    store = LocalStore(root)
    space = {"fast": "2:10:2", "slow": "4:12:4"}  # 5 x 3 points; the rule fast < slow keeps 9
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        sub = submit_search(ex, store, search("s1", space, n=20))
        jobs = ex.list()
    assert not_imported_here()
    valid = [(f, s) for f in range(2, 11, 2) for s in (4, 8, 12) if f < s]
    assert (sub.budget_requested, sub.valid_combinations, sub.layout.budget) == (20, 9, 9)
    assert len(valid) == 9 and sub.array is None
    folder = root / "results" / "sweeps" / "s1"
    assert (folder / "strategy.py").read_bytes() == SMA_PAIR.encode()
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["base"]["strategy_source"] == "s3://results/sweeps/s1/strategy.py"
    assert spec["base"]["strategy_sha256"] == hashlib.sha256(SMA_PAIR.encode()).hexdigest()
    assert spec["n"] == 9 and spec["jobs"]["array"] is None
    assert spec["jobs"]["step"] == sub.step.id
    assert not list((folder / "search").glob("round-*.json"))  # nothing asked at submit
    assert [j.id for j in jobs] == [sub.step.id]
    assert list(jobs[0].command[-4:]) == ["search-step", URI.format("s1"), "--round", "-1"]
    assert not jobs[0].depends_on
    jobs0 = json.loads((folder / "search" / "jobs-0.json").read_text())["submissions"]
    assert [(e["ask"], e["by_hand"]) for e in jobs0] == [(sub.step.id, False)]
    progress = search_progress(store, "results", "s1")
    assert (progress.state, progress.rounds_asked, progress.trials_evaluated) == ("running", 0, 0)
    assert progress.message == (
        "asking round 1 of 2 (its step job loads the strategy file): 0 of 9 trials evaluated"
    )


def test_a_stored_search_refusal_is_one_line_and_writes_nothing(root: Path) -> None:
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        with pytest.raises(ParamError, match="fast < slow") as caught:
            submit_search(ex, store, search("none", {"fast": "20:30:5", "slow": "5:15:5"}))
        assert len(str(caught.value).splitlines()) == 1
        with pytest.raises(ParamError, match="slow=1 is out of range"):
            submit_search(ex, store, search("bad", {"fast": "2:4:1", "slow": "1:3:1"}))
        assert ex.list() == []
    assert not (root / "results" / "sweeps").exists() and not_imported_here()


def test_a_failed_first_step_stops_the_search_and_by_hand_a_step_job_asks(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(root)
    uri = URI.format("s2")
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        sub = submit_search(ex, store, search("s2", {"fast": "2:20:2", "slow": "10:40:5"}))
        ex.terminate(sub.step.id, reason="lost")
        stopped = search_progress(store, "results", "s2", ex)
        assert stopped.state == "stopped"
        assert stopped.continue_command == f"python -m jobs search-step {uri} --round -1"
        assert stopped.message == (
            f"the step job {sub.step.id} that asks round 0 FAILED; continue with "
            f"`python -m jobs search-step {uri} --round -1`"
        )
        assert jobs_main(["search-step", uri, "--round", "-1"]) == 0  # by hand: no import here
        line = capsys.readouterr().out.strip()
        assert line.startswith("submitted step job ")
        assert line.endswith(
            ": it loads the pinned strategy file, asks round 0 and submits it (this process "
            "never imports strategy files)"
        )
        again = [j for j in ex.list() if j.id != sub.step.id]
        assert len(again) == 1 and list(again[0].command[-2:]) == ["--round", "-1"]
        assert again[0].status is JobStatus.RUNNABLE
        assert jobs_main(["search-step", uri, "--round", "-1"]) == 0  # not twice while queued
        assert capsys.readouterr().out.strip() == (
            f"round 0 is being asked by step job {again[0].id} (RUNNABLE)"
        )
        assert len(ex.list()) == 2
        assert resume_refusal(store, "results", "s2") == (
            "sweep s2 is a TPE search with 0 of 2 rounds asked; a resume cannot run rounds not "
            f"asked yet: continue it with `python -m jobs search-step {uri} --round -1`"
        )
        assert search_progress(store, "results", "s2", ex).state == "running"
    assert not_imported_here()
    assert not list((root / "results" / "sweeps" / "s2" / "search").glob("round-*.json"))


def test_search_step_help_names_the_first_round() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "jobs", "search-step", "--help"],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout  # fmt: skip
    text = " ".join(out.split())
    assert "-1 tells nothing and asks round 0 (a stored strategy file's search" in text
