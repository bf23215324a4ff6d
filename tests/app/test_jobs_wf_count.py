"""The Jobs page counts a walk-forward sweep's children as what they are: every child of its
one array, the full-sample chunks plus the windows x in-sample chunks (AppTest, local backend).
"""

from __future__ import annotations

from pathlib import Path

from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.sweep.spec import SweepSpec
from engine.sweep.wf_windows import WalkForwardSpec
from jobs.model import JobStatus
from jobs.sweeps import submit_sweep_jobs
from tests._app_helpers import (
    INPUT,
    RESULTS,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    sleep_command,
    texts,
)

PAGE = "views/jobs.py"
KEY = "wf/prices.csv"  # 520 bars: at 200:100, windows at bars 200, 300, 400, 500


def _wait_running(job_id: str) -> None:
    executor = app_context().executor
    for _ in range(600):
        if executor.get(job_id).status is JobStatus.RUNNING:
            return
        executor.wait(job_id, timeout=0.1)
    raise AssertionError(f"job {job_id} never started")


def _progress(at) -> str:
    return str(at.progress[-1].proto.text)


def test_walk_forward_children_are_counted_with_the_windows(app_root: Path) -> None:
    ctx = app_context()
    ctx.store.put_bytes(INPUT, KEY, random_walk(520, seed=5).to_csv().encode())
    executor = ctx.executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)  # the sweep's children wait behind it
    spec = SweepSpec(
        sweep_id="wf-count",
        base=RunSpec(INPUT, KEY, RESULTS, "sma_cross"),
        space={"fast": "5:25:5", "slow": "20:60:20"},  # 13 valid combinations
        walk_forward=WalkForwardSpec.parse("200:100"),
        top_n=1,
    )
    sub = submit_sweep_jobs(executor, ctx.store, spec, n_children=2)
    assert sub.array.array_size == 2 + 4  # 2 full-sample chunks, 4 windows x 1 chunk
    at = app_test(PAGE, job=sub.array.id)
    assert not at.exception
    assert (
        "0/6 children done (full sample 0/2 chunks, walk-forward 0/4 in-sample chunks: "
        "4 windows x 1) · 0 running · 0 failed · 6 waiting · 0 of 13 full-sample rows"
    ) in _progress(at)

    for index in (1, 4):  # full-sample chunk 1 and window 2's in-sample chunk
        executor.terminate(f"{sub.array.id}:{index}", reason="lost (test)")
    executor.terminate(blocker.id)
    assert executor.wait(sub.collect.id, timeout=300).status is JobStatus.FAILED
    at.run()
    assert not at.exception
    # chunk 0 holds combinations 0..6 (chunks of 7 rows)
    assert (
        "4/6 children done (full sample 1/2 chunks, walk-forward 3/4 in-sample chunks: "
        "4 windows x 1) · 0 running · 2 failed · 0 waiting · 7 of 13 full-sample rows"
    ) in _progress(at)
    assert at.progress[-1].value == 66  # 4 of 6 children, in whole percent (Streamlit floors)
    assert at.button(key="jobs_resume").label == "Resume 2 chunk(s)"
    captions = " ".join(c.value for c in at.caption)
    assert "1 full-sample and 1 walk-forward in-sample chunk(s) have no results" in captions

    at.button(key="jobs_resume").click().run()
    assert not at.exception
    new = executor.list(name_prefix="resume1-wf-count")
    assert len(new) == 1 and new[0].array_size == 2
    assert (
        f"Resumed sweep wf-count: 1 missing chunk(s) (1) and 1 missing walk-forward in-sample "
        f"chunk(s) (2) as job {new[0].id}, then walk-forward collect job"
    ) in texts(at)
    collect = executor.list(name_prefix="collect-wf-count")[0]  # newest first: the new one
    assert executor.wait(collect.id, timeout=300).status is JobStatus.SUCCEEDED
    at.run()
    assert "6/6 children done (full sample 2/2 chunks, walk-forward 4/4" in _progress(at)
    assert "Collected" in " ".join(c.value for c in at.caption)
    assert "jobs_resume" not in {b.key for b in at.button}
