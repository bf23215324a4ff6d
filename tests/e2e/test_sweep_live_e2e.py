"""An unfinished sweep's page in real Chromium against `streamlit run` follows the sweep without a
reload: a chunk that lands moves its progress, and the collect's _SUCCESS turns it into the
finished page (what the page shows is the state now)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests._results_helpers import RESULTS, Lab

pytestmark = pytest.mark.e2e

SWEEP = "e2e-live"


def test_an_unfinished_sweep_page_follows_its_chunks_and_the_collect(
    dashboard: str, e2e_page: Any, storage_root: Path
) -> None:
    lab = Lab(storage_root)
    key = lab.add_file("samples/e2e-live.csv")
    summary = lab.sweep(SWEEP, key, n_children=4, done=(0, 1))
    page = e2e_page
    page.goto(dashboard)
    page.get_by_role("heading", name="batch-backtest").first.wait_for()
    page.goto(f"{dashboard}/sweep?sweep={SWEEP}")
    page.get_by_text("2 of 4 chunks done").wait_for()
    page.get_by_text("Live: checked").wait_for()

    size = -(-len(summary) // 4)
    prefix = f"sweeps/{SWEEP}/"
    lab.put_frame(f"{prefix}chunks/2.parquet", summary.iloc[2 * size : 3 * size])
    page.get_by_text("3 of 4 chunks done").wait_for(timeout=30_000)  # no reload

    lab.put_frame(f"{prefix}chunks/3.parquet", summary.iloc[3 * size :])
    lab.put_frame(prefix + "summary.parquet", summary)
    lab.put_json(prefix + "robustness.json", {})
    lab.store.put_bytes(RESULTS, prefix + "_SUCCESS", b"")
    page.get_by_text(f"{len(summary):,} combinations").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    assert page.get_by_text("is not finished yet").count() == 0
    assert page.get_by_text("Live: checked").count() == 0
