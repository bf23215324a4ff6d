"""The Jobs page's resume hint for a failed sweep works as printed: the command in its caption,
run by bash in a shell without the dashboard's BACKTEST_* variables, resumes the very sweep the
page shows (its collect job then succeeds in the dashboard's job database)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from engine.spec import RunSpec
from engine.sweep.spec import SweepSpec
from jobs.model import JobStatus
from jobs.sweeps import submit_sweep_jobs
from tests._app_helpers import (
    INPUT,
    RESULTS,
    TREND,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    sleep_command,
)

HINT = re.compile(r"from a terminal: (.+)\)\.$")


def _wait_running(job_id: str) -> None:
    executor = app_context().executor
    for _ in range(600):
        if executor.get(job_id).status is JobStatus.RUNNING:
            return
        executor.wait(job_id, timeout=0.1)
    raise AssertionError(f"job {job_id} never started")


def test_the_resume_hint_runs_as_printed(app_root: Path) -> None:
    ctx = app_context()
    executor = ctx.executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)  # the one slot is busy: the children wait
    spec = SweepSpec(
        sweep_id="sw-hint",
        base=RunSpec(INPUT, TREND, RESULTS),
        space={"fast": [5, 10, 15, 20], "slow": [30, 40, 60]},
    )
    sub = submit_sweep_jobs(executor, ctx.store, spec, n_children=4)
    for index in (1, 3):
        executor.terminate(f"{sub.array.id}:{index}", reason="lost (test)")
    executor.terminate(blocker.id)
    assert executor.wait(sub.collect.id, timeout=300).status is JobStatus.FAILED

    at = app_test("views/jobs.py", job=sub.array.id)
    assert not at.exception
    hints = [m.group(1) for c in at.caption if (m := HINT.search(str(c.value)))]
    assert len(hints) == 1 and "-m jobs resume sw-hint" in hints[0], hints
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith("BACKTEST_")}
    done = subprocess.run(
        ["bash", "-e", "-c", hints[0]],
        cwd=Path.home(),
        env=shell_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    collect_id = done.stdout.strip().splitlines()[-1]
    assert executor.get(collect_id).name.startswith("collect-sw-hint")
    assert executor.wait(collect_id, timeout=300).status is JobStatus.SUCCEEDED
    assert (app_root / RESULTS / "sweeps" / "sw-hint" / "_SUCCESS").is_file()
