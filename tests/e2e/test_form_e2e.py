"""New run in real Chromium against `streamlit run`: the form refuses what it cannot submit
(Submit disabled, the reason beside it) and the confirmation echoes exactly what was sent,
checked against the job record and spec.json the dashboard wrote."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from jobs.local import LocalExecutor
from jobs.settings import load_settings
from tests.e2e.test_dashboard_e2e import STEP_MS, heading, shot

pytestmark = pytest.mark.e2e

SAMPLE = "samples/trend_up_daily.csv"


@pytest.fixture
def recorded_jobs(storage_root: Path, tmp_path: Path) -> Iterator[LocalExecutor]:
    """The dashboard's job records, read by a second executor that runs nothing."""
    settings = load_settings(
        {"BACKTEST_STORAGE_ROOT": str(storage_root), "BACKTEST_CONFIG": str(tmp_path / "no.toml")}
    )
    executor = LocalExecutor(settings, worker="none")
    yield executor
    executor.close()


def open_new_run(page: Any, dashboard: str, **query: str) -> None:
    """Enter at the root (the router must run once), then deep-link into New run."""
    page.goto(dashboard)
    heading(page, "batch-backtest")
    params = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    page.goto(f"{dashboard}/new?{params}")
    heading(page, "New run")
    idle(page)


def idle(page: Any) -> None:
    """Wait until the script run an action caused has finished and no element is stale
    (typing into a half-rendered form could land in a widget that is being replaced).
    Only non-waiting counts: the status widget may vanish between two looks."""
    page.wait_for_timeout(300)  # let the rerun start before waiting for it to finish
    running = page.locator('[data-testid="stStatusWidget"]').filter(has_text="Running")
    stale = page.locator('[data-stale="true"]')
    deadline = time.monotonic() + STEP_MS / 1000
    calm = 0
    while calm < 2 and time.monotonic() < deadline:
        calm = 0 if running.count() or stale.count() else calm + 1
        page.wait_for_timeout(250)


def type_into(page: Any, label: str, text: str) -> None:
    """Type into the text input labelled ``label`` and commit it with Enter, as a user does."""
    box = page.get_by_label(label, exact=True)
    box.wait_for(state="visible", timeout=STEP_MS)
    box.fill(text)
    box.press("Enter")
    idle(page)
    expect(page.get_by_label(label, exact=True)).to_have_value(text)


def test_invalid_value_disables_submit_then_the_fixed_value_is_what_is_sent(
    dashboard: str, e2e_page: Any, recorded_jobs: LocalExecutor
) -> None:
    page = e2e_page
    open_new_run(page, dashboard, file=SAMPLE)
    main = page.get_by_test_id("stMain")
    submit = main.get_by_role("button", name=re.compile(r"^Submit 1 run$"))
    expect(submit).to_be_enabled(timeout=STEP_MS)

    type_into(page, "fast (int 1..10000)", "99999")
    expect(submit).to_be_disabled(timeout=STEP_MS)
    reason = "fast: 99999 is out of range; allowed int 1..10000"
    expect(main.get_by_text("Submit is disabled until this is fixed")).to_be_visible()
    expect(main.get_by_text(reason).first).to_be_visible()
    expect(page.get_by_label("fast (int 1..10000)", exact=True)).to_have_value("99999")
    shot(page, "21-form-refuses")

    type_into(page, "fast (int 1..10000)", "7")
    main.get_by_test_id("stExpander").locator("summary").first.click()
    idle(page)
    commission = page.get_by_label("commission", exact=True)
    expect(commission).to_have_value("0.001")
    expect(main.get_by_text("commission 0.001 (0.1% of each fill)")).to_be_visible()
    type_into(page, "commission", "0.0005")
    expect(main.get_by_text("commission 0.0005 (0.05% of each fill)")).to_be_visible()
    expect(submit).to_be_enabled(timeout=STEP_MS)
    submit.click()

    main.get_by_text("Submitted 1 run as 1 local job.").wait_for(timeout=STEP_MS)
    expect(main.get_by_text(f"{SAMPLE}: sma_cross(fast=7, slow=50)")).to_be_visible()
    expect(
        main.get_by_text(re.compile(r"^Options: .*commission 0\.0005 \(0\.05% of each fill\)"))
    ).to_be_visible()
    link = main.get_by_role("link", name=re.compile(r"^Results of "))
    run_id = (link.text_content() or "").replace("Results of ", "").strip()
    shot(page, "22-form-echo")

    (job,) = [j for j in recorded_jobs.list() if (j.spec or {}).get("run_id") == run_id]
    assert job.spec is not None
    assert job.spec["params"] == {"fast": 7, "slow": 50}
    assert job.spec["options"]["commission"] == 0.0005
    assert job.spec["source_key"] == SAMPLE


def test_sweep_step_of_one_on_slow_is_accepted_and_counted(
    dashboard: str, e2e_page: Any, storage_root: Path
) -> None:
    page = e2e_page
    open_new_run(page, dashboard, file=SAMPLE, space=json.dumps({"fast": "5,10"}))
    main = page.get_by_test_id("stMain")
    slow_modes = page.locator(".st-key-nr_s_sma_cross_slow_mode")  # its widget key
    slow_modes.get_by_role("radio", name="range").click()
    idle(page)
    type_into(page, "slow start", "40")
    type_into(page, "slow stop", "60")
    type_into(page, "slow step", "1")  # below slow's own minimum of 2: a step has its own bound
    expect(page.get_by_label("slow step", exact=True)).to_have_value("1")
    expect(main.get_by_text("slow: 40..60 step 1 (21 values)").first).to_be_visible()
    submit = main.get_by_role("button", name="Submit sweep of 42 combinations", exact=True)
    expect(submit).to_be_enabled(timeout=STEP_MS)
    shot(page, "23-sweep-step-one")
    submit.click()

    main.get_by_text(re.compile(r"^Submitted sweep ")).wait_for(timeout=STEP_MS)
    banner = main.get_by_text(re.compile(r"^Submitted sweep ")).first.text_content() or ""
    sweep_id = banner.removeprefix("Submitted sweep ").rstrip(".").strip()
    echo = "42 combinations x 1 file = 42 backtests of sma_cross (grid)"
    expect(main.get_by_text(echo)).to_be_visible()
    expect(main.get_by_text("slow: 40..60 step 1 (21 values)").last).to_be_visible()
    shot(page, "24-sweep-echo")

    record = json.loads(
        (storage_root / "backtest-results" / "sweeps" / sweep_id / "spec.json").read_bytes()
    )
    assert record["n_combinations"] == 42
    assert {"name": "slow", "start": 40, "stop": 60, "step": 1} in record["space"]
    assert {"name": "fast", "values": [5, 10]} in record["space"]
