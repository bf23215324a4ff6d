"""Drive and measure the Sweep results page in a real browser (Playwright's sync API).

Shared by the browser benchmark (bench/browser_bench.py: times and payloads) and the
sweep-scale e2e test (tests/e2e/test_sweep_scale_e2e.py: sizes only, never times). Every
function takes a Playwright ``Page`` and waits for what it needs.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

RENDER_MS = 120_000  # generous upper bound for one render on a loaded 2-core machine

# Per plotly figure on the page: its kind (layout.meta.kind, else the first trace's type:
# 'heatmap'; both parallel-coordinates figures say 'parallel'), the JSON size of data + layout (as
# sent: binary arrays stay base64), heatmap cells and parallel-coordinates rows as plotly
# decoded them (_fullData: parcoords rows, or the SVG lines' polylines), and the title text.
FIGURE_STATS_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
  // figure JSON as sent: plotly keeps the decoded copy of a binary array in _inputArray
  const plain = (k, v) => (k === '_inputArray' ? undefined
                           : ArrayBuffer.isView(v) ? Array.from(v) : v);
  const data = gd.data || [];
  const layout = gd.layout || {};
  const first = data[0] || {};
  const full = (gd._fullData || [])[0] || {};
  let cells = 0, rows = 0, width = 0, height = 0;
  if (first.type === 'heatmap' && full.z) {
    height = full.z.length;
    width = height ? full.z[0].length : 0;
    cells = width * height;
  }
  const meta = layout.meta || {};
  if (first.type === 'parcoords' && full.dimensions && full.dimensions.length) {
    rows = full.dimensions[0].values.length;
  } else if (meta.kind === 'parallel') {  // SVG lines: one NaN ends each row's polyline
    for (const t of gd._fullData || []) {
      if (t.mode === 'lines' && t.x) rows += Array.from(t.x).filter(v => Number.isNaN(v)).length;
    }
  }
  const title = layout.title ? (layout.title.text || '') : '';
  return {
    type: meta.kind || first.type || '', trace: first.type || '',
    json_bytes: JSON.stringify({data: data, layout: layout}, plain).length,
    cells: cells, width: width, height: height, rows: rows, title: title,
  };
})
"""


# Cheap enough to poll: each figure's first trace type and title, and whether a script runs.
STATE_JS = """
() => {
  const s = document.querySelector('[data-testid="stStatusWidget"]');
  const figures = Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
    const first = (gd.data || [])[0] || {};
    const layout = gd.layout || {};
    const title = layout.title ? (layout.title.text || '') : '';
    return [(layout.meta || {}).kind || '', first.type || '', title];
  });
  for (const el of document.querySelectorAll('[data-testid="stEChartsChart"]')) {
    const label = el.getAttribute('aria-label') || '';
    const kind = label.split(':')[0].toLowerCase();
    if (el.querySelector('canvas')) figures.push([kind, 'echarts', label]);
  }
  return {running: !!s && (s.textContent || '').includes('Running'), figures: figures};
}
"""


# Per ECharts chart (the sweep heatmap, line and parallel coordinates): its accessible name,
# which the page writes as "Heatmap: <title> (<what cells aggregate>); <w> x <h> grid, <n> cells;
# best ..." (app.sweep_charts.describe) or "Parallel: <title>; <n> rows; <sample note>". Its
# data travel as Arrow inside the websocket frames (counted by FrameCounter), not as JSON in the
# page.
ECHARTS_JS = """
() => Array.from(document.querySelectorAll('[data-testid="stEChartsChart"]')).map(el => {
  const label = el.getAttribute('aria-label') || '';
  const grid = label.match(/(\\d+) x (\\d+) grid/);
  const cells = label.match(/grid, ([\\d,]+) cells/);
  const rows = label.match(/; ([\\d,]+) rows/);
  return {
    type: label.split(':')[0].toLowerCase(), trace: 'echarts', json_bytes: 0,
    cells: cells ? Number(cells[1].replace(/,/g, '')) : 0,
    width: grid ? Number(grid[1]) : 0, height: grid ? Number(grid[2]) : 0,
    rows: rows ? Number(rows[1].replace(/,/g, '')) : 0, title: label,
    drawn: !!el.querySelector('canvas'),
  };
})
"""


def figure_stats(page: Any) -> list[dict[str, Any]]:
    """One dict per plotly figure (see FIGURE_STATS_JS) and per ECharts chart (ECHARTS_JS:
    ``trace`` 'echarts', ``json_bytes`` 0: its payload is in the websocket bytes)."""
    return list(page.evaluate(FIGURE_STATS_JS)) + list(page.evaluate(ECHARTS_JS))


def figure_of(page: Any, kind: str) -> dict[str, Any] | None:
    """The first figure of ``kind`` ('heatmap', 'line', 'parallel'), or None."""
    return next((f for f in figure_stats(page) if f["type"] == kind), None)


def settled(page: Any) -> bool:
    """True when the app is not running a script (no 'Running...' status)."""
    text = page.evaluate(
        "() => { const s = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return s ? s.textContent : ''; }"
    )
    return "Running" not in str(text or "")


def wait_for_figure(page: Any, kind: str, title_part: str, timeout_ms: int = RENDER_MS) -> float:
    """Wait until a ``kind`` figure (its meta kind or first trace type) whose title contains
    ``title_part`` is drawn and the script run has finished; returns the seconds waited.
    TimeoutError when it never comes."""
    started = time.perf_counter()
    deadline = started + timeout_ms / 1000
    while time.perf_counter() < deadline:
        state = page.evaluate(STATE_JS)
        drawn = any(
            kind in (k, trace) and title_part in title for k, trace, title in state["figures"]
        )
        if drawn and not state["running"]:
            return time.perf_counter() - started
        page.wait_for_timeout(50)
    raise TimeoutError(f"no {kind} titled {title_part!r} within {timeout_ms / 1000:.0f}s")


def pick(page: Any, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    choice = page.get_by_role("option", name=option, exact=True).first
    for _ in range(5):  # a click during a rerun or a scroll can leave the list closed
        box.click()
        try:
            choice.wait_for(timeout=5_000)
        except PlaywrightTimeoutError:  # the list did not open: open it again
            page.keyboard.press("Escape")
            continue
        choice.click()
        return
    raise TimeoutError(f"option {option!r} of {label!r} never appeared")


def open_tab(page: Any, name: str) -> None:
    """Click the tab called ``name``."""
    page.get_by_role("tab", name=name, exact=True).first.click()


class FrameCounter:
    """Bytes the page received over Streamlit's websocket since the last :meth:`reset`."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        page.on("websocket", self._attach)

    def _attach(self, ws: Any) -> None:
        ws.on("framereceived", self._count)

    def _count(self, payload: Any) -> None:
        self.bytes += len(payload)

    def reset(self) -> None:
        self.bytes = 0
