"""Sweep results page in real Chromium against `streamlit run` (not AppTest), 1,000,000
combinations: time to the first chart, to every metric switch and tab, and the payload per
figure (the JSON size of each plotly figure in the page) and per render (websocket bytes).

The sweep is synthesised in the result layout in a temporary storage root
(bench/synthetic_sweep.py). Chromium is /usr/bin/chromium (BACKTEST_CHROMIUM overrides) with
the flags the e2e tests use. Targets: each step within 3 s, each figure under 2 MB.
Figures, never assertions.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import serve
from bench import sweep_page_probe as probe
from bench.serve import CHROMIUM, CHROMIUM_ARGS
from bench.synthetic_sweep import write_sweep

TITLE = "browser"
REPO = Path(__file__).resolve().parents[1]
SWEEP_ID = "bench-1m"
SWITCH_METRICS = ("total_return", "max_drawdown", "sortino", "calmar", "sharpe")
TARGET = "target < 3 s"
MB = 1_000_000


@contextmanager
def streamlit_server(root: Path, log: Path) -> Iterator[str]:
    """`streamlit run streamlit_app.py` on ``root`` (local backend); yields its base URL."""
    with serve.streamlit_server(serve.local_env(root, root / "no-config.toml"), log) as url:
        yield url


def _row(name: str, value: float, unit: str, note: str) -> dict[str, Any]:
    shown = f"{value:.2f}" if unit == "s" else f"{value:.3f}" if unit == "MB" else f"{value:,.0f}"
    return {"benchmark": name, "value": shown, "unit": unit, "note": note}


def _figure_rows(page: Any, step: str) -> list[dict[str, Any]]:
    rows = []
    for fig in probe.figure_stats(page):
        if fig["trace"] == "echarts" and fig["rows"]:  # parallel coordinates: a sample
            note = "rows drawn; Arrow in the websocket frames (see the step's bytes)"
            rows.append(_row(f"{step}: {fig['type']} (ECharts) rows", fig["rows"], "", note))
            continue
        if fig["trace"] == "echarts":  # Arrow in the websocket frames: see the step's bytes
            size = f"{fig['width']} x {fig['height']} grid, {fig['cells']:,} cells"
            rows.append(_row(f"{step}: {fig['type']} (ECharts) cells", fig["cells"], "", size))
            continue
        size = f"{fig['width']} x {fig['height']} cells" if fig["cells"] else f"{fig['rows']} rows"
        note = f"{size}; target < 2 MB"
        rows.append(_row(f"{step}: {fig['type']} figure JSON", fig["json_bytes"] / MB, "MB", note))
    return rows


class Session:
    """One browser tab on the page, with a websocket byte counter."""

    def __init__(self, browser: Any, url: str) -> None:
        self.url = url
        self.page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        self.page.set_default_timeout(probe.RENDER_MS)
        self.frames = probe.FrameCounter(self.page)

    def timed(self, name: str, action: Any, kind: str, title: str) -> dict[str, Any]:
        """Run ``action``, wait for the ``kind`` figure titled ``title``; a row in seconds."""
        self.frames.reset()
        started = time.perf_counter()
        action()
        probe.wait_for_figure(self.page, kind, title)
        took = time.perf_counter() - started
        note = f"{self.frames.bytes / MB:.2f} MB over the websocket; {TARGET}"
        return _row(name, took, "s", note)

    def home(self) -> list[dict[str, Any]]:
        """The Start page's load: Streamlit's own floor on this machine, for reference."""
        started = time.perf_counter()
        self.page.goto(self.url)
        self.page.get_by_role("heading", name="batch-backtest").first.wait_for()
        while not probe.settled(self.page):
            self.page.wait_for_timeout(50)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        self.page.reload()
        self.page.get_by_role("heading", name="batch-backtest").first.wait_for()
        while not probe.settled(self.page):
            self.page.wait_for_timeout(50)
        warm = time.perf_counter() - started
        note = "Streamlit's own floor on this machine (no chart)"
        return [
            _row("reference: Start page, fresh browser and server", cold, "s", note),
            _row("reference: Start page reload", warm, "s", note),
        ]


def measure(url: str, browser: Any, quick: bool) -> list[dict[str, Any]]:
    """Drive one tab through the page; rows of seconds and payload sizes."""
    tab = Session(browser, url)
    page = tab.page
    rows = tab.home()  # the router runs once first (deep links need it on a fresh server)
    sweep_url = f"{url}/sweep?sweep={SWEEP_ID}&metric=sharpe"
    rows.append(tab.timed("first chart (cold server, 1,000,000 combinations)",
                          lambda: page.goto(sweep_url), "heatmap", "sharpe by"))  # fmt: skip
    rows.append(_row("first render: websocket bytes", tab.frames.bytes / MB, "MB", "whole page"))
    rows += _figure_rows(page, "first render")
    metrics = SWITCH_METRICS[:2] if quick else SWITCH_METRICS
    for rnd in ("cold", "warm")[: 1 if quick else 2]:
        for metric in metrics:
            rows.append(tab.timed(f"metric switch to {metric} ({rnd} cache)",
                                  lambda m=metric: probe.pick(page, "Metric", m),
                                  "heatmap", f"{metric} by"))  # fmt: skip
    rows += _figure_rows(page, "after switches")

    def table_and_back() -> None:
        probe.open_tab(page, "Top combinations")
        page.get_by_text("Rows 1–50 of").first.wait_for()
        probe.open_tab(page, "Heatmap")

    rows.append(tab.timed("open tab Top combinations (cold ranking), back to Heatmap",
                          table_and_back, "heatmap", "by"))  # fmt: skip
    rows.append(tab.timed("open tab Parallel coordinates",
                          lambda: probe.open_tab(page, "Parallel coordinates"),
                          "parallel", "across"))  # fmt: skip
    rows += _figure_rows(page, "parallel coordinates")
    rows.append(tab.timed("metric switch on parallel coordinates",
                          lambda: probe.pick(page, "Metric", "total_return"),
                          "parallel", "total_return across"))  # fmt: skip
    probe.open_tab(page, "Heatmap")
    probe.wait_for_figure(page, "heatmap", "by")
    rows.append(tab.timed("reload (warm server)", page.reload, "heatmap", "by"))
    other = Session(browser, url)
    rows.append(other.timed("new tab on the shared URL (warm server)",
                            lambda: other.page.goto(page.url), "heatmap", "by"))  # fmt: skip
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows {"benchmark", "value", "unit", "note"}; skipped with a note without Chromium."""
    if not CHROMIUM.exists():
        note = f"skipped: {CHROMIUM} not found (apt-get install -y chromium)"
        return [{"benchmark": "sweep page in Chromium", "value": "-", "unit": "", "note": note}]
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        root = Path(tmp) / "store"
        started = time.perf_counter()
        write_sweep(root, SWEEP_ID, 1000, 1000)
        setup = time.perf_counter() - started
        rows = [_row("synthesise the 1,000,000-row sweep", setup, "s", "not a page figure")]
        with streamlit_server(root, Path(tmp) / "streamlit.log") as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            load = os.getloadavg()[0]
            try:
                rows += measure(url, browser, quick)
            finally:
                browser.close()
    load = max(load, os.getloadavg()[0])
    for row in rows:
        row["note"] += f" (load average up to {load:.1f} on {os.cpu_count()} cores)"
    return rows


if __name__ == "__main__":
    for item in run(quick="--quick" in sys.argv):
        print(item)
