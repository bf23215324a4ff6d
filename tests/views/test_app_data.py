"""Data page: filter, preview verdicts, upload with validation, delete with confirmation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.data import load_prices
from engine.errors import DataError
from engine.store.objects import LocalStore
from tests._app_helpers import (
    INPUT,
    TREND,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    bad_csv_bytes,
    csv_bytes,
    texts,
)

PAGE = "views/data.py"


def _open_samples(at):
    at.text_input(key="data_prefix").set_value("samples/").run()
    return at


def _click_row(at, name: str):
    """Select the table row called ``name`` the way a click does (the selection state)."""
    table = at.dataframe[0]
    row = list(table.value["name"]).index(name)
    at.session_state[table.key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def test_root_shows_folders_as_rows_and_a_click_opens_one(app_root: Path) -> None:
    at = app_test(PAGE)
    assert at.selectbox(key="data_bucket").value == INPUT
    table = at.dataframe[0].value
    assert list(table["name"]) == ["samples/"] and list(table["kind"]) == ["folder"]
    assert "1 folder(s) · 0 of 0 object(s)" in texts(at, ("caption",))
    assert "No objects here." not in texts(at)
    _click_row(at, "samples/")
    assert not at.exception
    assert at.text_input(key="data_prefix").value == "samples/"
    names = list(at.dataframe[0].value["name"])
    assert sorted(names) == [
        "choppy_range_daily.csv",
        "crash_and_recovery_daily.csv",
        "trend_up_daily.csv",
    ]
    at.button(key="data_up").click().run()
    assert at.text_input(key="data_prefix").value == ""


def test_filter_narrows_the_table(app_root: Path) -> None:
    at = _open_samples(app_test(PAGE))
    at.text_input(key="data_filter").set_value("TREND").run()
    assert list(at.dataframe[0].value["name"]) == ["trend_up_daily.csv"]
    at.text_input(key="data_filter").set_value("nothing-like-this").run()
    assert at.dataframe[0].value.empty
    assert "No object matches the filter." in texts(at)


def test_clicking_a_file_row_previews_it(app_root: Path) -> None:
    at = _click_row(_open_samples(app_test(PAGE)), "trend_up_daily.csv")
    assert not at.exception
    assert at.selectbox(key="data_file").value == TREND
    assert at.subheader[0].value == TREND
    assert "Valid: the engine accepts this file." in texts(at)
    at.selectbox(key="data_file").set_value("samples/choppy_range_daily.csv").run()
    assert at.subheader[0].value == "samples/choppy_range_daily.csv"  # the picker still rules


def test_bucket_list_hides_underscore_folders(app_root: Path) -> None:
    (app_root / "_jobs").mkdir(exist_ok=True)
    (app_root / "other-bucket").mkdir()
    at = app_test(PAGE)
    options = at.selectbox(key="data_bucket").options
    assert options[:2] == [INPUT, "backtest-results"]
    assert "other-bucket" in options and "_jobs" not in options


def test_preview_of_a_valid_file_shows_bars_dates_and_chart(app_root: Path) -> None:
    at = _open_samples(app_test(PAGE))
    at.selectbox(key="data_file").set_value(TREND).run()
    assert not at.exception
    assert "Valid: the engine accepts this file." in texts(at)
    prices = load_prices(app_root / INPUT / TREND)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Bars"] == f"{len(prices):,}"
    assert cards["First"] == prices.index[0].strftime("%Y-%m-%d")  # daily: no 00:00:00
    assert cards["Last"] == prices.index[-1].strftime("%Y-%m-%d")
    assert len(at.get("plotly_chart")) == 1
    head = at.dataframe[1]
    assert len(head.value) == 20  # first rows
    config = json.loads(head.proto.columns)
    assert config["timestamp"]["type_config"]["format"] == "YYYY-MM-DD"


def test_preview_of_a_bad_file_shows_the_engines_message(app_root: Path) -> None:
    (app_root / INPUT / "samples" / "broken.csv").write_bytes(bad_csv_bytes())
    with pytest.raises(DataError) as engine_says:
        load_prices(bad_csv_bytes(), name="samples/broken.csv")
    at = _open_samples(app_test(PAGE))
    at.selectbox(key="data_file").set_value("samples/broken.csv").run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"Invalid: {engine_says.value}"]
    assert not at.get("plotly_chart")


def test_upload_of_a_valid_file_lands_in_the_input_bucket(app_root: Path) -> None:
    data = csv_bytes()
    at = app_test(PAGE)
    at.file_uploader(key="data_upload_file").set_value(("mine.csv", data, "text/csv"))
    at.text_input(key="data_upload_prefix").set_value("uploads").run()
    at.button(key="data_upload_go").click().run()
    assert not at.exception
    assert LocalStore(app_root).get_bytes(INPUT, "uploads/mine.csv") == data
    assert "Uploaded s3://backtest-input/uploads/mine.csv" in texts(at)
    assert "uploads/" in list(at.dataframe[0].value["name"])  # listing refreshed


def _run_on(root: Path, run_id: str, key: str) -> None:
    from engine.backtest import execute
    from engine.spec import RunSpec

    execute(RunSpec(INPUT, key, "backtest-results", run_id=run_id), LocalStore(root), {})


def _upload(at, name: str, data: bytes, folder: str = ""):
    at.file_uploader(key="data_upload_file").set_value((name, data, "text/csv"))
    at.text_input(key="data_upload_prefix").set_value(folder).run()
    return at.button(key="data_upload_go").click().run()


def test_upload_over_an_existing_key_asks_first_and_names_the_runs_that_used_it(
    app_root: Path,
) -> None:
    store = LocalStore(app_root)
    old = store.get_bytes(INPUT, TREND)
    _run_on(app_root, "used-trend-1", TREND)
    _run_on(app_root, "used-trend-2", TREND)
    _run_on(app_root, "other-file", "samples/choppy_range_daily.csv")
    new = csv_bytes(400)
    at = _upload(app_test(PAGE), "trend_up_daily.csv", new, "samples")
    assert not at.exception
    assert store.get_bytes(INPUT, TREND) == old  # nothing written yet
    question = [w.value for w in at.warning]
    assert len(question) == 1
    assert question[0].startswith(
        f"s3://{INPUT}/{TREND} already exists ({len(old):,} bytes, modified "
    )
    assert "2 run(s): used-trend-2, used-trend-1" in question[0] and "other-file" not in question[0]
    at.button(key="data_replace_no").click().run()
    assert store.get_bytes(INPUT, TREND) == old
    assert "Nothing was written; the old file stays." in texts(at)
    assert not at.warning

    at.button(key="data_upload_go").click().run()
    at.button(key="data_replace_yes").click().run()
    assert not at.exception
    assert store.get_bytes(INPUT, TREND) == new
    assert f"Replaced s3://{INPUT}/{TREND}" in texts(at)


def test_uploading_the_same_bytes_again_writes_nothing(app_root: Path) -> None:
    store = LocalStore(app_root)
    path = app_root / INPUT / TREND
    before = path.stat().st_mtime_ns
    at = _upload(app_test(PAGE), "trend_up_daily.csv", store.get_bytes(INPUT, TREND), "samples")
    assert f"s3://{INPUT}/{TREND} already holds exactly these bytes" in texts(at)
    assert not at.warning and path.stat().st_mtime_ns == before


def test_a_refused_file_with_many_bad_rows_says_how_many(app_root: Path) -> None:
    lines = ["date,open,high,low,close,volume"]
    for i in range(1, 61):
        high = "8" if i % 2 == 0 else "11"  # 30 rows with high < low
        lines.append(f"2024-03-{1 + (i - 1) % 28:02d},10,{high},9,10,1".replace(
            "2024-03-", f"2024-{1 + (i - 1) // 28:02d}-"
        ))  # fmt: skip
    data = ("\n".join(lines) + "\n").encode()
    at = _upload(app_test(PAGE), "many.csv", data)
    errors = [e.value for e in at.error]
    assert errors == [
        "Not uploaded: many.csv: 30 rows have high < low (first: row 2 (2024-01-02): "
        "high=8.0, low=9.0); fix all 30 rows and load the file again"
    ]
    assert not (app_root / INPUT / "many.csv").exists()


def test_upload_of_an_invalid_file_is_refused_and_nothing_written(app_root: Path) -> None:
    with pytest.raises(DataError) as engine_says:
        load_prices(bad_csv_bytes(), name="broken.csv")
    at = app_test(PAGE)
    at.file_uploader(key="data_upload_file").set_value(
        ("broken.csv", bad_csv_bytes(), "text/csv")
    ).run()
    at.button(key="data_upload_go").click().run()
    assert [e.value for e in at.error] == [f"Not uploaded: {engine_says.value}"]
    assert not (app_root / INPUT / "broken.csv").exists()
    assert not LocalStore(app_root).exists(INPUT, "broken.csv")


def test_upload_over_the_size_cap_is_refused(app_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("BACKTEST_UPLOAD_MAX_MB", "1")
    data = csv_bytes(25_000)
    assert len(data) > 1_000_000
    at = app_test(PAGE)
    at.file_uploader(key="data_upload_file").set_value(("big.csv", data, "text/csv")).run()
    at.button(key="data_upload_go").click().run()
    assert "the upload limit is 1 MB" in texts(at)
    assert not (app_root / INPUT / "big.csv").exists()


def test_delete_needs_confirmation(app_root: Path) -> None:
    path = app_root / INPUT / TREND
    at = _open_samples(app_test(PAGE))
    at.selectbox(key="data_file").set_value(TREND).run()
    at.button(key="data_delete").click().run()
    assert path.exists()
    assert "This cannot be undone." in texts(at)
    at.button(key="data_delete_no").click().run()
    assert path.exists()
    at.button(key="data_delete").click().run()
    at.button(key="data_delete_yes").click().run()
    assert not at.exception
    assert not path.exists()
    assert f"Deleted s3://{INPUT}/{TREND}" in texts(at)
    assert "trend_up_daily.csv" not in list(at.dataframe[0].value["name"])


def test_long_listings_are_paged(app_root: Path) -> None:
    folder = app_root / INPUT / "many"
    folder.mkdir()
    for i in range(450):
        (folder / f"f{i:03d}.csv").write_bytes(b"x")
    at = app_test(PAGE)
    at.text_input(key="data_prefix").set_value("many/").run()
    assert len(at.dataframe[0].value) == 200
    assert at.dataframe[0].value["name"].iloc[0] == "f000.csv"
    at.pagination(key="data_page").set_value(3).run()
    assert list(at.dataframe[0].value["name"]) == [f"f{i:03d}.csv" for i in range(400, 450)]
    assert "450 of 450 object(s) · page 3 of 3" in texts(at, ("caption",))


def test_replace_is_refused_when_the_file_changed_after_the_question(app_root: Path) -> None:
    store = LocalStore(app_root)
    at = _upload(app_test(PAGE), "trend_up_daily.csv", csv_bytes(400), "samples")
    assert at.warning  # the question
    store.put_bytes(INPUT, TREND, csv_bytes(300, seed_value=9))  # someone else, meanwhile
    at.button(key="data_replace_yes").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"Not uploaded: s3://{INPUT}/{TREND} changed since you were asked; "
        "upload again to see what it holds now"
    ]
    assert store.get_bytes(INPUT, TREND) == csv_bytes(300, seed_value=9)
