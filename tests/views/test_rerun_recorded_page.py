"""New run opened from "Rerun with changes" of a run of a strategy file (AppTest on the router):
it says which source it will run (the run's recorded copy, its sha256, whether the stored file
changed since), lets the user choose the current file, and submits what it shows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from app import strategy_service
from app.new_run_link import rerun_query
from engine.backtest import main as engine_main
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
from tests._strategy_files import close_above_sma

NAME = "page_rr_sma"
OLD = close_above_sma(NAME, "The old rule.")
NEW = close_above_sma(NAME, "The new rule.").replace('"max": 500', '"max": 40')
OLD_SHA = hashlib.sha256(OLD.encode()).hexdigest()
NEW_SHA = hashlib.sha256(NEW.encode()).hexdigest()
COPY = f"s3://{RESULTS}/runs/old1/strategy.py"


def old_run(root: Path) -> dict:
    """A finished run of OLD (the engine CLI, as its job runs it); then the file becomes NEW."""
    strategy_service.save(app_context(), OLD, user="ana")
    args = [INPUT, TREND, RESULTS, "--strategy", NAME, "--param", "window=60", "--run-id", "old1"]
    assert engine_main(args, {"BACKTEST_STORAGE_ROOT": str(root)}) == 0
    strategy_service.save(app_context(), NEW, user="bo", replace_sha256=OLD_SHA)
    return json.loads((root / RESULTS / "runs" / "old1" / "spec.json").read_text())


def test_the_rerun_link_runs_the_recorded_copy_unless_the_current_file_is_chosen(
    app_root: Path,
) -> None:
    spec = old_run(app_root)
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")
    at = app_test("views/new_run.py", **rerun_query(spec))
    assert not at.exception
    source = at.radio(key="nr_source")
    assert source.value == "copy"
    assert source.options == [
        f"Recorded copy of run old1 (sha256 {OLD_SHA[:12]})",
        f"Current file strategies/{NAME}.py (sha256 {NEW_SHA[:12]})",
    ]
    captions = texts(at, ("caption",))
    assert (
        f"The stored file strategies/{NAME}.py has changed since run old1: now sha256 "
        f"{NEW_SHA[:12]}, recorded {OLD_SHA[:12]}." in captions
    )
    assert f"Runs {COPY} · sha256 {OLD_SHA[:12]}" in captions and "The old rule." in captions
    window = at.text_input(key=f"nr_p_{NAME}_window")
    assert (window.label, window.value) == ("window (int 2..500)", "60")  # the copy's schema

    submit = at.button(key="nr_submit")
    assert not submit.disabled
    submit.click().run()
    assert not at.exception
    (job,) = app_context().executor.list(name_prefix="run-")
    assert job.spec["strategy_source"] == COPY and job.spec["strategy_sha256"] == OLD_SHA
    assert f"Strategy source: {COPY} · sha256 {OLD_SHA[:12]}" in texts(at, ("caption",))


def test_choosing_the_current_file_checks_it_against_the_current_schema(app_root: Path) -> None:
    spec = old_run(app_root)
    at = app_test("views/new_run.py", **rerun_query(spec))
    at.radio(key="nr_source").set_value("current").run()
    assert not at.exception
    assert "The new rule." in texts(at, ("caption",))
    assert at.text_input(key=f"nr_p_{NAME}_window").label == "window (int 2..40)"
    assert at.button(key="nr_submit").disabled and "int 2..40" in texts(at, ("error",))


def test_a_missing_copy_is_one_line_and_the_current_file_runs(app_root: Path) -> None:
    spec = old_run(app_root)
    (app_root / RESULTS / "runs" / "old1" / "strategy.py").unlink()
    at = app_test("views/new_run.py", **rerun_query(spec))
    assert not at.exception
    warning = texts(at, ("warning",))
    assert f"the recorded copy of run old1 is missing ({COPY}); rerun from the current" in warning
    assert not [r for r in at.radio if r.key == "nr_source"]
    assert f"sha256 {NEW_SHA[:12]}" in texts(at, ("caption",))  # the stored file's caption
