"""The dashboard and the jobs CLI share state by default, and the commands the start page prints
work as printed.

Run in a private copy of the checkout (its own .data; the interpreter reached through the copy's
.venv, a link to this one): `make seed` seeds the copy's .data, the dashboard's context submits a
run there, the start page (rendered by Streamlit's AppTest) prints its terminal block, and that
block, run by bash exactly as printed in a clean environment, lists the dashboard's job and
runs one of its own on the seeded sample.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COPIED = ["engine", "jobs", "app", "views", "streamlit_app.py", ".streamlit", "Makefile"]
COPIED += ["requirements.txt", "pyproject.toml", "uv.lock"]
TIMEOUT_S = 600
# The copy's .venv is this checkout's: its `make` must not re-sync it (an editable install would
# then point at the temporary copy), so the copy's sync step is a no-op.
MAKE = ["make", "SYNC=:"]

DASHBOARD = """
import json, sys
from streamlit.testing.v1 import AppTest
from app.context import build_context
from engine.spec import RunSpec

ctx = build_context()
try:
    spec = RunSpec("backtest-input", "samples/trend_up_daily.csv", "backtest-results")
    record = ctx.executor.submit_run(spec)
    done = ctx.executor.wait(record.id, timeout=600)
finally:
    ctx.executor.close()
page = AppTest.from_file("streamlit_app.py", default_timeout=120)  # the router: Start here
page.run()
assert not page.exception, [e.value for e in page.exception]
blocks = [c.value for c in page.code if "-m jobs" in c.value]
print(json.dumps({"id": record.id, "status": done.status.value, "blocks": blocks}))
"""


def clean_env() -> dict[str, str]:
    """The user's shell: no BACKTEST_* settings, no PYTHONPATH."""
    drop = ("BACKTEST_", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sources (mtimes kept, so numba's cache stays valid) with .venv linked."""
    if shutil.which("make") is None:
        pytest.fail("make is required (apt-get install -y make)")
    root = tmp_path_factory.mktemp("checkout") / "batch-backtest"
    root.mkdir()
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, copy_function=shutil.copy2)
        else:
            shutil.copy2(src, root / name)
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def dashboard(checkout: Path, env: dict[str, str]) -> dict[str, Any]:
    """What the dashboard does: submit a run through its context, render the start page."""
    out = run([".venv/bin/python", "-c", DASHBOARD], checkout, env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "SUCCEEDED"
    assert len(result["blocks"]) == 1, result["blocks"]
    return result


def run_block(block: str) -> str:
    """Run a printed block with bash, as a user pasting it would (from their home folder)."""
    done = run(["bash", "-e", "-c", block], Path.home(), clean_env())
    return done.stdout


def test_cli_sees_the_dashboards_jobs_and_files_by_default(checkout: Path) -> None:
    seeded = run([*MAKE, "seed"], checkout, clean_env())
    assert "samples/trend_up_daily.csv" in seeded.stdout
    data = checkout / ".data"
    assert (data / "backtest-input" / "samples" / "trend_up_daily.csv").is_file()
    result = dashboard(checkout, clean_env())
    block = str(result["blocks"][0])
    assert block.splitlines()[0] == f"cd {checkout}"
    assert "export" not in block  # nothing to repeat: both sides use the defaults
    assert ".venv/bin/python -m jobs ls" in block.splitlines()
    printed = run_block(block)
    assert str(result["id"]) in printed  # `jobs ls` lists the dashboard's job
    assert "SUCCEEDED" in printed  # `jobs wait` on the CLI's own run of the seeded sample
    assert f"'{data}'" in printed  # `jobs config`: storage_root is the copy's .data
    finished = sorted(p.parent.name for p in (data / "backtest-results").glob("runs/*/_SUCCESS"))
    assert len(finished) == 2  # the dashboard's run and the CLI's, side by side
    assert (data / "_jobs" / "jobs.db").is_file()


def test_hints_repeat_the_dashboards_own_settings(checkout: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere data"
    env = {**clean_env(), "BACKTEST_STORAGE_ROOT": str(elsewhere), "BACKTEST_ATTEMPTS": "2"}
    run([*MAKE, "seed"], checkout, env)  # make reads the same settings
    result = dashboard(checkout, env)
    block = str(result["blocks"][0])
    assert "export BACKTEST_STORAGE_ROOT=" in block
    printed = run_block(block)  # in a shell without those variables
    assert str(result["id"]) in printed
    assert "SUCCEEDED" in printed
    assert len(list(elsewhere.glob("backtest-results/runs/*/_SUCCESS"))) == 2
    assert f"'{elsewhere}'" in printed and "$BACKTEST_ATTEMPTS" in printed


def test_make_data_picks_the_folder(checkout: Path, tmp_path: Path) -> None:
    seeded = run([*MAKE, "seed", f"DATA={tmp_path}/d2"], checkout, clean_env())
    assert f"{tmp_path}/d2/backtest-input/samples/trend_up_daily.csv" in seeded.stdout
    assert (tmp_path / "d2" / "backtest-results").is_dir()
