"""The Robustness tab in real Chromium over a sweep whose winner is luck (the planted lucky
phase of tests/engine/test_lucky_parameter.py, run through the jobs CLI into the dashboard's
storage): the PBO logits histogram and the in- vs out-of-sample scatter are drawn, and what
they say matches what collect stored (PBO 1.0: every split's winner fell below the median)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import sweep_page_probe as probe
from tests.e2e.test_dashboard_e2e import STEP_MS, heading, shot
from tests.engine.test_lucky_parameter import CYCLE, lucky_env, lucky_sweep, prices

pytestmark = pytest.mark.e2e

INPUT, RESULTS = "backtest-input", "backtest-results"
SWEEP = "e2e-lucky"


def _labels(page: Any) -> list[str]:
    return [
        str(el.get_attribute("aria-label") or "")
        for el in page.get_by_test_id("stEChartsChart").all()
    ]


def test_robustness_tab_shows_the_lucky_sweep_flagged(
    dashboard: str, storage_root: Path, e2e_page: Any, tmp_path: Path
) -> None:
    done = storage_root / RESULTS / "sweeps" / SWEEP / "robustness.json"
    if not done.exists():
        env = lucky_env(storage_root, tmp_path / "no-config.toml", (INPUT, RESULTS))
        lucky_sweep(env, prices(1), SWEEP)
    report = json.loads(done.read_text())
    assert report["pbo"] == 1.0 and report["n_trials"] == CYCLE
    page = e2e_page
    page.goto(dashboard)  # the router runs once before a deep link (see test_dashboard_e2e)
    heading(page, "batch-backtest")
    page.goto(f"{dashboard}/sweep?sweep={SWEEP}&tab=Robustness")
    heading(page, "Sweep results")
    probe.wait_for_figure(page, "histogram", "PBO logits", timeout_ms=STEP_MS)
    probe.wait_for_figure(page, "scatter", "in-sample vs out-of-sample", timeout_ms=STEP_MS)
    labels = _labels(page)
    pbo = next(label for label in labels if label.startswith("Histogram: PBO logits"))
    splits = report["pbo_details"]["splits_used"]
    assert pbo == f"Histogram: PBO logits; {splits:,} splits; 100.0% at or below 0"
    scatter = next(label for label in labels if label.startswith("Scatter:"))
    assert scatter == f"Scatter: in-sample vs out-of-sample Sharpe; {CYCLE} combinations"
    text = page.get_by_test_id("stMain").inner_text()
    assert "PBO = the share of splits at or left of the dashed line at 0: 100.0%" in text
    canvases = page.locator('[data-testid="stEChartsChart"] canvas')
    assert canvases.count() >= 2
    shot(page, "robustness-lucky")
