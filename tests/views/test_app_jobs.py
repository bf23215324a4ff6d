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
    assert (at.query_params["p_fast"], at.query_params["p_slow"]) == ("7", "33")
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


# -- live state, URL, sweeps (issue 10.3, 11.10) ----------------------------------------------


def _links(at) -> dict[str, str]:
    return {p.proto.label: p.proto.query_string for p in at.get("page_link")}


def _buttons(at) -> set[str]:
    return {str(b.key) for b in at.button}


def test_a_job_that_finishes_while_watched_offers_results_and_keeps_its_url(
    app_root: Path,
) -> None:
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    run = executor.submit_run(RunSpec(INPUT, TREND, RESULTS, params={"fast": 10, "slow": 40}))
    at = app_test(PAGE)
    at.selectbox(key="jobs_selected").set_value(run.id).run()
    assert at.query_params["job"] == run.id
    assert at.subheader[0].value.endswith("· RUNNABLE")
    assert "Run results" not in _links(at) and "jobs_rerun" not in _buttons(at)
    executor.terminate(blocker.id)
    done = executor.wait(run.id, timeout=300)
    assert done.status is JobStatus.SUCCEEDED, executor.logs(run.id)
    at.run()  # what the live fragment's state change triggers: the page redrawn
    assert not at.exception
    assert at.selectbox(key="jobs_selected").value == run.id
    assert at.query_params["job"] == run.id
    assert at.subheader[0].value.endswith("· SUCCEEDED")
    assert _links(at)["Run results"] == f"run={done.spec['run_id']}"  # type: ignore[index]
    buttons = _buttons(at)
    assert "jobs_rerun" in buttons
    assert not {"jobs_cancel", "jobs_terminate"} & buttons
    at.button(key="jobs_refresh").click().run()  # any click: the URL keeps the id
    assert at.query_params["job"] == run.id


def test_a_stale_terminate_on_a_finished_job_says_so(app_root: Path) -> None:
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    at = app_test(PAGE, job=blocker.id)
    at.button(key="jobs_terminate").click().run()
    assert "jobs_yes" in _buttons(at)
    executor.terminate(blocker.id, reason="stopped elsewhere")
    assert executor.wait(blocker.id, timeout=60).is_terminal
    at.run()  # the job moved on: the confirmation is withdrawn, no Terminate any more
    assert not {"jobs_yes", "jobs_terminate"} & _buttons(at)


def _sweep(sweep_id: str, n_children: int = 4):
    from engine.sweep.spec import SweepSpec
    from jobs.sweeps import submit_sweep_jobs

    ctx = app_context()
    spec = SweepSpec(
        sweep_id=sweep_id,
        base=RunSpec(INPUT, TREND, RESULTS),
        space={"fast": [5, 10, 15, 20], "slow": [30, 40, 60]},
    )
    return submit_sweep_jobs(ctx.executor, ctx.store, spec, n_children=n_children)


def test_terminating_a_sweep_stops_children_and_collect_and_says_so(app_root: Path) -> None:
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    sub = _sweep("sw-term")  # its children wait behind the blocker
    at = app_test(PAGE, job=sub.array.id)
    assert (
        "0/4 chunks done · 0 running · 0 failed · 4 waiting · 0 of 12 rows"
        in at.progress[-1].proto.text
    )
    at.button(key="jobs_terminate").click().run()
    assert f"Terminate sweep (its children and collect job) sweep-sw-term ({sub.array.id})?" in (
        texts(at)
    )
    at.button(key="jobs_yes").click().run()
    assert (
        "Terminate requested for sweep sw-term: 4 unfinished child job(s) and collect; "
        "now children FAILED, collect FAILED"
    ) in texts(at)
    assert executor.get(sub.array.id).status is JobStatus.FAILED
    assert executor.get(sub.collect.id).status is JobStatus.FAILED
    assert at.query_params["job"] == sub.array.id
    assert not {"jobs_terminate", "jobs_cancel"} & _buttons(at)


def test_a_failed_sweep_shows_chunks_child_logs_and_resumes(app_root: Path) -> None:
    executor = app_context().executor
    blocker = executor.submit_command(sleep_command(), name="blocker", kind="run")
    _wait_running(blocker.id)
    sub = _sweep("sw-page")
    for index in (1, 3):
        executor.terminate(f"{sub.array.id}:{index}", reason="lost (test)")
    executor.terminate(blocker.id)
    assert executor.wait(sub.collect.id, timeout=300).status is JobStatus.FAILED
    at = app_test(PAGE, job=sub.array.id)
    assert not at.exception
    assert (
        "2/4 chunks done · 0 running · 2 failed · 0 waiting · 6 of 12 rows"
        in at.progress[-1].proto.text
    )
    best = at.dataframe[-1].value  # best rows so far: the 6 rows of chunks 0 and 2
    assert len(best) == 6 and list(best["sharpe"]) == sorted(best["sharpe"], reverse=True)
    assert _links(at)["Partial sweep results"] == "sweep=sw-page"
    at.number_input(key="jobs_child").set_value(2).run()
    assert "chunk 2: 3 backtests" in at.code[-1].value
    assert at.button(key="jobs_resume").label == "Resume 2 chunk(s)"
    assert "python -m jobs resume sw-page)" in " ".join(c.value for c in at.caption)
    at.button(key="jobs_resume").click().run()
    assert not at.exception
    new = executor.list(name_prefix="resume1-sw-page")
    assert len(new) == 1 and new[0].array_size == 2
    assert at.query_params["job"] == new[0].id
    assert f"Resumed sweep sw-page: 2 missing chunk(s) (1, 3) as job {new[0].id}" in texts(at)
    collect = executor.list(name_prefix="collect-sw-page")[0]  # newest first: the new one
    assert collect.depends_on == (new[0].id,)
    assert executor.wait(collect.id, timeout=300).status is JobStatus.SUCCEEDED
    at.run()
    assert "4/4 chunks done" in at.progress[-1].proto.text
    assert _links(at)["Sweep results"] == "sweep=sw-page"
    assert "jobs_resume" not in _buttons(at)


def test_child_logs_follow_the_picked_index_across_arrays(app_root: Path) -> None:
    executor = app_context().executor
    code = "import os; print('child', os.environ['AWS_BATCH_JOB_ARRAY_INDEX'])"
    big = executor.submit_command(
        [sys.executable, "-c", code], name="big", kind="run", array_size=4
    )
    small = executor.submit_command(
        [sys.executable, "-c", code], name="small", kind="run", array_size=2
    )
    for parent in (big, small):
        assert executor.wait(parent.id, timeout=120).status is JobStatus.SUCCEEDED
    at = app_test(PAGE, job=big.id)
    at.number_input(key="jobs_child").set_value(3).run()
    assert at.code[-1].value.strip() == "child 3"
    at.selectbox(key="jobs_selected").set_value(small.id).run()
    assert not at.exception
    assert at.query_params["job"] == small.id
    assert at.number_input(key="jobs_child").value == 0  # index 3 does not exist here
    assert at.code[-1].value.strip() == "child 0"


def test_a_link_to_another_job_wins_over_the_last_selection(app_root: Path) -> None:
    first = _finished_job("first")
    second = _finished_job("second")
    at = app_test(PAGE, job=first)
    assert at.subheader[0].value == "first · SUCCEEDED"
    at.query_params["job"] = second  # e.g. "Job <id>" clicked on New run, same session
    at.run()
    assert at.selectbox(key="jobs_selected").value == second
    assert at.subheader[0].value == "second · SUCCEEDED"
    assert at.query_params["job"] == second
