"""The tour a user takes, in real Chromium against `streamlit run` on the local backend:
Data -> New run -> Jobs (SUCCEEDED) -> Run results (equity chart); and a small sweep to its
heatmap. Screenshots of each step go to tests/e2e/artifacts/."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.conftest import ARTIFACTS, REPO

pytestmark = pytest.mark.e2e

SAMPLE = "samples/trend_up_daily.csv"
STEP_MS = 90_000  # one page render on a loaded machine
JOB_MS = 300_000  # a job from submit to SUCCEEDED (first run compiles the numba kernels)


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot under tests/e2e/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def settle(page: Any, timeout_ms: int = STEP_MS) -> None:
    """Wait until the app is not showing 'Running...' (a script run has finished)."""
    page.wait_for_load_state("domcontentloaded")
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        status = page.locator('[data-testid="stStatusWidget"]')
        if status.count() == 0 or "Running" not in (status.first.text_content() or ""):
            return
        page.wait_for_timeout(250)


def heading(page: Any, text: str) -> None:
    page.get_by_role("heading", name=text, exact=True).first.wait_for(timeout=STEP_MS)


def nav(page: Any, title: str) -> None:
    """Click a page in the router's sidebar navigation."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()


def test_run_from_data_to_equity_chart(dashboard: str, e2e_page: Any) -> None:
    page = e2e_page
    # Start at the root: on a fresh server a deep link is served by Streamlit's views/ folder
    # discovery until the router has run once (reported to the lead), so enter like a user.
    page.goto(dashboard)
    heading(page, "batch-backtest")
    nav(page, "Data")
    heading(page, "Data")
    page.get_by_text("s3://backtest-input/", exact=True).wait_for(timeout=STEP_MS)
    settle(page)
    shot(page, "01-data")

    nav(page, "New run")
    heading(page, "New run")
    settle(page)
    files = page.get_by_test_id("stMultiSelect").filter(has_text="Input files")
    files.click()
    page.get_by_role("option", name=SAMPLE).click()
    page.keyboard.press("Escape")
    settle(page)
    submit = page.get_by_role("button", name=re.compile(r"^Submit 1 run"))
    submit.wait_for(timeout=STEP_MS)
    shot(page, "02-new-run")
    submit.click()
    page.get_by_text(re.compile(r"Submitted 1 run")).wait_for(timeout=STEP_MS)
    results_link = page.get_by_role("link", name=re.compile(r"^Results of "))
    run_id = (results_link.text_content() or "").replace("Results of ", "").strip()
    assert run_id
    shot(page, "03-submitted")

    page.get_by_role("link", name=re.compile(r"^Job ")).first.click()
    heading(page, "Jobs")
    page.get_by_text(re.compile(r"· SUCCEEDED")).first.wait_for(timeout=JOB_MS)
    settle(page)
    shot(page, "04-jobs-succeeded")

    page.reload()
    heading(page, "Jobs")
    page.get_by_test_id("stMain").get_by_role("link", name="Run results").click()
    heading(page, "Run results")
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=STEP_MS)
    assert f"run={run_id}" in page.url
    metric = page.get_by_test_id("stMetric").filter(has_text="Total return")
    metric.first.wait_for(timeout=STEP_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=STEP_MS)
    settle(page)
    shot(page, "05-run-results")


def test_sweep_to_heatmap(dashboard: str, e2e_page: Any) -> None:
    page = e2e_page
    page.goto(dashboard)
    heading(page, "batch-backtest")
    space = quote(json.dumps({"fast": "5:15:5", "slow": "30:50:20"}))
    page.goto(f"{dashboard}/new?file={quote(SAMPLE)}&strategy=sma_cross&space={space}")
    heading(page, "New run")
    submit = page.get_by_role("button", name="Submit sweep")
    submit.wait_for(timeout=STEP_MS)
    settle(page)
    shot(page, "11-new-sweep")
    submit.click()
    page.get_by_text(re.compile(r"Submitted sweep")).wait_for(timeout=STEP_MS)
    page.get_by_test_id("stMain").get_by_role("link", name="Sweep results").click()
    heading(page, "Sweep results")
    deadline = time.monotonic() + JOB_MS / 1000
    heat = page.locator('[data-testid="stEChartsChart"][aria-label^="Heatmap:"] canvas')
    # give each render time to finish before reloading: on a loaded machine a render can take
    # longer than a short poll, and reloading mid-render would never show the heatmap
    while True:
        try:
            heat.first.wait_for(timeout=30_000)
            break
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                shot(page, "12-sweep-timeout")
                raise AssertionError("no sweep heatmap within the time limit") from None
            page.reload()
            heading(page, "Sweep results")
    assert "sweep=" in page.url and "metric=" in page.url
    shot(page, "12-sweep-heatmap")


def test_artifacts_are_ignored_by_git() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "tests/e2e/artifacts/" in ignored
    assert Path(ARTIFACTS).relative_to(REPO).as_posix() + "/" == "tests/e2e/artifacts/"
