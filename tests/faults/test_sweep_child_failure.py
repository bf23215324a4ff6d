"""One sweep child failing, end to end through the local executor: collect names the chunk and
the rest of the summary stands.

- a child whose input is bad records ``chunks/<i>.error.json`` and exits 0, so the array
  succeeds and the collect job runs by itself: ``failed_chunks`` names it;
- a child killed with SIGKILL fails the array and, as on Batch, the dependent collect job
  ("Dependent Job failed"); collecting by hand (the documented recovery) names the chunk in
  ``missing_chunks``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.results import read_sweep
from engine.sweep.spec import SweepSpec
from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.settings import Settings
from jobs.sweeps import submit_sweep_jobs
from tests.faults.conftest import (
    INPUT,
    PRICES,
    REPO,
    RESULTS,
    job_pid,
    sub_env,
    wait_until,
)

SPACE: dict[str, Any] = {"fast": "5:25:5", "slow": "20:60:10"}  # 23 valid combinations


def sweep(sweep_id: str, extra: tuple[str, ...] = ()) -> SweepSpec:
    base = RunSpec(INPUT, PRICES, RESULTS, "sma_cross")
    return SweepSpec(sweep_id=sweep_id, base=base, space=SPACE, extra_keys=extra, top_n=1)


@pytest.mark.slow
def test_a_child_with_bad_input_is_named_in_failed_chunks(root: Path) -> None:
    store = LocalStore(root)
    store.put_bytes(INPUT, "broken.csv", b"this is,not\na price,file\n")
    settings = Settings(storage_root=str(root), poll_ms=50)
    with LocalExecutor(settings, worker="thread", concurrency=2) as ex:
        # 2 files x 23 combinations in 2 chunks: chunk 0 = prices.csv, chunk 1 = broken.csv
        sub = submit_sweep_jobs(ex, store, sweep("bad", ("broken.csv",)), n_children=2)
        done = ex.wait(sub.collect.id, timeout=240)
        assert done.status is JobStatus.SUCCEEDED, ex.logs(sub.collect.id)
        assert ex.get(sub.array.id).status_counts == {"SUCCEEDED": 2}
        assert "chunk 1 failed" in ex.logs(f"{sub.array.id}:1")
        warning = "warning: failed chunks 1; the summary lacks their rows"
        assert warning in ex.logs(sub.collect.id)
    result = read_sweep(store, RESULTS, "bad")
    assert result.finished
    assert result.robustness["failed_chunks"] == [1]
    assert result.robustness["missing_chunks"] == []
    assert sorted(result.summary.combo_id) == list(range(23))
    assert set(result.summary.source_key) == {PRICES}
    assert [t["run_id"] for t in result.robustness["top_runs"]] == ["bad-top1"]


@pytest.mark.slow
def test_a_killed_child_fails_the_array_and_a_hand_collect_names_it(root: Path) -> None:
    store = LocalStore(root)
    settings = Settings(storage_root=str(root), poll_ms=50)
    with LocalExecutor(settings, worker="thread", concurrency=1) as ex:
        sub = submit_sweep_jobs(ex, store, sweep("killed"), n_children=3)  # chunks of 8, 8, 7
        victim = f"{sub.array.id}:1"
        wait_until(lambda: job_pid(ex, victim) is not None, 120, "child 1 to start")
        os.killpg(int(job_pid(ex, victim) or 0), signal.SIGKILL)
        collect = ex.wait(sub.collect.id, timeout=240)
        assert (collect.status, collect.status_reason) == (JobStatus.FAILED, "Dependent Job failed")
        child = ex.get(victim)
        assert child.status is JobStatus.FAILED
        assert child.status_reason.startswith("killed by signal 9")
        array = ex.get(sub.array.id)
        assert array.status_counts == {"SUCCEEDED": 2, "FAILED": 1}
        assert array.status_reason == "1 of 3 child jobs failed"
    assert not read_sweep(store, RESULTS, "killed").finished

    out = subprocess.run(
        [sys.executable, "-m", "engine.sweep.collect", sub.spec_uri],
        cwd=REPO, env=sub_env(root), capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "warning: missing chunks 1; the summary lacks their rows" in out.stderr
    result = read_sweep(store, RESULTS, "killed")
    assert result.finished
    assert result.robustness["missing_chunks"] == [1]
    assert result.robustness["failed_chunks"] == []
    assert sorted(result.summary.combo_id) == [*range(8), *range(16, 23)]
