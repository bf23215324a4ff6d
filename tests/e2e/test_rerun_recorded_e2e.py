"""A rerun of a strategy-file run in real Chromium against `streamlit run`: New run opened from
the run's "Rerun with changes" link says it runs the recorded copy (sha256, the stored file
changed since), and the run it submits runs and records those bytes, not the current file."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from app.new_run_link import rerun_query
from engine.backtest import main as engine_main
from engine.store.objects import LocalStore
from engine.userstrat import put_strategy
from tests._strategy_files import close_above_sma
from tests.e2e.test_dashboard_e2e import JOB_MS, STEP_MS, heading, shot
from tests.e2e.test_form_e2e import idle

pytestmark = pytest.mark.e2e

SAMPLE = "samples/trend_up_daily.csv"
NAME = "e2e_rr_sma"
OLD = close_above_sma(NAME, "The old rule.")
NEW = close_above_sma(NAME, "The new rule.").replace('"max": 500', '"max": 40')
OLD12 = hashlib.sha256(OLD.encode()).hexdigest()[:12]
NEW12 = hashlib.sha256(NEW.encode()).hexdigest()[:12]


def test_rerun_link_runs_the_recorded_copy(
    dashboard: str, e2e_page: Any, storage_root: Path
) -> None:
    store = LocalStore(storage_root)
    put_strategy(store, "backtest-input", OLD, user="ana")
    args = ["backtest-input", SAMPLE, "backtest-results", "--strategy", NAME]
    env = {"BACKTEST_STORAGE_ROOT": str(storage_root)}
    assert engine_main([*args, "--param", "window=60", "--run-id", "e2e-rr-old"], env) == 0
    put_strategy(store, "backtest-input", NEW, user="bo", overwrite=True)
    results = storage_root / "backtest-results" / "runs"
    spec = json.loads((results / "e2e-rr-old" / "spec.json").read_text())
    copy = "s3://backtest-results/runs/e2e-rr-old/strategy.py"

    page = e2e_page
    page.goto(f"{dashboard}/new?{urlencode(rerun_query(spec))}")
    heading(page, "New run")
    idle(page)
    main = page.get_by_test_id("stMain")
    recorded = page.get_by_role("radio", name=f"Recorded copy of run e2e-rr-old (sha256 {OLD12})")
    expect(recorded).to_be_checked(timeout=STEP_MS)
    expect(main.get_by_text(f"changed since run e2e-rr-old: now sha256 {NEW12}")).to_be_visible()
    expect(main.get_by_text(f"Runs {copy} · sha256 {OLD12}")).to_be_visible()
    expect(page.get_by_label("window (int 2..500)", exact=True)).to_have_value("60")
    shot(page, "46-rerun-recorded-copy")

    submit = main.get_by_role("button", name=re.compile(r"^Submit 1 run$"))
    expect(submit).to_be_enabled(timeout=STEP_MS)
    submit.click()
    main.get_by_text("Submitted 1 run as 1 local job.").wait_for(timeout=STEP_MS)
    expect(main.get_by_text(f"Strategy source: {copy} · sha256 {OLD12}")).to_be_visible()
    link = main.get_by_role("link", name=re.compile(r"^Results of "))
    run_id = (link.text_content() or "").replace("Results of ", "").strip()

    done = results / run_id / "_SUCCESS"
    deadline = time.monotonic() + JOB_MS / 1000
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert done.exists(), (results / run_id / "error.json").read_text()
    ran = json.loads((results / run_id / "spec.json").read_text())
    assert ran["strategy_sha256"][:12] == OLD12 and ran["params"] == {"window": 60}
    assert (results / run_id / "strategy.py").read_text() == OLD  # not the current file
