"""The Walk-forward page in real Chromium: reached from Sweep results by its link, it draws the
stitched out-of-sample curve against buy-and-hold and the parameter path, and lists the windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests._walk_forward_helpers import make_walk_forward_sweep
from tests.e2e.test_dashboard_e2e import STEP_MS, heading, shot
from tests.e2e.test_results_display_e2e import settle

pytestmark = pytest.mark.e2e

INPUT, RESULTS = "backtest-input", "backtest-results"
SWEEP = "e2e-walk-forward"


def test_walk_forward_page_from_the_sweep_page(
    dashboard: str, storage_root: Path, e2e_page: Any
) -> None:
    if not (storage_root / RESULTS / "sweeps" / SWEEP / "_SUCCESS").exists():
        make_walk_forward_sweep(
            storage_root, INPUT, RESULTS, ["samples/choppy_range_daily.csv"], SWEEP, "500:250"
        )
    page = e2e_page
    page.goto(dashboard)
    heading(page, "batch-backtest")
    page.goto(f"{dashboard}/sweep?sweep={SWEEP}")
    heading(page, "Sweep results")
    page.get_by_role("link", name="Walk-forward results").click()
    heading(page, "Walk-forward")
    page.get_by_text("Walk-forward efficiency", exact=False).wait_for(timeout=STEP_MS)
    settle(page)
    assert f"sweep={SWEEP}" in page.url
    plots = page.locator(".js-plotly-plot")
    plots.nth(1).wait_for(timeout=STEP_MS)
    assert plots.count() == 2
    legend = plots.first.locator(".legendtext").all_text_contents()
    assert legend == ["walk-forward (out-of-sample, chained)", "buy and hold"]
    assert plots.first.locator(".scatterlayer .trace").count() == 2
    assert plots.nth(1).locator(".legendtext").all_text_contents() == ["fast", "slow"]
    text = page.get_by_test_id("stMain").inner_text()
    # 1,500 bars, 500:250 rolling: out-of-sample windows from bars 500, 750, 1000, 1250
    assert "rolling windows: in-sample 500, out-of-sample 250, step 250 (bars)" in text
    assert page.locator('[data-testid="stDataFrame"]').count() == 2
    shot(page, "walk-forward")
