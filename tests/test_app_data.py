"""Data page: filter, preview verdicts, upload with validation, delete with confirmation."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data import load_prices
from engine.errors import DataError
from engine.store import LocalStore
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


def test_folders_are_navigable_and_filter_narrows_the_table(app_root: Path) -> None:
    at = app_test(PAGE)
    assert at.selectbox(key="data_bucket").value == INPUT
    assert at.selectbox(key="data_open").options == ["samples/"]
    at.selectbox(key="data_open").set_value("samples/").run()
    assert at.text_input(key="data_prefix").value == "samples/"
    names = list(at.dataframe[0].value["name"])
    assert sorted(names) == [
        "choppy_range_daily.csv",
        "crash_and_recovery_daily.csv",
        "trend_up_daily.csv",
    ]
    at.text_input(key="data_filter").set_value("TREND").run()
    assert list(at.dataframe[0].value["name"]) == ["trend_up_daily.csv"]
    at.text_input(key="data_filter").set_value("nothing-like-this").run()
    assert at.dataframe[0].value.empty
    assert "No object matches the filter." in texts(at)


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
    assert cards["First"] == str(prices.index[0])
    assert cards["Last"] == str(prices.index[-1])
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe[1].value) == 20  # first rows


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
    assert "uploads/" in at.selectbox(key="data_open").options  # listing refreshed


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
