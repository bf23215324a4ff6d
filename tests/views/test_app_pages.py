"""Every page under views/ renders without an exception and with a title, on an empty store
and on a populated one (seeded samples + one finished run made by the real engine CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._app_helpers import REPO, app_test, close_app_context, copy_tree, point_env, populate

PAGES = sorted(
    p.relative_to(REPO).as_posix()
    for p in (REPO / "views").glob("*.py")
    if not p.name.startswith("_")  # __init__.py is not a page
)


@pytest.fixture(scope="module")
def populated_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("populated") / "store"
    return root, populate(root)


@pytest.fixture(params=["empty", "populated"])
def store_root(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    if request.param == "empty":
        root = tmp_path / "empty"
    else:
        template, _ = request.getfixturevalue("populated_template")
        root = copy_tree(template, tmp_path / "populated")
    point_env(monkeypatch, root)
    yield root
    close_app_context()


def test_pages_are_all_covered() -> None:
    assert "views/home.py" in PAGES and "views/jobs.py" in PAGES and len(PAGES) >= 8
    assert "views/strategies.py" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page: str, store_root: Path) -> None:
    at = app_test(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page} shows no title"


def test_populated_store_shows_the_finished_run_job(
    populated_template: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template, run_id = populated_template
    point_env(monkeypatch, copy_tree(template, tmp_path / "populated"))
    try:
        at = app_test("views/jobs.py")
        table = at.dataframe[0].value
        assert list(table["status"]) == ["SUCCEEDED"] and list(table["kind"]) == ["run"]
        at.selectbox(key="jobs_selected").set_value(table["id"][0]).run()
        links = {link.value: link.proto.query_string for link in at.page_link}
        assert links["Run results"] == f"run={run_id}"
        assert at.query_params["job"] == table["id"][0]
    finally:
        close_app_context()
