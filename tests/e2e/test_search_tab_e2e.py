"""A TPE search's Search tab in real Chromium against `streamlit run`: both charts are drawn,
a click on a Pareto-front point selects that trial and offers its rerun, and the link lands on
New run prefilled with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from app.search_charts import GRID, value_range
from bench import sweep_page_probe as probe
from tests._search_ui_helpers import SEARCH_FILE, write_search
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

SWEEP = "e2e-search"
OBJECTIVES = ("sharpe", "max_drawdown")


@pytest.fixture(scope="module")
def search(storage_root: Path) -> pd.DataFrame:
    return write_search(storage_root, SWEEP, budget=60, round_size=20, objectives=OBJECTIVES)


def pixel(box: dict[str, float], xs: tuple[float, float], ys: tuple[float, float], x: float,
          y: float) -> tuple[float, float]:  # fmt: skip
    """Page coordinates of the value (x, y) on a chart with explicit axis ranges and GRID."""
    width = box["width"] - GRID["left"] - GRID["right"]
    height = box["height"] - GRID["top"] - GRID["bottom"]
    px = box["x"] + GRID["left"] + (x - xs[0]) / (xs[1] - xs[0]) * width
    py = box["y"] + box["height"] - GRID["bottom"] - (y - ys[0]) / (ys[1] - ys[0]) * height
    return px, py


def test_search_tab_draws_and_a_front_point_opens_its_trial(
    dashboard: str, e2e_page: Any, search: pd.DataFrame
) -> None:
    page = e2e_page
    page.goto(dashboard)  # the router runs once before a deep link (see test_dashboard_e2e)
    page.get_by_role("heading", name="batch-backtest").first.wait_for()
    page.goto(f"{dashboard}/sweep?sweep={SWEEP}&tab=Search")
    probe.wait_for_figure(page, "pareto", "sharpe vs max_drawdown")
    probe.wait_for_figure(page, "search progress", "Sharpe (higher) by trial")
    page.get_by_text("seed 7").first.wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    progress = page.locator('[data-testid="stEChartsChart"][aria-label^="Search progress:"]')
    progress.first.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # ECharts' draw-in animation
    progress.first.screenshot(path=str(ARTIFACTS / "search-0-progress.png"))

    usable = search[~search["ruined"]]
    xs = value_range(usable["sharpe"].to_numpy(float))
    ys = value_range(usable["max_drawdown"].to_numpy(float))
    chart = page.locator('[data-testid="stEChartsChart"][aria-label^="Pareto:"]').first
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = chart.bounding_box()
    assert box is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / "search-1-pareto.png"))
    # the front point farthest (on screen) from every other trial, so the click hits only it
    points = np.array([pixel(box, xs, ys, a, b) for a, b in
                       zip(usable["sharpe"], usable["max_drawdown"], strict=True)])  # fmt: skip
    front = np.flatnonzero(usable["pareto"].to_numpy(bool))
    assert len(front)
    gaps = [np.delete(np.hypot(*(points - points[i]).T), i).min() for i in front]
    target = usable.iloc[front[int(np.argmax(gaps))]]
    page.mouse.click(*points[front[int(np.argmax(gaps))]])
    trial = int(target["combo_id"])
    label = f"fast={int(target['fast'])}, slow={int(target['slow'])}"
    page.get_by_text(f"Selected trial {trial}").first.wait_for()
    chart.screenshot(path=str(ARTIFACTS / "search-2-selected.png"))
    page.get_by_role("link", name=f"Run {label} again (New run, prefilled)").first.click()
    page.wait_for_url("**/new?**")
    query = parse_qs(urlparse(page.url).query)
    assert query["p_fast"] == [str(int(target["fast"]))]
    assert query["p_slow"] == [str(int(target["slow"]))]
    assert query["strategy"] == ["sma_cross"] and query["file"] == [SEARCH_FILE]
    page.get_by_role("heading", name="New run").first.wait_for()
