"""views._guard.page_errors on a real Streamlit script run (AppTest.from_function)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page(kind: str) -> None:
    import streamlit as st

    from engine.errors import InfraError, NotFoundError
    from views._guard import page_errors

    with page_errors(stop=False, prefix="Not read: "):
        if kind == "user":
            raise NotFoundError("run r1   does not exist\n(check the id)")
    st.write("after the soft guard")
    with page_errors():
        if kind == "infra":
            raise InfraError("S3 unreachable")
        if kind == "bug":
            raise KeyError("a bug")
    st.write("after the hard guard")


def _run(kind: str) -> AppTest:
    return AppTest.from_function(_page, args=(kind,), default_timeout=60).run()


def test_a_user_error_is_one_line_and_the_page_carries_on_without_stop() -> None:
    at = _run("user")
    assert [e.value for e in at.error] == ["Not read: run r1 does not exist (check the id)"]
    assert [m.value for m in at.markdown] == ["after the soft guard", "after the hard guard"]
    assert not at.exception


def test_an_infrastructure_error_stops_the_page_after_its_line() -> None:
    at = _run("infra")
    assert [e.value for e in at.error] == ["S3 unreachable"]
    assert [m.value for m in at.markdown] == ["after the soft guard"]
    assert not at.exception


def test_a_bug_is_not_swallowed() -> None:
    at = _run("bug")
    assert not at.error
    assert at.exception and "a bug" in at.exception[0].value


def test_no_error_shows_nothing() -> None:
    at = _run("none")
    assert not at.error and not at.exception
    assert [m.value for m in at.markdown] == ["after the soft guard", "after the hard guard"]
