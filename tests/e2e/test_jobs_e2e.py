"""The Jobs page in real Chromium against `streamlit run`: a job watched until it SUCCEEDS offers
its results link without a reload, never keeps Cancel/Terminate, and the URL keeps ?job=<id>
whatever is clicked (the selector, buttons, inputs)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from engine.spec import RunSpec
from jobs.base import engine_command, run_result_prefix, run_tags, with_run_id
from jobs.local import LocalExecutor
from jobs.model import JobKind, JobStatus
from jobs.settings import load_settings
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

STEP_MS = 90_000  # one page render on a loaded machine
JOB_MS = 300_000  # submit to SUCCEEDED (a first run may compile the numba kernels)
HOLD_S = 6  # the run waits this long behind a sleeper, so the page sees it unfinished first


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def job_param(page: Any) -> list[str]:
    return parse_qs(urlparse(page.url).query).get("job", [])


def wait_job_param(page: Any, job_id: str, timeout_s: float = 30) -> None:
    """The URL's ?job= becomes exactly ``job_id`` (the app sets it from Python, asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while job_param(page) != [job_id]:
        if time.monotonic() > deadline:
            raise AssertionError(f"URL {page.url} does not carry job={job_id}")
        page.wait_for_timeout(200)


def settle(page: Any, timeout_ms: int = STEP_MS) -> None:
    """Wait until the app is not showing 'Running...'."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        status = page.locator('[data-testid="stStatusWidget"]')
        if status.count() == 0 or "Running" not in (status.first.text_content() or ""):
            return
        page.wait_for_timeout(250)


def submit_held_run(storage_root: Path) -> tuple[str, str, str]:
    """A sleeper, then a real engine run that depends on it: (sleeper id, run job id, run id).

    Submitted straight into the dashboard's job database; its worker thread runs them."""
    settings = load_settings(
        {"BACKTEST_STORAGE_ROOT": str(storage_root), "BACKTEST_CONFIG": "/nonexistent.toml"}
    )
    with LocalExecutor(settings, worker="none") as ex:
        sleeper = ex.submit_command(
            [sys.executable, "-c", f"import time; time.sleep({HOLD_S})"],
            name="e2e-sleeper",
            kind=JobKind.RUN,
        )
        spec = with_run_id(
            RunSpec(
                "backtest-input",
                "samples/trend_up_daily.csv",
                "backtest-results",
                params={"fast": 10, "slow": 40},
            ),
            "e2e",
        )
        run = ex.submit_command(
            engine_command(spec, python=sys.executable),
            name="e2e-watched-run",
            kind=JobKind.RUN,
            depends_on=(sleeper.id,),
            spec=spec.to_dict(),
            result_prefix=run_result_prefix(spec),
            tags=run_tags(spec),
        )
        assert run.status is JobStatus.PENDING
    return sleeper.id, run.id, str(spec.run_id)


def test_watched_job_offers_results_without_reload_and_keeps_its_url(
    dashboard: str, storage_root: Path, e2e_page: Any
) -> None:
    page = e2e_page
    page.goto(dashboard)  # enter at the root first (deep links need the router once)
    page.get_by_role("heading", name="batch-backtest", exact=True).first.wait_for(timeout=STEP_MS)
    sleeper_id, job_id, run_id = submit_held_run(storage_root)

    page.goto(f"{dashboard}/jobs?job={job_id}")
    main = page.get_by_test_id("stMain")
    main.get_by_role("heading", name=re.compile(r"^e2e-watched-run · ")).wait_for(timeout=STEP_MS)
    header = main.get_by_role("heading", name=re.compile(r"^e2e-watched-run · ")).first
    assert "SUCCEEDED" not in (header.text_content() or "")  # still waiting on the sleeper
    assert main.get_by_role("link", name="Run results").count() == 0
    shot(page, "jobs-01-watching")

    # no reload from here on: the page follows the job by itself
    main.get_by_role("link", name="Run results").wait_for(timeout=JOB_MS)
    main.get_by_role("heading", name="e2e-watched-run · SUCCEEDED").wait_for(timeout=STEP_MS)
    settle(page)
    shot(page, "jobs-02-succeeded-live")
    assert main.get_by_role("button", name="Terminate").count() == 0
    assert main.get_by_role("button", name="Cancel").count() == 0
    assert main.get_by_role("button", name="Rerun", exact=True).count() == 1
    link = main.get_by_role("link", name="Run results").first
    assert f"run={run_id}" in (link.get_attribute("href") or "")
    selector = main.get_by_test_id("stSelectbox").filter(has_text="Job")
    assert "RUNNING" not in (selector.text_content() or "")
    wait_job_param(page, job_id)

    # clicks anywhere keep ?job=<id>: a button, an input, the selector (another job and back)
    main.get_by_role("button", name="Refresh log").click()
    settle(page)
    wait_job_param(page, job_id)
    lines = main.get_by_label("Log lines")
    lines.fill("50")
    lines.press("Enter")
    settle(page)
    wait_job_param(page, job_id)
    selector.click()
    page.get_by_role("option", name=re.compile(re.escape(sleeper_id))).click()
    main.get_by_role("heading", name="e2e-sleeper · SUCCEEDED").wait_for(timeout=STEP_MS)
    wait_job_param(page, sleeper_id)
    selector.click()
    page.get_by_role("option", name=re.compile(re.escape(job_id))).click()
    main.get_by_role("heading", name="e2e-watched-run · SUCCEEDED").wait_for(timeout=STEP_MS)
    wait_job_param(page, job_id)
    page.wait_for_timeout(5_000)  # two more live ticks: nothing rewrites the URL
    wait_job_param(page, job_id)
    shot(page, "jobs-03-url-kept")

    # the shared link opens the same job
    page.goto(page.url)
    main.get_by_role("heading", name="e2e-watched-run · SUCCEEDED").wait_for(timeout=STEP_MS)
    main.get_by_role("link", name="Run results").wait_for(timeout=STEP_MS)
    assert job_param(page) == [job_id]


def submit_sweep_losing_a_child(storage_root: Path, sweep_id: str) -> str:
    """Two sleepers fill the dashboard worker's two slots; a 4-chunk sweep queued behind them
    loses child 1 before it runs. Returns the sweep's array job id."""
    from engine.store.objects import LocalStore
    from engine.sweep.spec import SweepSpec
    from jobs.sweeps import submit_sweep_jobs

    settings = load_settings(
        {"BACKTEST_STORAGE_ROOT": str(storage_root), "BACKTEST_CONFIG": "/nonexistent.toml"}
    )
    with LocalExecutor(settings, worker="none") as ex:
        for k in range(2):
            ex.submit_command(
                [sys.executable, "-c", f"import time; time.sleep({HOLD_S})"],
                name=f"e2e-slot-{k}",
                kind=JobKind.RUN,
            )
        spec = SweepSpec(
            sweep_id=sweep_id,
            base=RunSpec("backtest-input", "samples/trend_up_daily.csv", "backtest-results"),
            space={"fast": [5, 10, 15, 20], "slow": [30, 40, 60]},
            top_n=1,
        )
        sub = submit_sweep_jobs(ex, LocalStore(storage_root), spec, n_children=4)
        ex.terminate(f"{sub.array.id}:1", reason="lost (e2e)")
        return sub.array.id


def test_failed_sweep_resumed_from_the_page_completes_live(
    dashboard: str, storage_root: Path, e2e_page: Any
) -> None:
    page = e2e_page
    page.goto(dashboard)
    page.get_by_role("heading", name="batch-backtest", exact=True).first.wait_for(timeout=STEP_MS)
    array_id = submit_sweep_losing_a_child(storage_root, "e2e-resume")
    page.goto(f"{dashboard}/jobs?job={array_id}")
    main = page.get_by_test_id("stMain")
    main.get_by_text("Sweep e2e-resume").wait_for(timeout=STEP_MS)
    # no reload from here on: the array fails (child 1 lost), then Resume is offered
    resume = main.get_by_role("button", name="Resume 1 chunk(s)")
    resume.wait_for(timeout=JOB_MS)
    main.get_by_text(re.compile(r"3/4 chunks done · 0 running · 1 failed")).wait_for(
        timeout=STEP_MS
    )
    assert main.get_by_role("button", name="Terminate").count() == 0
    shot(page, "jobs-11-sweep-failed")
    resume.click()
    main.get_by_text(re.compile(r"Resumed sweep e2e-resume: 1 missing chunk\(s\) \(1\)")).wait_for(
        timeout=STEP_MS
    )
    new_id = job_param(page)
    assert new_id and new_id != [array_id]
    main.get_by_role("link", name="Sweep results", exact=True).wait_for(timeout=JOB_MS)
    main.get_by_text(re.compile(r"4/4 chunks done")).wait_for(timeout=STEP_MS)
    assert job_param(page) == new_id
    assert main.get_by_role("button", name=re.compile(r"^Resume")).count() == 0
    shot(page, "jobs-12-sweep-resumed")
