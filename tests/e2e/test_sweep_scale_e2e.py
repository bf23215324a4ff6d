"""A 1,000,000-combination sweep in real Chromium against `streamlit run`: the page renders
its heatmap, stays responsive (a metric switch re-renders, tabs open) and what reaches the
browser is bounded (heatmap cells, parallel-coordinates rows, figure JSON size, table rows).
Sizes are asserted, never wall time (times are in `make bench`, bench/browser_bench.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from bench import sweep_page_probe as probe
from bench.synthetic_sweep import write_sweep
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

SWEEP = "e2e-scale-1m"
MAX_FIGURE_BYTES = 2_000_000
MAX_CELLS_PER_AXIS = 50  # app.sweep_cells.MAX_HEATMAP_AXIS
PARCOORDS_ROWS = 3000  # the top 1,000 plus 2,000 drawn at random


@pytest.fixture(scope="module")
def big_sweep(storage_root: Path) -> Any:
    """The sweep's summary, written in the result layout into the dashboard's storage root."""
    return write_sweep(storage_root, SWEEP, 1000, 1000)


def query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_million_combination_sweep_is_bounded_and_responsive(
    dashboard: str, e2e_page: Any, big_sweep: Any
) -> None:
    page = e2e_page
    assert len(big_sweep) == 1_000_000
    page.goto(dashboard)  # the router runs once before a deep link (see test_dashboard_e2e)
    page.get_by_role("heading", name="batch-backtest").first.wait_for()
    frames = probe.FrameCounter(page)
    page.goto(f"{dashboard}/sweep?sweep={SWEEP}&metric=sharpe")
    probe.wait_for_figure(page, "heatmap", "sharpe by")
    heat = probe.figure_of(page, "heatmap")
    assert heat is not None
    # 1,000 distinct values per axis are binned server-side to 50 cells of 20
    assert (heat["width"], heat["height"]) == (MAX_CELLS_PER_AXIS, MAX_CELLS_PER_AXIS)
    assert heat["cells"] == MAX_CELLS_PER_AXIS**2
    assert "1,000 values in 50 cells of 20" in heat["title"]
    assert frames.bytes < MAX_FIGURE_BYTES  # the whole render, the heatmap's Arrow included
    assert probe.figure_of(page, "parallel") is None  # hidden tabs are not rendered
    ruined = int(big_sweep["ruined"].sum())
    page.get_by_text(f"{ruined:,} of 1,000,000 combinations were ruined").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chart = page.get_by_test_id("stEChartsChart").first
    chart.screenshot(path=str(ARTIFACTS / "sweep-scale-1-heat.png"))

    for metric in ("total_return", "max_drawdown"):  # the same selectbox twice in a row
        frames.reset()
        probe.pick(page, "Metric", metric)
        probe.wait_for_figure(page, "heatmap", f"{metric} by")
        heat = probe.figure_of(page, "heatmap")
        assert heat is not None and heat["cells"] == MAX_CELLS_PER_AXIS**2
        assert frames.bytes < MAX_FIGURE_BYTES
        assert query(page)["metric"] == [metric]

    frames.reset()
    probe.open_tab(page, "Parallel coordinates")
    probe.wait_for_figure(page, "parallel", "max_drawdown across")
    par = probe.figure_of(page, "parallel")
    assert par is not None and par["rows"] == PARCOORDS_ROWS
    assert "the top 1,000 by max_drawdown plus 2,000 others drawn at random" in par["title"]
    assert frames.bytes < MAX_FIGURE_BYTES
    assert probe.figure_of(page, "heatmap") is None
    assert query(page)["tab"] == ["Parallel coordinates"]
    chart = page.get_by_test_id("stEChartsChart").first
    chart.screenshot(path=str(ARTIFACTS / "sweep-scale-2-par.png"))

    probe.open_tab(page, "Top combinations")
    page.get_by_text("Rows 1–50 of 1,000,000, best max_drawdown first").wait_for()
    grid = page.get_by_test_id("stDataFrame").first.locator("[aria-rowcount]").first
    grid.wait_for(state="attached")  # the grid's accessible table (hidden; drawn on canvas)
    assert grid.get_attribute("aria-rowcount") == "51"  # one page of 50 rows plus the header

    page.reload()  # the shared URL reopens the same tab and metric
    page.get_by_text("Rows 1–50 of 1,000,000, best max_drawdown first").wait_for()
