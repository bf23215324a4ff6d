"""The Strategies page's code editor buffer (app.strategy_service.EditorState) and the page
around it (AppTest): the text Validate and Save use is the text the editor last reported, text
loaded from elsewhere opens a new editor instance, and a stale event never overwrites it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from app import strategy_service
from app.strategy_service import EditorState
from tests._app_helpers import (
    INPUT,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    texts,
)
from tests._strategy_files import close_above_sma

PAGE = "views/strategies.py"
NAME = "editor_close_above_sma"
GOOD = close_above_sma(NAME)


def event(ident: str, text: str) -> dict[str, str]:
    return {"id": ident, "type": "change", "lang": "python", "text": text}


def test_a_new_event_sets_the_text_and_nothing_else_does() -> None:
    empty = EditorState()
    assert empty.apply(None) == empty
    assert empty.apply({"id": "", "text": "x"}) == empty  # the value before any edit
    typed = empty.apply(event("a1", "print(1)\n"))
    assert (typed.text, typed.seen, typed.key) == ("print(1)\n", "a1", "sg_editor_0")
    assert typed.apply(event("a1", "older")) == typed  # the same event seen again
    assert typed.apply({"id": "a2", "text": None}) == typed
    assert typed.apply(event("a2", "")).text == ""  # clearing the editor is a change too


def test_loading_text_opens_a_new_editor_instance_with_it() -> None:
    typed = EditorState().apply(event("a1", "mine"))
    loaded = typed.load(GOOD, f"{NAME}.py")
    assert (loaded.text, loaded.filename) == (GOOD, f"{NAME}.py")
    assert loaded.key == "sg_editor_1" != typed.key and loaded.seen == ""
    sha = hashlib.sha256(GOOD.encode()).hexdigest()[:12]
    assert loaded.describe() == f"{NAME}.py · sha256 {sha} · {len(GOOD.encode()):,} bytes"
    assert EditorState().apply(event("b", "é")).describe().endswith("· 2 bytes")


def test_edit_a_copy_loads_the_stored_source_and_save_uses_the_edited_text(
    app_root: Path,
) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    at = app_test(PAGE, strategy=NAME)
    at.button(key="sg_edit").click().run()
    state = at.session_state["sg_editor"]
    assert (state.text, state.filename) == (GOOD, f"{NAME}.py")
    sha = hashlib.sha256(GOOD.encode()).hexdigest()
    assert f"{NAME}.py · sha256 {sha[:12]}" in texts(at, ("caption",))
    # the editor reports an edit; Save stores exactly that text, after asking to replace
    edited = GOOD.replace("Long while", "Long only while")
    at.session_state[state.key] = event("e1", edited)
    at.run()
    at.button(key="sg_save").click().run()
    assert f"strategies/{NAME}.py exists" in texts(at, ("warning",))
    at.button(key="sg_replace_yes").click().run()
    assert not at.exception
    stored = app_root / INPUT / "strategies" / f"{NAME}.py"
    assert stored.read_text() == edited
