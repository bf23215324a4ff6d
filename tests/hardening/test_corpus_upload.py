"""The bad-input corpus through the upload path: the service for every file, the real Data page
(AppTest, its file uploader and button) for a few, and the 60 MB file over the upload cap.

A refused upload raises/shows one line with the expected phrase and writes nothing to the input
bucket; a repaired file is stored as uploaded (the engine repairs it again on every read).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import data_service as ds
from app.context import AppContext
from engine.errors import BacktestError, DataError
from engine.store.objects import LocalStore
from jobs.local import LocalExecutor
from jobs.settings import load_settings
from tests._app_helpers import (
    INPUT,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    texts,
)
from tests.hardening.corpus import build_corpus, oversized_csv

CORPUS = build_corpus()
PAGE = "views/data.py"
PAGE_CASES = ["binary_garbage", "utf16", "formula_in_date", "html_in_header", "very_long_line"]


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    root = tmp_path / "store"
    settings = load_settings(
        {"BACKTEST_STORAGE_ROOT": str(root), "BACKTEST_CONFIG": str(tmp_path / "none.toml")}
    )
    store = LocalStore(root)
    store.create_bucket(settings.input_bucket)
    executor = LocalExecutor(settings, worker="none")
    yield AppContext(settings, store, executor)
    executor.close()


def _objects(ctx: AppContext) -> list[str]:
    return [i.key for i in ctx.store.list(ctx.settings.input_bucket)]


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_through_the_upload_service(name: str, ctx: AppContext) -> None:
    case = CORPUS[name]
    filename = f"{name}{Path(case.filename).suffix}"
    if case.outcome == "error":
        with pytest.raises(DataError) as refused:
            ds.upload_file(ctx, filename, case.data, prefix="corpus")
        message = str(refused.value)
        assert "\n" not in message and len(message) < 400, message
        assert case.phrase.lower() in message.lower()
        assert _objects(ctx) == []
    else:
        key = ds.upload_file(ctx, filename, case.data, prefix="corpus")
        assert key == f"corpus/{filename}"
        assert _objects(ctx) == [key]
        assert ctx.store.get_bytes(ctx.settings.input_bucket, key) == case.data
        preview = ds.preview_file(ctx, ctx.settings.input_bucket, key)
        assert preview.verdict == ("warnings" if case.warns else "ok")
        assert preview.summary["bars"] == case.bars


def test_the_oversized_file_is_refused_before_parsing(ctx: AppContext) -> None:
    data = oversized_csv(60)
    assert len(data) > 55_000_000
    with pytest.raises(DataError, match=r"the upload limit is 50 MB"):
        ds.upload_file(ctx, "huge.csv", data)
    assert _objects(ctx) == []


@pytest.mark.parametrize(
    ("filename", "prefix", "stored"),
    [
        ("../../etc/passwd.csv", "", "passwd.csv"),
        ("..\\..\\windows\\evil.csv", "", "evil.csv"),
        ("/etc/cron.d/x.csv", "", "x.csv"),
        ("ok.csv", "%2e%2e/x", "%2e%2e/x/ok.csv"),  # kept literally, inside the bucket
    ],
)
def test_hostile_upload_names_stay_inside_the_bucket(
    ctx: AppContext, filename: str, prefix: str, stored: str
) -> None:
    data = CORPUS["bom"].data
    root = Path(ctx.settings.storage_root)
    before = _all_files(root.parent)
    key = ds.upload_file(ctx, filename, data, prefix=prefix)
    assert key == stored
    assert _all_files(root.parent) - before == {root / INPUT / stored}


@pytest.mark.parametrize(
    ("filename", "prefix"),
    [
        ("ok.csv", "../../outside"),
        ("ok.csv", "a/./../../b"),
        ("ok.csv", "a\\..\\b"),
        ("ok.csv", "nul\x00byte"),
        ("ok.csv", "x" * 1100),
        ("..", ""),
        (".hidden.csv", ""),
        ("bad\x00name.csv", ""),
        ("passwd", ""),
    ],
)
def test_hostile_upload_names_are_refused(ctx: AppContext, filename: str, prefix: str) -> None:
    root = Path(ctx.settings.storage_root)
    before = _all_files(root.parent)
    with pytest.raises(BacktestError) as refused:
        ds.upload_file(ctx, filename, CORPUS["bom"].data, prefix=prefix)
    assert "\n" not in str(refused.value)
    assert _all_files(root.parent) == before


def test_corpus_files_on_the_real_data_page(app_root: Path) -> None:
    """Upload through the page's own widgets: each refusal is one st.error, nothing written."""
    before = _all_files(app_root / INPUT)
    at = app_test(PAGE)
    for name in PAGE_CASES:
        case = CORPUS[name]
        at.file_uploader(key="data_upload_file").set_value((f"{name}.csv", case.data, "text/csv"))
        at.run()
        at.button(key="data_upload_go").click().run()
        assert not at.exception, name
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("Not uploaded: "), errors
        assert "\n" not in errors[0] and case.phrase.lower() in errors[0].lower()
        if name == "html_in_header":  # the literal text is kept: shown as text, not as HTML
            assert "'<script>alert(1)</script>'" in errors[0]
    assert _all_files(app_root / INPUT) == before


def test_a_repaired_and_an_oversized_file_on_the_real_data_page(app_root: Path) -> None:
    at = app_test(PAGE)
    at.file_uploader(key="data_upload_file").set_value(
        ("<img src=x onerror=alert(1)>.csv", CORPUS["bom"].data, "text/csv")
    )
    at.run()
    at.button(key="data_upload_go").click().run()
    assert not at.exception
    assert "Uploaded s3://backtest-input/<img src=x onerror=alert(1)>.csv" in texts(
        at, ("success",)
    )
    assert (
        LocalStore(app_root).get_bytes(INPUT, "<img src=x onerror=alert(1)>.csv")
        == CORPUS["bom"].data
    )

    before = _all_files(app_root / INPUT)
    at.file_uploader(key="data_upload_file").set_value(("huge.csv", oversized_csv(60), "text/csv"))
    at.run()
    at.button(key="data_upload_go").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "the upload limit is 50 MB" in errors[0]
    assert _all_files(app_root / INPUT) == before
