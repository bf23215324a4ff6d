"""A TPE search of a stored strategy file end to end on the local executor: the first step job
asks round 0 from the pinned copy, every round, step and collect runs as a subprocess. The same
seed asks the same rounds, no round file holds a combination breaking the file's rule, and
editing the stored file mid-search changes nothing (every job loads sweeps/<id>/strategy.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine.api import run_backtest
from engine.data import load_prices
from engine.sim.strategies import FILE_STRATEGIES
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.results import read_sweep
from engine.sweep.spec import SweepSpec
from engine.userstrat import load_strategy_file
from engine.userstrat.library import put_strategy
from jobs.cli import main as jobs_main
from jobs.local import LocalExecutor
from jobs.search_jobs import SearchProgress, run_step, search_progress, submit_search
from jobs.settings import Settings
from tests._search_stored_files import EDITED, NAME, SMA_PAIR

pytestmark = pytest.mark.slow  # whole searches as subprocesses


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(400, seed=5).to_csv(root / "input" / "prices.csv")
    monkeypatch.setenv("BACKTEST_WORKER_IDLE", "2")  # a worker a step spawns exits when idle
    monkeypatch.delenv("AWS_BATCH_JOB_ID", raising=False)
    put_strategy(LocalStore(root), "input", SMA_PAIR, user="dana@example.com")
    return root


def search(sweep_id: str, seed: int) -> SweepSpec:
    base = RunSpec("input", "prices.csv", "results", NAME)
    space = {"fast": "2:30:1", "slow": "10:120:5"}
    return SweepSpec(
        sweep_id, base, space, mode="tpe", n=16, seed=seed, search={"round_size": 8}, top_n=0
    )


def wait_end(ex: LocalExecutor, root: Path, sweep_id: str) -> SearchProgress:
    store = LocalStore(root)
    deadline = time.monotonic() + 600  # a bound on a hung search, not a speed check
    while time.monotonic() < deadline:
        progress = search_progress(store, "results", sweep_id, ex)
        if progress.state in ("done", "stopped"):
            return progress
        time.sleep(0.2)
    raise AssertionError(f"search {sweep_id} did not end: {progress}")


def rounds(root: Path, sweep_id: str) -> list[list[dict[str, Any]]]:
    folder = root / "results" / "sweeps" / sweep_id / "search"
    files = sorted(folder.glob("round-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return [json.loads(p.read_text())["trials"] for p in files]


def test_a_stored_search_reproduces_keeps_its_rule_and_runs_its_pinned_copy(
    root: Path, tmp_path: Path
) -> None:
    store = LocalStore(root)
    settings = Settings(storage_root=str(root), poll_ms=50)
    with LocalExecutor(settings, worker="none") as quiet:  # submitted; nothing runs yet
        subs = [
            submit_search(quiet, store, search(i, s)) for i, s in (("a", 3), ("b", 3), ("c", 4))
        ]
    assert all(s.array is None for s in subs)
    # edited before any round is asked: a job loading it would ask with its stricter rule
    put_strategy(store, "input", EDITED, user="dana@example.com", overwrite=True)
    with LocalExecutor(settings, worker="thread") as ex:
        ends = [wait_end(ex, root, s.sweep_id) for s in subs]
        by_hand = run_step(ex, store, subs[0].spec_uri, 0, by_hand=True)  # reads, imports nothing
        assert by_hand.message.startswith("round 1 was submitted already (array job ")
    assert NAME not in FILE_STRATEGIES  # this process never loaded the file
    valid = sum(1 for f in range(2, 31) for s in range(10, 121, 5) if f < s)
    for progress in ends:
        assert progress == SearchProgress(
            progress.sweep_id, progress.spec_uri, 16, 16, valid, 8, 2, 2, 16, "done",
            "collected: 16 trials in 2 rounds",
        )  # fmt: skip
    a, b, c = (rounds(root, i) for i in "abc")
    assert [len(r) for r in a] == [8, 8] and a == b  # the same seed: every trial of every round
    assert a[0] != c[0]
    combos = [(t["params"]["fast"], t["params"]["slow"]) for r in a + c for t in r]
    assert all(f < s for f, s in combos)  # the file's rule holds for every asked trial
    assert any(f + 40 > s for f, s in combos)  # ... and the edited file's rule was not used
    assert len(set(combos[:16])) == 16
    summary = read_sweep(store, "results", "a").summary.set_index("combo_id")
    assert sorted(summary.index) == list(range(16))
    original = tmp_path / "original.py"
    original.write_text(SMA_PAIR, encoding="utf-8")
    strategy = load_strategy_file(original)  # the test's own run of the file as submitted
    prices = load_prices((root / "input" / "prices.csv").read_bytes(), name="prices.csv")
    for t in a[0][:3]:
        row = summary.loc[t["trial"]]
        assert (row["fast"], row["slow"]) == (t["params"]["fast"], t["params"]["slow"])
        single = run_backtest(prices, strategy, t["params"]).metrics
        assert row["n_trades"] == single["n_trades"]
    assert store.get_bytes("results", "sweeps/a/strategy.py") == SMA_PAIR.encode()
    recorded = json.loads((root / "results/sweeps/a/spec.json").read_text())["jobs"]
    jobs0 = json.loads((root / "results/sweeps/a/search/jobs-0.json").read_text())["submissions"]
    assert [sorted(e) for e in jobs0] == [
        ["ask", "by_hand", "submitted_at"],
        ["array", "step", "submitted_at"],
    ]
    assert recorded["array"] is not None and recorded["collect"] is not None


def test_a_stored_search_from_the_cli_to_done(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI submits the first step only and starts the detached local worker, which runs
    every step, round and collect (and exits two idle seconds after the collect)."""
    monkeypatch.setenv("BACKTEST_STORAGE_ROOT", str(root))
    monkeypatch.delitem(FILE_STRATEGIES, NAME, raising=False)  # another test's own load
    argv = ["sweep", "input", "prices.csv", "results", "--strategy", NAME,
            "--range", "fast=2:30:1", "--range", "slow=10:120:5", "--mode", "tpe",
            "--n", "12", "--round-size", "6", "--seed", "5", "--sweep-id", "cli"]  # fmt: skip
    assert jobs_main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("submitted TPE search cli: budget 12 trials in 2 rounds of 6")
    assert out[1].startswith("first step job ")
    assert ": loads the pinned strategy file, asks round 0 and submits its " in out[1]
    assert out[1].endswith("; each step tells a round and submits the next; the last step collects")
    assert out[-1] == "cli" and NAME not in FILE_STRATEGIES
    status = ["search-status", "cli", "--bucket", "results", "--wait", "--timeout", "600"]
    assert jobs_main(status) == 0
    assert capsys.readouterr().out.strip() == (
        "search cli: done · rounds asked 2/2 · trials evaluated 12/12 · collected: 12 trials in "
        "2 rounds"
    )
    trials = [t["params"] for r in rounds(root, "cli") for t in r]
    assert len(trials) == 12 and all(p["fast"] < p["slow"] for p in trials)
