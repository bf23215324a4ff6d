"""`python -m jobs sweep --strategy <stored file>` end to end on the local backend: the submit
counts with the file's rules in a subprocess (never importing it), pins the file to
sweeps/<id>/strategy.py, and every child and the collect run that copy; `jobs resume` of such a
sweep reruns its lost chunk on that copy without importing the file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.data import load_prices
from engine.errors import StrategyError
from engine.sim.synthetic import random_walk
from engine.store.objects import LocalStore
from engine.sweep.results import read_sweep
from jobs.sweeps import SweepRequest, build_sweep_spec, check_sweep, prepare
from tests._strategy_files import close_above_sma

REPO = Path(__file__).resolve().parents[2]
NAME = "swept_close_above_sma"
GOOD = close_above_sma(NAME)
# the same schema, the opposite rule: results would differ if a child loaded the edited file
EDITED = GOOD.replace("close[w - 1 :] > sma", "close[w - 1 :] < sma")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=REPO, env=env, capture_output=True, check=False, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(400, seed=11).to_csv(root / "input" / "prices.csv")
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
        BACKTEST_CONCURRENCY="2",
    )
    return out


def add(tmp_path: Path, env: dict[str, str], text: str, *flags: str) -> None:
    path = tmp_path / "mine.py"
    path.write_text(text, encoding="utf-8")
    out = cli("strategy", "add", str(path), *flags, env=env)
    assert out.returncode == 0, out.stderr


def test_a_stored_strategy_sweeps_end_to_end_on_its_pinned_copy(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    add(tmp_path, env, GOOD)
    windows = [w for w in range(2, 21, 3) if w > 3]  # 2..20 step 3; the rule drops window=2
    out = cli("sweep", "input", "prices.csv", "results", "--strategy", NAME,
              "--range", "window=2:20:3", "--children", "2", "--no-holdout",
              "--sweep-id", "stored1", env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert f"{len(windows)} combinations x 1 file(s) in array of 2" in lines[0]
    add(tmp_path, env, EDITED, "--overwrite")  # edited while the sweep waits or runs
    waited = cli("wait", lines[-1], "--timeout", "240", env=env)
    assert waited.returncode == 0, (waited.stdout, waited.stderr)

    store = LocalStore(root)
    sha = hashlib.sha256(GOOD.encode()).hexdigest()
    assert store.get_bytes("results", "sweeps/stored1/strategy.py") == GOOD.encode()
    result = read_sweep(store, "results", "stored1")
    assert result.spec["base"]["strategy_source"] == "s3://results/sweeps/stored1/strategy.py"
    assert result.spec["base"]["strategy_sha256"] == sha
    assert result.finished and result.spec["n_combinations"] == len(windows)
    rows = result.summary.sort_values("window")
    assert rows["window"].tolist() == windows

    # single runs of the same combinations with the file as submitted (not the edited one)
    from engine.api import run_backtest
    from engine.userstrat import load_strategy_file

    original = tmp_path / "original.py"
    original.write_text(GOOD, encoding="utf-8")
    strategy = load_strategy_file(original)
    prices = load_prices((root / "input" / "prices.csv").read_bytes(), name="prices.csv")
    edited_differs = False
    for window, row in zip(windows, rows.itertuples(), strict=True):
        single = run_backtest(prices, strategy, {"window": window}).metrics
        assert row.total_return == pytest.approx(single["total_return"], abs=1e-12)
        assert row.n_trades == single["n_trades"]
        edited_differs |= row.n_trades > 0
    assert edited_differs  # the rule trades, so the opposite rule would not match


def test_the_submit_never_imports_the_file_and_counts_with_its_rules(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    text = close_above_sma(NAME, "Never imported by the submitting process.")
    sha = hashlib.sha256(text.encode()).hexdigest()
    add(tmp_path, env, text)
    store = LocalStore(root)
    spec = build_sweep_spec(
        SweepRequest("input", ["prices.csv"], "results", NAME, {"window": "2:20:3"})
    )
    checked = check_sweep(store, spec)
    assert tuple(checked.stats) == (7, 6, 1)  # window=2 breaks "window above 3"
    assert checked.spec.base.strategy_sha256 == sha
    assert checked.spec.base.strategy_source == f"s3://input/strategies/{NAME}.py"
    assert checked.spec.space["window"].expand() == tuple(range(2, 21, 3))
    # counted in a subprocess only: no module of these bytes was imported here
    loaded = [m for m in list(sys.modules.values()) if getattr(m, "__backtest_sha256__", "") == sha]
    assert loaded == [] and not any(NAME in key or sha[:16] in key for key in sys.modules)


def test_a_stored_sweep_refusal_is_one_line_and_submits_nothing(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    add(tmp_path, env, GOOD)
    for args, needle in (
        (("--range", "window=1:3:1"), "window=1 is out of range"),
        (("--values", "window=2,3"), "window above 3"),
        (("--values", "span=2,3"), "no parameter 'span'"),
    ):
        out = cli("sweep", "input", "prices.csv", "results", "--strategy", NAME, *args, env=env)
        assert out.returncode == 2 and needle in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    # a rule that raises for window=7 only (the defaults validate): the user's error, one line
    add(tmp_path, env, GOOD.replace('p["window"] > 3', '10 // (p["window"] - 7) > -99'),
        "--overwrite")  # fmt: skip
    raised = cli("sweep", "input", "prices.csv", "results", "--strategy", NAME,
                 "--values", "window=6,7", env=env)  # fmt: skip
    assert raised.returncode == 2 and "ZeroDivisionError" in raised.stderr, raised.stderr
    assert (
        f"{NAME}.py line 8: ZeroDivisionError" in raised.stderr and "Traceback" not in raised.stderr
    )
    assert not (root / "results" / "sweeps").exists()  # nothing written, nothing submitted
    assert cli("ls", "--json", env=env).stdout == ""


def test_a_file_replaced_after_it_was_counted_is_refused_at_submit(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    add(tmp_path, env, GOOD)
    store = LocalStore(root)
    spec = build_sweep_spec(
        SweepRequest("input", ["prices.csv"], "results", NAME, {"window": [5, 9]}, sweep_id="raced")
    )
    counted = check_sweep(store, spec).spec  # what New run shows, pinned to that sha256
    add(tmp_path, env, EDITED, "--overwrite")
    with pytest.raises(StrategyError, match="changed since the sweep was checked"):
        prepare(store, counted)
    assert not (root / "results" / "sweeps").exists()  # nothing pinned, nothing written


def test_a_stored_strategy_sweep_resumes_its_lost_chunk_on_the_pinned_copy(
    env: dict[str, str], root: Path, tmp_path: Path
) -> None:
    add(tmp_path, env, GOOD)
    out = cli("sweep", "input", "prices.csv", "results", "--strategy", NAME,
              "--range", "window=2:20:3", "--children", "3", "--no-holdout",
              "--sweep-id", "stored-resume", env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert cli("wait", out.stdout.split()[-1], "--timeout", "240", env=env).returncode == 0
    store = LocalStore(root)
    whole = read_sweep(store, "results", "stored-resume").summary.sort_values("window")
    prefix = "sweeps/stored-resume/"
    for name in ("_SUCCESS", "summary.parquet", "robustness.json", "chunks/1.parquet"):
        store.delete("results", prefix + name)  # chunk 1 lost before the collect

    resumed = cli("resume", "stored-resume", env=env)
    assert resumed.returncode == 0, resumed.stderr  # was: "unknown strategy ..."
    first, collect_id = resumed.stdout.strip().splitlines()
    assert first.startswith("resumed sweep stored-resume: 1 missing chunk(s) (1) as job ")
    assert cli("wait", collect_id, "--timeout", "240", env=env).returncode == 0
    again = read_sweep(store, "results", "stored-resume")
    assert again.finished
    assert again.summary.sort_values("window")["total_return"].tolist() == (
        whole["total_return"].tolist()
    )
    assert not any(NAME in m for m in sys.modules)  # this process never loaded the file
