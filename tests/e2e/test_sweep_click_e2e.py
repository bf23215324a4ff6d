"""The sweep heatmap in real Chromium against `streamlit run`: the best cell carries its mark
(a dark pin drawn over it, nowhere else), a click on a cell selects that cell's combination and
offers its rerun, and the link lands on New run prefilled with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from app.sweep_charts import GRID
from bench import sweep_page_probe as probe
from bench.synthetic_sweep import SOURCE_KEY, write_sweep
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

SWEEP = "e2e-click"
N_FAST, N_SLOW = 10, 12  # 120 cells: one combination each, values printed in the cells


@pytest.fixture(scope="module")
def small_sweep(storage_root: Path) -> Any:
    return write_sweep(storage_root, SWEEP, N_FAST, N_SLOW)


def cell_centre(box: dict[str, float], xi: int, yi: int) -> tuple[float, float]:
    """Page coordinates of cell (xi, yi) (y counted from the bottom, as ECharts draws it)."""
    width = box["width"] - GRID["left"] - GRID["right"]
    height = box["height"] - GRID["top"] - GRID["bottom"]
    x = box["x"] + GRID["left"] + (xi + 0.5) * width / N_FAST
    y = box["y"] + box["height"] - GRID["bottom"] - (yi + 0.5) * height / N_SLOW
    return x, y


def dark_pixels(page: Any, x: float, y: float, half: int = 12) -> int:
    """Pixels darker than any heatmap colour in a square around (x, y) of the screenshot."""
    from io import BytesIO

    from PIL import Image

    shot = Image.open(BytesIO(page.screenshot())).convert("RGB")
    region = np.asarray(shot.crop((int(x) - half, int(y) - half, int(x) + half, int(y) + half)))
    return int((region.max(axis=2) < 50).sum())


def test_best_cell_is_marked_and_a_click_opens_its_combination(
    dashboard: str, e2e_page: Any, small_sweep: Any
) -> None:
    page = e2e_page
    page.goto(dashboard)  # the router runs once before a deep link (see test_dashboard_e2e)
    page.get_by_role("heading", name="batch-backtest").first.wait_for()
    page.goto(f"{dashboard}/sweep?sweep={SWEEP}&metric=sharpe")
    probe.wait_for_figure(page, "heatmap", "sharpe by fast and slow")
    alive = small_sweep[~small_sweep["ruined"]]
    best = alive.loc[alive["sharpe"].idxmax()]
    fasts, slows = sorted(small_sweep["fast"].unique()), sorted(small_sweep["slow"].unique())
    bx, by = fasts.index(best["fast"]), slows.index(best["slow"])
    heat = probe.figure_of(page, "heatmap")
    assert heat is not None and f"best fast={best['fast']}, slow={best['slow']}" in heat["title"]
    chart = page.get_by_test_id("stEChartsChart").first
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = chart.bounding_box()
    assert box is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / "sweep-click-1-best.png"))
    x, y = cell_centre(box, bx, by)
    assert dark_pixels(page, x, y) > 20  # the pin over the best cell
    far = cell_centre(box, (bx + N_FAST // 2) % N_FAST, (by + N_SLOW // 2) % N_SLOW)
    assert dark_pixels(page, *far) == 0  # and nowhere else

    # a click on another cell selects that combination (one per cell here) and offers its rerun
    # (a ruined combination's cell has no value and stays blank: pick one that is not ruined)
    other = alive[(alive["fast"] != best["fast"]) & (alive["slow"] != best["slow"])].iloc[7]
    fast, slow = int(other["fast"]), int(other["slow"])
    page.mouse.click(*cell_centre(box, fasts.index(fast), slows.index(slow)))
    label = f"fast={fast}, slow={slow}"
    page.get_by_text(f"best combination {label}").wait_for()
    link = page.get_by_role("link", name=f"Run {label} again (New run, prefilled)")
    link.click()
    page.wait_for_url("**/new?**")
    query = parse_qs(urlparse(page.url).query)
    assert query["p_fast"] == [str(fast)] and query["p_slow"] == [str(slow)]
    assert query["strategy"] == ["sma_cross"] and query["file"] == [SOURCE_KEY]
    page.get_by_role("heading", name="New run").first.wait_for()
    while not probe.settled(page):
        page.wait_for_timeout(100)
    page.screenshot(path=str(ARTIFACTS / "sweep-click-2-new-run.png"))
