"""Run results in real Chromium: metric cards show their whole value (no "240,38..."), a
ruined run shows the red warning and "—" for the ratios, the Data page root lists its folders.

Runs are made with the engine's own code path (engine.backtest.execute) in the dashboard's
storage root, under ids no other test uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.e2e.test_dashboard_e2e import STEP_MS, heading, shot

pytestmark = pytest.mark.e2e

INPUT, RESULTS = "backtest-input", "backtest-results"


def _make_runs(root: Path) -> None:
    from engine.backtest import execute
    from engine.sim.synthetic import random_walk
    from engine.spec import RunSpec, SimOptions
    from engine.store.objects import LocalStore

    store = LocalStore(root)
    walk = random_walk(4_000, seed=11)  # long drawdowns: four-digit bar counts
    store.put_bytes(INPUT, "e2e-display/walk.csv", walk.to_csv(index_label="date").encode())
    close = np.r_[np.linspace(100.0, 60.0, 60), np.full(20, 200.0)]
    squeeze = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0},
        index=pd.date_range("2021-01-01", periods=len(close), freq="D", name="date"),
    )
    store.put_bytes(INPUT, "e2e-display/squeeze.csv", squeeze.to_csv().encode())
    rich = SimOptions(cash=250_000.0, commission=0.0005)
    execute(RunSpec(INPUT, "e2e-display/walk.csv", RESULTS, params={"fast": 5, "slow": 200},
                    options=rich, run_id="e2e-display-wide"), store, {})  # fmt: skip
    execute(RunSpec(INPUT, "e2e-display/squeeze.csv", RESULTS, params={"fast": 3, "slow": 10},
                    options=SimOptions(allow_short=True), run_id="e2e-display-ruin"),
            store, {})  # fmt: skip


def settle(page: Any, timeout_ms: int = STEP_MS) -> None:
    """Wait until no script run is in progress (the status widget may vanish at any time)."""
    page.wait_for_timeout(300)
    deadline = timeout_ms // 250
    for _ in range(deadline):
        running = page.evaluate(
            "() => { const s = document.querySelector('[data-testid=\"stStatusWidget\"]');"
            " return !!s && (s.textContent || '').includes('Running'); }"
        )
        if not running:
            return
        page.wait_for_timeout(250)


def _truncated_values(page: Any) -> list[str]:
    """Texts of metric values the browser draws wider than their card (cut with '...')."""
    return page.eval_on_selector_all(
        '[data-testid="stMetricValue"], [data-testid="stMetricLabel"]',
        "els => els.filter(e => { const t = e.querySelector('div') || e;"
        " return t.scrollWidth > t.clientWidth + 1 || e.scrollWidth > e.clientWidth + 1; })"
        ".map(e => e.textContent)",
    )


@pytest.mark.parametrize("width", [1400, 1100])
def test_metric_cards_show_whole_values(
    dashboard: str, storage_root: Path, e2e_browser: Any, width: int
) -> None:
    if not (storage_root / RESULTS / "runs" / "e2e-display-wide" / "_SUCCESS").exists():
        _make_runs(storage_root)
    context = e2e_browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    try:
        page.goto(dashboard)
        heading(page, "batch-backtest")
        page.goto(f"{dashboard}/run?run=e2e-display-wide")
        heading(page, "Run results")
        page.get_by_test_id("stMetric").filter(has_text="Final equity").wait_for()
        settle(page)
        values = page.locator('[data-testid="stMetricValue"]').all_text_contents()
        assert len(values) == 16 and all(v.strip() for v in values)
        assert _truncated_values(page) == []
        assert "Options (not the defaults): cash 250,000, commission 0.05%" in (
            page.get_by_test_id("stMain").inner_text()
        )
        shot(page, f"results-cards-{width}")

        page.goto(f"{dashboard}/run?run=e2e-display-ruin")
        page.get_by_text("Ruined on 2021-03-02").wait_for()
        settle(page)
        alert = page.get_by_test_id("stAlertContentError")
        assert "equity reached zero" in (alert.first.text_content() or "")
        sharpe = page.get_by_test_id("stMetric").filter(has_text="Sharpe")
        assert sharpe.get_by_test_id("stMetricValue").text_content() == "—"
        assert _truncated_values(page) == []
        shot(page, f"results-ruin-{width}")
    finally:
        context.close()


def test_data_root_lists_folders_as_rows_and_a_click_opens_one(
    dashboard: str, storage_root: Path, e2e_page: Any
) -> None:
    page = e2e_page
    page.goto(dashboard)
    heading(page, "batch-backtest")
    page.goto(f"{dashboard}/data")
    heading(page, "Data")
    page.get_by_text("click a row to open a folder", exact=False).wait_for()
    settle(page)
    assert "folder(s)" in page.get_by_test_id("stMain").inner_text()
    shot(page, "data-root")
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    assert box is not None
    # the rows are drawn on a canvas: click the selection cell of the row called samples/
    folders = sorted(p.name for p in (storage_root / INPUT).iterdir() if p.is_dir())
    row = folders.index("samples")  # folders come first, by name
    page.mouse.click(box["x"] + 15, box["y"] + 35 * (row + 1) + 17)
    page.get_by_text("s3://backtest-input/samples/", exact=True).wait_for()
    settle(page)
    assert page.get_by_test_id("stTextInput").first.locator("input").input_value() == "samples/"
    shot(page, "data-samples")


def test_compare_labels_runs_by_what_differs(
    dashboard: str, storage_root: Path, e2e_page: Any
) -> None:
    if not (storage_root / RESULTS / "runs" / "e2e-display-wide" / "_SUCCESS").exists():
        _make_runs(storage_root)
    page = e2e_page
    page.goto(dashboard)
    heading(page, "batch-backtest")
    page.goto(f"{dashboard}/compare?runs=e2e-display-wide,e2e-display-ruin")
    heading(page, "Compare runs")
    page.get_by_text("long/short: Ruined on 2021-03-02", exact=False).wait_for()
    page.get_by_role("link", name="Open e2e-display/walk.csv", exact=False).wait_for()
    settle(page)
    main = page.get_by_test_id("stMain").inner_text()
    assert "Same in every run: strategy sma_cross" in main
    assert "Open e2e-display/walk.csv" in main  # link labels name what differs
    shot(page, "compare-differs")
