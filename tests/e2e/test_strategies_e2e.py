"""Bring your own strategy in real Chromium against `streamlit run`: upload a strategy file on the
Strategies page, validate, save; New run offers it with a field from its PARAMS; the submitted
run is executed by the local executor (not the dashboard) and records the stored file."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests._strategy_files import close_above_sma
from tests.e2e.test_dashboard_e2e import JOB_MS, STEP_MS, heading, shot
from tests.e2e.test_form_e2e import idle, type_into

pytestmark = pytest.mark.e2e

SAMPLE = "samples/trend_up_daily.csv"
NAME = "e2e_close_above_sma"
SOURCE = close_above_sma(NAME)


def wait_for_file(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)


def test_upload_validate_save_then_run_it_from_new_run(
    dashboard: str, e2e_page: Any, storage_root: Path, tmp_path: Path
) -> None:
    page = e2e_page
    upload = tmp_path / f"{NAME}.py"
    upload.write_text(SOURCE, encoding="utf-8")
    page.goto(dashboard)
    heading(page, "batch-backtest")
    page.goto(f"{dashboard}/strategies")
    heading(page, "Strategies")
    idle(page)
    main = page.get_by_test_id("stMain")

    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(upload))
    idle(page)
    sha12 = hashlib.sha256(SOURCE.encode()).hexdigest()[:12]  # the uploaded text, in the editor
    expect(main.get_by_text(f"{NAME}.py · sha256 {sha12}")).to_be_visible(timeout=STEP_MS)
    editor = page.frame_locator('iframe[title*="code_editor"]').locator(".ace_editor")
    expect(editor).to_contain_text(f'NAME = "{NAME}"', timeout=STEP_MS)
    main.get_by_role("button", name="Validate").click()
    expect(main.get_by_text(f"Valid: {NAME}")).to_be_visible(timeout=STEP_MS)
    shot(page, "40-strategy-validated")
    main.get_by_role("button", name="Save").click()
    expect(main.get_by_text(f"Saved strategies/{NAME}.py")).to_be_visible(timeout=STEP_MS)
    stored = storage_root / "backtest-input" / "strategies" / f"{NAME}.py"
    assert stored.read_bytes() == SOURCE.encode()
    sha = hashlib.sha256(SOURCE.encode()).hexdigest()
    expect(main.get_by_text(f"sha256 {sha}").first).to_be_visible()

    page.goto(f"{dashboard}/new?file={SAMPLE}&strategy={NAME}")
    heading(page, "New run")
    idle(page)
    label = "window (int 2..500)"
    expect(page.get_by_label(label, exact=True)).to_have_value("15", timeout=STEP_MS)
    submit = main.get_by_role("button", name=re.compile(r"^Submit 1 run$"))
    type_into(page, label, "3")
    expect(submit).to_be_disabled(timeout=STEP_MS)
    expect(main.get_by_text("rule 'window above 3' does not hold").first).to_be_visible()
    type_into(page, label, "20")
    expect(submit).to_be_enabled(timeout=STEP_MS)
    submit.click()
    main.get_by_text("Submitted 1 run as 1 local job.").wait_for(timeout=STEP_MS)
    expect(main.get_by_text(f"{SAMPLE}: {NAME}(window=20)")).to_be_visible()
    link = main.get_by_role("link", name=re.compile(r"^Results of "))
    run_id = (link.text_content() or "").replace("Results of ", "").strip()
    shot(page, "41-strategy-submitted")

    run_dir = storage_root / "backtest-results" / "runs" / run_id
    wait_for_file(run_dir / "_SUCCESS", JOB_MS / 1000)
    error = run_dir / "error.json"
    assert (run_dir / "_SUCCESS").exists(), error.read_text() if error.exists() else "no result"
    spec = json.loads((run_dir / "spec.json").read_text())
    assert spec["strategy"] == NAME and spec["params"] == {"window": 20}
    assert spec["strategy_sha256"] == sha  # the bytes validated and saved are the bytes that ran
    assert (run_dir / "strategy.py").read_bytes() == SOURCE.encode()  # the source that ran
