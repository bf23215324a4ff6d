"""The bad-input corpus through the engine CLI: in-process ``main(argv, env)`` for every file,
a handful as real ``python -m engine.backtest`` subprocesses.

An error ends in exit code 2, exactly one stderr line ("error: ..." with the expected phrase, no
traceback) and ``runs/<id>/error.json`` as the only object of the run. A repair ends in exit 0
and the full result layout with ``_SUCCESS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backtest import main
from engine.store.objects import LocalStore
from tests.hardening.conftest import INPUT, RESULTS
from tests.hardening.corpus import Case, build_corpus, valid_csv

REPO = Path(__file__).resolve().parents[2]
CORPUS = build_corpus()
STRATEGY = ["--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=5"]
NEEDED_BARS = 5  # sma_cross(slow=5): warm-up 4 (SMA(5) is defined from bar 4) + 1
RESULT_FILES = {"spec.json", "metrics.json", "equity.parquet", "trades.parquet", "_SUCCESS"}
SUBPROCESS_CASES = ["binary_garbage", "utf16", "very_long_line", "parquet_corrupt", "bom"]


def _put(root: Path, name: str, case: Case) -> str:
    key = f"corpus/{name}/{case.filename}"
    LocalStore(root).put_bytes(INPUT, key, case.data)
    return key


def _run_files(root: Path, run_id: str) -> set[str]:
    prefix = f"runs/{run_id}/"
    return {i.key[len(prefix) :] for i in LocalStore(root).list(RESULTS, prefix)}


def _check_outcome(root: Path, case: Case, run_id: str, code: int, out: str, err: str) -> None:
    lines = err.splitlines()
    assert "Traceback" not in err and "Traceback" not in out
    files = _run_files(root, run_id)
    if case.outcome == "error":
        assert code == 2, err
        assert len(lines) == 1, err
        assert lines[0].startswith("error: ")
        assert case.phrase.lower() in lines[0].lower(), lines[0]
        assert files == {"error.json"}, files
        record = json.loads((root / RESULTS / f"runs/{run_id}/error.json").read_bytes())
        assert record["error"] == lines[0].removeprefix("error: ")
        assert record["kind"] in ("bad_data", "not_found")
    else:
        assert code == 0, err
        assert files == RESULT_FILES
        assert out.strip().splitlines()[-1] == f"s3://{RESULTS}/runs/{run_id}/"
        assert all(line.startswith("warning: ") for line in lines), err
        assert bool(lines) == case.warns, err
        spec = json.loads((root / RESULTS / f"runs/{run_id}/spec.json").read_bytes())
        assert spec["provenance"]["data"]["bars"] == case.bars


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_through_the_cli(
    name: str, store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CORPUS[name]
    key = _put(store_root, name, case)
    run_id = f"corpus-{name}"
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    code = main([INPUT, key, RESULTS, *STRATEGY, "--run-id", run_id], env=env)
    captured = capsys.readouterr()
    _check_outcome(store_root, case, run_id, code, captured.out, captured.err)


def test_a_file_shorter_than_the_warm_up_is_refused(
    store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = Case(valid_csv(1), "error", f"has 1 bars; this run needs at least {NEEDED_BARS}")
    key = _put(store_root, "one_row", case)
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    code = main([INPUT, key, RESULTS, *STRATEGY, "--run-id", "one-row"], env=env)
    captured = capsys.readouterr()
    _check_outcome(store_root, case, "one-row", code, captured.out, captured.err)


def test_a_failure_removes_results_of_an_earlier_success(
    store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rerunning a finished run id on a bad file leaves error.json only, not stale results."""
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    good = _put(store_root, "good", CORPUS["bom"])
    assert main([INPUT, good, RESULTS, *STRATEGY, "--run-id", "again"], env=env) == 0
    bad = _put(store_root, "bad", CORPUS["infinities"])
    code = main([INPUT, bad, RESULTS, *STRATEGY, "--run-id", "again"], env=env)
    captured = capsys.readouterr()
    assert code == 2
    assert _run_files(store_root, "again") == {"error.json"}
    assert captured.err.splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_corpus_file_through_a_real_subprocess(name: str, store_root: Path) -> None:
    case = CORPUS[name]
    key = _put(store_root, name, case)
    run_id = f"proc-{name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKTEST_")}
    env.update(BACKTEST_STORAGE_ROOT=str(store_root), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "engine.backtest", INPUT, key, RESULTS, *STRATEGY,
         "--run-id", run_id],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    _check_outcome(store_root, case, run_id, proc.returncode, proc.stdout, proc.stderr)
