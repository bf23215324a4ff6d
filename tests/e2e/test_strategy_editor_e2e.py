"""The Strategies page's code editor in real Chromium against `streamlit run`: paste a strategy
into the editor (the streamlit-code-editor component, an Ace editor in an iframe), see it
highlighted and counted, validate and save exactly that text; edit it and replace the stored
file after the page asks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests._strategy_files import close_above_sma
from tests.e2e.test_dashboard_e2e import STEP_MS, heading, shot
from tests.e2e.test_form_e2e import idle

pytestmark = pytest.mark.e2e

NAME = "e2e_editor_sma"
SOURCE = close_above_sma(NAME)
EDITED = close_above_sma(NAME, "Edited in the browser.")


def sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def editor(page: Any) -> Any:
    """The Ace editor inside the component's iframe."""
    return page.frame_locator('iframe[title*="code_editor"]').locator(".ace_editor")


def paste_into_editor(page: Any, text: str) -> None:
    """Replace the editor's text as a user pasting does: click in, select all, insert."""
    ace = editor(page)
    ace.wait_for(state="visible", timeout=STEP_MS)
    ace.locator(".ace_content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)
    page.get_by_role("heading", name="Add or replace a strategy").click()  # leave the editor
    idle(page)


def test_paste_into_the_editor_validate_save_then_edit_and_replace(
    dashboard: str, e2e_page: Any, storage_root: Path
) -> None:
    page = e2e_page
    page.goto(f"{dashboard}/strategies")
    heading(page, "Strategies")
    idle(page)
    main = page.get_by_test_id("stMain")

    paste_into_editor(page, SOURCE)
    size = f"{len(SOURCE.encode()):,} bytes"
    expect(main.get_by_text(f"strategy.py · sha256 {sha12(SOURCE)} · {size}")).to_be_visible(
        timeout=STEP_MS
    )  # the page holds exactly the pasted text
    expect(editor(page).locator(".ace_keyword").first).to_be_visible()  # highlighted Python
    main.get_by_role("button", name="Validate").click()
    expect(main.get_by_text(f"Valid: {NAME}")).to_be_visible(timeout=STEP_MS)
    main.get_by_role("button", name="Save").click()
    expect(main.get_by_text(f"Saved strategies/{NAME}.py")).to_be_visible(timeout=STEP_MS)
    stored = storage_root / "backtest-input" / "strategies" / f"{NAME}.py"
    assert stored.read_bytes() == SOURCE.encode()

    paste_into_editor(page, EDITED)
    expect(main.get_by_text(f"strategy.py · sha256 {sha12(EDITED)}")).to_be_visible(timeout=STEP_MS)
    main.get_by_role("button", name="Save").click()
    expect(main.get_by_text(f"strategies/{NAME}.py exists")).to_be_visible(timeout=STEP_MS)
    assert stored.read_bytes() == SOURCE.encode()  # nothing replaced before the answer
    main.get_by_role("button", name="Replace").click()
    expect(main.get_by_text(f"Saved strategies/{NAME}.py")).to_be_visible(timeout=STEP_MS)
    assert stored.read_bytes() == EDITED.encode()
    shot(page, "45-strategy-editor-replaced")
