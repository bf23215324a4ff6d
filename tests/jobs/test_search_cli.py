"""`python -m jobs sweep --mode tpe`, `search-step` and `search-status`: flags, one-line errors
(exit 2 bad input, 1 infrastructure), the help text, and a search from the CLI to done."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.spec import SweepSpec
from jobs.cli import main as jobs_main
from jobs.local import LocalExecutor
from jobs.search_jobs import submit_search
from jobs.settings import Settings

SWEEP = ["sweep", "input", "prices.csv", "results", "--strategy", "sma_cross",
         "--range", "fast=2:30:1", "--range", "slow=10:120:5"]  # fmt: skip


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(300, seed=2).to_csv(root / "input" / "prices.csv")
    monkeypatch.setenv("BACKTEST_STORAGE_ROOT", str(root))
    monkeypatch.delenv("AWS_BATCH_JOB_ID", raising=False)
    return root


def one_error(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    assert jobs_main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--mode", "tpe"], "--mode tpe needs --n N, the budget (total trials)"),
        (["--round-size", "8"], "--round-size applies to --mode tpe only"),
        (["--mode", "random", "--n", "5", "--objective", "sharpe"], "--objective applies to"),
        (["--n", "5", "--seed", "1"], "--n and --seed apply to --mode random or tpe, not grid"),
        (["--mode", "tpe", "--n", "10", "--objective", "bogus"], "unknown search objective"),
        (["--mode", "tpe", "--n", "10", "--objective", "sharpe,sharpe"], "repeat a metric"),
        (["--mode", "tpe", "--n", "10", "--objective", "sharpe,sortino,calmar"], "one or two"),
        (["--mode", "tpe", "--n", "10", "--round-size", "0"], "round_size must be an integer"),
        (["--mode", "tpe", "--n", "10", "--children", "2"], "--children does not apply"),
        (["--mode", "tpe", "--n", "10", "--walk-forward", "100:50"], "cannot be a walk-forward"),
        (["--mode", "tpe", "--n", "0"], "budget of trials) must be an integer >= 1"),
        (["--mode", "bayes", "--n", "5"], "argument --mode: invalid choice: 'bayes'"),
    ],
)
def test_bad_search_flags_are_one_line_and_nothing_is_written(
    root: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    line = one_error(capsys, [*SWEEP, *extra])
    assert says in line
    assert not (root / "results" / "sweeps").exists()


def test_search_step_errors_are_one_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "must look like s3://BUCKET/sweeps/ID/spec.json" in one_error(
        capsys, ["search-step", "nowhere", "--round", "0"]
    )
    missing = one_error(
        capsys, ["search-step", "s3://results/sweeps/none/spec.json", "--round", "0"], 2
    )
    assert "none/spec.json" in missing
    assert "--round" in one_error(capsys, ["search-step", "s3://results/sweeps/x/spec.json"])


def test_a_step_job_on_an_unfinished_round_fails_naming_the_command_that_continues(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = RunSpec("input", "prices.csv", "results", "sma_cross")
    spec = SweepSpec("s", base, {"fast": "2:30:1"}, mode="tpe", n=8, search={"round_size": 4})
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        submit_search(ex, LocalStore(root), spec)  # nothing runs: round 0 has no chunk yet
        uri = "s3://results/sweeps/s/spec.json"
        by_hand = one_error(capsys, ["search-step", uri, "--round", "0"])  # the array is queued
        assert "round 0 of sweep s is not complete and its array job " in by_hand
        assert "is RUNNABLE; wait for it (python -m jobs wait " in by_hand
        monkeypatch.setenv("AWS_BATCH_JOB_ID", "job-1")  # as the step job runs it
        line = one_error(capsys, ["search-step", uri, "--round", "0"], 1)
        assert "round 0 chunk 0 of sweep s has no s3://results/sweeps/s/chunks/0.parquet" in line
        assert line.endswith(f"continue with `python -m jobs search-step {uri} --round 0`")
        assert "round 4" in one_error(capsys, ["search-step", uri, "--round", "4"])
        assert len(ex.list()) == 2  # round 0's array and step: the failed step submitted nothing


def test_help_names_every_search_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jobs", "sweep", "--help"],
        capture_output=True, text=True, check=True, cwd="/",
        env={**os.environ, "BACKTEST_STORAGE_ROOT": "/nonexistent"},
    ).stdout  # fmt: skip
    text = " ".join(out.split())
    for phrase in (
        "--mode {grid,random,tpe}",
        "tpe: a model-based search (optuna TPE) of --n trials in rounds of --round-size",
        "--n N, --budget N",
        "tpe: the budget, total trials over every round",
        "--round-size N",
        "--objective METRIC[,METRIC]",
        "sharpe,max_drawdown",
    ):
        assert phrase in text, phrase
    step = subprocess.run(
        [sys.executable, "-m", "jobs", "search-step", "--help"],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout  # fmt: skip
    assert "--round R" in step and "s3://BUCKET/sweeps/ID/spec.json" in step


@pytest.mark.slow
def test_a_search_from_the_cli_to_done(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI starts the detached local worker, which runs every round, step and collect
    (and exits two idle seconds after the collect)."""
    monkeypatch.setenv("BACKTEST_WORKER_IDLE", "2")
    argv = [*SWEEP, "--mode", "tpe", "--n", "12", "--round-size", "6", "--seed", "5",
            "--objective", "sharpe,max_drawdown", "--sweep-id", "cli"]  # fmt: skip
    assert jobs_main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("submitted TPE search cli: budget 12 trials in 2 rounds of 6")
    assert out[-1] == "cli"
    # the results are not in the result_bucket setting: the printed command names their bucket
    assert "progress: python -m jobs search-status cli --bucket results [--wait]" in out
    status = ["search-status", "cli", "--bucket", "results", "--wait", "--timeout", "600"]
    assert jobs_main(status) == 0
    line = capsys.readouterr().out.strip()
    assert line == (
        "search cli: done · rounds asked 2/2 · trials evaluated 12/12 · collected: 12 trials in "
        "2 rounds"
    )
    spec = (root / "results" / "sweeps" / "cli" / "spec.json").read_text()
    assert '"objectives": [\n      "sharpe",\n      "max_drawdown"\n    ]' in spec


def test_resume_of_a_search_with_rounds_to_ask_points_to_the_step(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = RunSpec("input", "prices.csv", "results", "sma_cross")
    spec = SweepSpec("r", base, {"fast": "2:30:1"}, mode="tpe", n=8, search={"round_size": 4})
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        sub = submit_search(ex, LocalStore(root), spec)
        ex.terminate(sub.array.id, reason="lost")  # round 0 ended without its chunk
        jobs_before = len(ex.list())
        line = one_error(capsys, ["resume", "r", "--bucket", "results"])
        assert line == (
            "error: sweep r is a TPE search with 1 of 2 rounds asked; a resume cannot run rounds "
            "not asked yet: continue it with `python -m jobs search-step "
            "s3://results/sweeps/r/spec.json --round 0`"
        )
        assert len(ex.list()) == jobs_before  # nothing submitted
        assert not (root / "results" / "sweeps" / "r" / "resume").exists()
