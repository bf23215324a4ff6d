"""`python -m jobs strategy add|ls|show|rm` and `submit --strategy <stored>` as real subprocesses
against a local storage root: a refused file is not stored, replacing needs --overwrite, removing
asks, and a stored strategy runs through the executor like a built-in."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.sim.synthetic import random_walk
from tests._strategy_files import close_above_sma, short_output

REPO = Path(__file__).resolve().parents[2]
NAME = "cli_close_above_sma"
GOOD = close_above_sma(NAME)
BAD_LENGTH = short_output(NAME)


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        check=False,
        text=True,
        timeout=180,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(300, seed=5).to_csv(root / "input" / "prices.csv")
    return root


@pytest.fixture
def env(root: Path, tmp_path: Path) -> dict[str, str]:
    out = dict(os.environ)
    out.update(
        BACKTEST_STORAGE_ROOT=str(root),
        BACKTEST_INPUT_BUCKET="input",
        BACKTEST_RESULT_BUCKET="results",
        BACKTEST_CONFIG=str(tmp_path / "no-config.toml"),
        BACKTEST_USER="dana@example.com",
        BACKTEST_POLL_MS="50",
        BACKTEST_WORKER_IDLE="2",
    )
    return out


def write(tmp_path: Path, text: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    return out.stderr


def test_add_then_ls_show_and_help_read_the_sidecar(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, GOOD)
    added = cli("strategy", "add", str(path), env=env)
    assert added.returncode == 0, added.stderr
    stored = root / "input" / "strategies" / f"{NAME}.py"
    assert stored.read_bytes() == GOOD.encode()  # the very bytes validated
    sha = hashlib.sha256(GOOD.encode()).hexdigest()

    listed = cli("strategy", "ls", env=env)
    assert listed.returncode == 0, listed.stderr
    header = listed.stdout.splitlines()[0]
    assert header.startswith(NAME) and sha[:12] in header and "dana@example.com" in header
    assert "window=15  [int 2..500]  SMA window, bars" in listed.stdout
    assert "rule: window above 3" in listed.stdout

    shown = cli("strategy", "show", NAME, env=env)
    assert shown.returncode == 0 and GOOD in shown.stdout and sha in shown.stdout

    helped = cli("submit", "--help", env=env)
    assert helped.returncode == 0 and NAME in helped.stdout and "sma_cross" in helped.stdout
    assert "window=15  [int 2..500]" in helped.stdout


def test_a_stored_strategy_runs_through_the_executor(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    assert cli("strategy", "add", str(write(tmp_path, GOOD)), env=env).returncode == 0
    sub = cli("submit", "input", "prices.csv", "results", "--strategy", NAME,
              "--param", "window=20", "--run-id", "userstrat1", env=env)  # fmt: skip
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]
    sent = json.loads(cli("show", job_id, env=env).stdout)["spec"]
    sha = hashlib.sha256(GOOD.encode()).hexdigest()
    assert sent["strategy_source"] == f"s3://input/strategies/{NAME}.py"  # pinned at submit
    assert sent["strategy_sha256"] == sha
    waited = cli("wait", job_id, "--timeout", "150", env=env)
    assert waited.returncode == 0, waited.stdout + cli("logs", job_id, env=env).stdout
    spec = json.loads((root / "results" / "runs" / "userstrat1" / "spec.json").read_text())
    assert spec["strategy"] == NAME and spec["params"] == {"window": 20}
    assert spec["strategy_sha256"] == sha
    ran = root / "results" / "runs" / "userstrat1" / "strategy.py"
    assert ran.read_bytes() == GOOD.encode()  # the exact source that ran, kept with the run


def test_a_refused_file_is_not_stored(env: dict[str, str], root: Path, tmp_path: Path) -> None:
    refused = cli("strategy", "add", str(write(tmp_path, BAD_LENGTH, "short.py")), env=env)
    assert "short.py" in one_line_error(refused)
    syntax = cli("strategy", "add", str(write(tmp_path, "NAME = 'x'\ndef signal(:\n", "s.py")),
                 env=env)  # fmt: skip
    assert "s.py" in one_line_error(syntax) and "line 2" in syntax.stderr
    missing = cli("strategy", "add", str(tmp_path / "nope.py"), env=env)
    assert "nope.py" in one_line_error(missing)
    assert not (root / "input" / "strategies").exists() or not list(
        (root / "input" / "strategies").iterdir()
    )
    assert cli("strategy", "ls", env=env).stdout == ""


def test_replacing_needs_overwrite(env: dict[str, str], root: Path, tmp_path: Path) -> None:
    assert cli("strategy", "add", str(write(tmp_path, GOOD)), env=env).returncode == 0
    changed = GOOD.replace("Long while", "Long only while")
    again = cli("strategy", "add", str(write(tmp_path, changed, "v2.py")), env=env)
    assert "--overwrite" in one_line_error(again)
    stored = root / "input" / "strategies" / f"{NAME}.py"
    assert stored.read_text() == GOOD  # nothing silently overwritten
    forced = cli("strategy", "add", str(tmp_path / "v2.py"), "--overwrite", env=env)
    assert forced.returncode == 0, forced.stderr
    assert stored.read_text() == changed


def test_rm_asks_and_keeps_the_file_unless_confirmed(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    assert cli("strategy", "add", str(write(tmp_path, GOOD)), env=env).returncode == 0
    stored = root / "input" / "strategies" / f"{NAME}.py"
    declined = cli("strategy", "rm", NAME, env=env, stdin="n\n")
    assert declined.returncode == 1 and "kept" in declined.stderr and stored.exists()
    no_answer = cli("strategy", "rm", NAME, env=env, stdin="")
    assert "--yes" in one_line_error(no_answer) and stored.exists()
    confirmed = cli("strategy", "rm", NAME, env=env, stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert not stored.exists()
    assert "sma_cross" in one_line_error(cli("strategy", "rm", "sma_cross", "--yes", env=env))
    assert NAME in one_line_error(cli("strategy", "show", NAME, env=env))


def test_submit_checks_a_stored_strategy_against_its_schema(
    env: dict[str, str], tmp_path: Path
) -> None:
    unknown = cli("submit", "input", "prices.csv", "results", "--strategy", "nothing_here",
                  env=env)  # fmt: skip
    assert "nothing_here" in one_line_error(unknown)
    assert cli("strategy", "add", str(write(tmp_path, GOOD)), env=env).returncode == 0
    for param, needle in (("window=1", "int 2..500"), ("span=3", "known parameters: window")):
        out = cli("submit", "input", "prices.csv", "results", "--strategy", NAME,
                  "--param", param, env=env)  # fmt: skip
        assert needle in one_line_error(out), out.stderr
    swept = cli("sweep", "input", "prices.csv", "results", "--strategy", NAME,
                "--range", "window=1:40:10", env=env)  # fmt: skip
    assert "window=1 is out of range" in one_line_error(swept)  # checked before submitting
    built_in = cli("submit", "input", "prices.csv", "results", "--param", "fast=60", env=env)
    assert "fast must be < slow" in one_line_error(built_in)
    assert cli("ls", "--json", env=env).stdout == ""  # nothing was submitted
