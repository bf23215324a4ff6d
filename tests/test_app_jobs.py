"""Jobs page: live table with filters, cancel with confirmation, rerun, rerun with changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.spec import RunSpec, SimOptions
from jobs.model import JobStatus
from tests._app_helpers import (
    INPUT,
    RESULTS,
    TREND,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    sleep_command,
    texts,
)

PAGE = "views/jobs.py"


def _finished_job(name: str = "quick") -> str:
    executor = app_context().executor
    record = executor.submit_command(
        [sys.executable, "-c", "print('hello')"], name=name, kind="run"
    )
    done = executor.wait(record.id, timeout=120)
    assert done.status is JobStatus.SUCCEEDED
    return record.id


def _wait_running(job_id: str) -> None:
    executor = app_context().executor
    for _ in range(600):
        if executor.get(job_id).status is JobStatus.RUNNING:
            return
        executor.wait(job_id, timeout=0.1)
    raise AssertionError(f"job {job_id} never started")


def test_status_and_name_filters(app_root: Path) -> None:
    done_id = _finished_job("quick")
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    queued = executor.submit_command(sleep_command(), name="waiting", kind="run")
    at = app_test(PAGE)
    table = at.dataframe[0].value
    assert list(table["id"]) == [queued.id, blocker.id, done_id]  # newest first
    at.selectbox(key="jobs_status").set_value("SUCCEEDED").run()
    assert list(at.dataframe[0].value["id"]) == [done_id]
    at.selectbox(key="jobs_status").set_value("RUNNABLE").run()
    assert list(at.dataframe[0].value["id"]) == [queued.id]
    at.selectbox(key="jobs_status").set_value("all")
    at.text_input(key="jobs_name").set_value("BLOCK").run()
    assert list(at.dataframe[0].value["name"]) == ["blocker"]


def test_job_detail_shows_status_and_log(app_root: Path) -> None:
    job_id = _finished_job()
    at = app_test(PAGE, job=job_id)
    assert at.selectbox(key="jobs_selected").value == job_id
    assert at.subheader[0].value == "quick · SUCCEEDED"
    assert "hello" in at.code[0].value
    fields = {row["field"]: row["value"] for row in at.dataframe[1].value.to_dict("records")}
    assert fields["status"] == "SUCCEEDED" and fields["attempts"] == "1 of 1"


def test_cancel_a_queued_job_needs_confirmation(app_root: Path) -> None:
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    queued = executor.submit_command(sleep_command(), name="waiting", kind="run")
    at = app_test(PAGE, job=queued.id)
    assert at.button(key="jobs_cancel")
    at.button(key="jobs_cancel").click().run()
    assert f"Cancel job waiting ({queued.id})?" in texts(at)
    assert executor.get(queued.id).status is JobStatus.RUNNABLE  # not yet
    at.button(key="jobs_no").click().run()
    assert executor.get(queued.id).status is JobStatus.RUNNABLE
    at.button(key="jobs_cancel").click().run()
    at.button(key="jobs_yes").click().run()
    assert not at.exception
    record = executor.get(queued.id)
    assert record.status is JobStatus.FAILED
    assert record.status_reason == "Cancelled from the dashboard"
    assert f"Cancel requested for job waiting ({queued.id}): now FAILED" in texts(at)


def test_terminate_a_running_job(app_root: Path) -> None:
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    at = app_test(PAGE, job=blocker.id)
    assert "jobs_cancel" not in [b.key for b in at.button]  # cancel is for queued jobs
    at.button(key="jobs_terminate").click().run()
    at.button(key="jobs_yes").click().run()
    record = executor.wait(blocker.id, timeout=60)
    assert record.status is JobStatus.FAILED


def test_rerun_submits_the_job_again(app_root: Path) -> None:
    job_id = _finished_job("again")
    at = app_test(PAGE, job=job_id)
    at.button(key="jobs_rerun").click().run()
    jobs = app_context().executor.list(name_prefix="again")
    assert len(jobs) == 2
    new = next(j for j in jobs if j.id != job_id)
    assert at.query_params["job"] == new.id
    assert f"Submitted again as job {new.id}" in texts(at)


def test_rerun_with_changes_opens_new_run_prefilled(app_root: Path) -> None:
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    options = SimOptions(commission=0.002, fill="close")
    spec = RunSpec(INPUT, TREND, RESULTS, "ema_cross", {"fast": 7, "slow": 33}, options)
    run = executor.submit_run(spec)  # stays queued behind the blocker
    at = app_test(PAGE, job=run.id)
    at.button(key="jobs_rerun_changes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "New run"
    assert at.query_params["file"] == TREND
    assert at.query_params["strategy"] == "ema_cross"
    assert json.loads(at.query_params["params"]) == {"fast": 7, "slow": 33}
    assert json.loads(at.query_params["options"]) == {"commission": 0.002, "fill": "close"}
    assert at.text_input(key="nr_p_ema_cross_fast").value == "7"
    assert at.text_input(key="nr_o_commission").value == "0.002"


def test_array_job_shows_progress_counts_and_children(app_root: Path) -> None:
    executor = app_context().executor
    parent = executor.submit_command(
        [sys.executable, "-c", "print('child')"], name="arr", kind="sweep", array_size=3
    )
    assert executor.wait(parent.id, timeout=120).status is JobStatus.SUCCEEDED
    at = app_test(PAGE, job=parent.id)
    assert not at.exception
    assert at.progress[0].value == 100
    counts = {m.label: m.value for m in at.metric}
    assert counts["Succeeded"] == "3" and counts["Failed"] == "0"
    children = at.dataframe[2].value
    assert list(children["id"]) == [f"{parent.id}:{i}" for i in range(3)]
    assert list(at.dataframe[0].value["progress"]) == ["3/3 done"]
