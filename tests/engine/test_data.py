"""engine.data: every validation rule, the seed files, the generic and A-share dialects."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data import (
    COLUMNS,
    DataWarning,
    check_enough_bars,
    describe_prices,
    load_prices,
)
from engine.errors import DataError, NotFoundError

HEADER = "date,open,high,low,close,volume"
GOOD_ROWS = [
    "2020-01-01,10,11,9,10.5,100",
    "2020-01-02,10.5,12,10,11,200",
    "2020-01-03,11,11.5,10.5,11.2,150",
]
NAME = "prices/abc.csv"


def make_csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def with_row(index: int, row: str) -> bytes:
    """The good file with data row ``index`` (1-based) replaced."""
    rows = list(GOOD_ROWS)
    rows[index - 1] = row
    return make_csv(*rows)


def load_error(data: bytes, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        load_prices(data, name=NAME, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert NAME in message
    return message


def assert_valid(df: pd.DataFrame) -> None:
    assert list(df.columns) == COLUMNS
    assert all(dtype == np.float64 for dtype in df.dtypes)
    assert isinstance(df.index, pd.DatetimeIndex)
    assert df.index.tz is None
    assert df.index.name == "timestamp"
    assert df.index.is_monotonic_increasing and df.index.is_unique


# ------------------------------------------------------------------ happy paths


def test_generic_csv_loads_exact_values() -> None:
    df = load_prices(make_csv(*GOOD_ROWS))
    assert_valid(df)
    assert df.index.tolist() == [pd.Timestamp(f"2020-01-0{i}") for i in (1, 2, 3)]
    assert list(df.loc[pd.Timestamp("2020-01-02")]) == [10.5, 12.0, 10.0, 11.0, 200.0]
    assert df.attrs["warnings"] == []


def test_case_insensitive_headers_with_whitespace_and_no_volume() -> None:
    data = make_csv(
        "2020-01-01,10,11,9,10.5",
        "2020-01-02,10.5,12,10,11",
        header=" Date ,OPEN, High ,low,Close ",
    )
    df = load_prices(data)
    assert_valid(df)
    assert df["volume"].tolist() == [0.0, 0.0]
    assert df["high"].tolist() == [11.0, 12.0]


@pytest.mark.parametrize("column", ["timestamp", "Datetime", "TIME"])
def test_other_time_column_names(column: str) -> None:
    df = load_prices(make_csv(*GOOD_ROWS, header=HEADER.replace("date", column)))
    assert len(df) == 3


def test_utf8_bom_is_tolerated() -> None:
    df = load_prices(b"\xef\xbb\xbf" + make_csv(*GOOD_ROWS))
    assert len(df) == 3 and df["open"].iloc[0] == 10.0


def test_unnamed_first_column_from_to_csv() -> None:
    frame = pd.DataFrame(
        {"open": [1.0, 2.0], "high": [2.0, 3.0], "low": [0.5, 1.5], "close": [1.5, 2.5]},
        index=pd.to_datetime(["2021-05-03", "2021-05-04"]),
    )
    df = load_prices(frame.to_csv().encode())
    assert df.index.tolist() == frame.index.tolist()
    assert df["close"].tolist() == [1.5, 2.5]


def test_semicolon_separator() -> None:
    data = make_csv(*[r.replace(",", ";") for r in GOOD_ROWS], header=HEADER.replace(",", ";"))
    assert load_prices(data)["close"].tolist() == [10.5, 11.0, 11.2]


def test_yyyymmdd_integer_dates_and_epoch_seconds() -> None:
    df = load_prices(make_csv(*[r.replace("2020-01-0", "2020010") for r in GOOD_ROWS]))
    assert df.index[0] == pd.Timestamp("2020-01-01")
    epoch = make_csv("1577836800,10,11,9,10,1", "1577923200,10,11,9,10,1")
    assert load_prices(epoch).index.tolist() == [
        pd.Timestamp("2020-01-01"),
        pd.Timestamp("2020-01-02"),
    ]


def test_date_and_time_columns_are_joined() -> None:
    data = make_csv(
        "2020-01-01,09:30,10,11,9,10", "2020-01-01,09:31,10,11,9,10", header="date,time,o,h,l,c"
    ).replace(b"o,h,l,c", b"open,high,low,close")
    assert load_prices(data).index.tolist() == [
        pd.Timestamp("2020-01-01 09:30"),
        pd.Timestamp("2020-01-01 09:31"),
    ]


def test_unsorted_rows_are_sorted_with_a_warning() -> None:
    data = make_csv(GOOD_ROWS[2], GOOD_ROWS[0], GOOD_ROWS[1])
    with pytest.warns(DataWarning, match="not sorted"):
        df = load_prices(data, name=NAME)
    assert df["close"].tolist() == [10.5, 11.0, 11.2]
    assert len(df.attrs["warnings"]) == 1 and "sorted" in df.attrs["warnings"][0]


def test_bytes_buffer_and_path_inputs(tmp_path: Path) -> None:
    data = make_csv(*GOOD_ROWS)
    path = tmp_path / "p.csv"
    path.write_bytes(data)
    frames = [
        load_prices(data),
        load_prices(bytearray(data)),
        load_prices(io.BytesIO(data)),
        load_prices(path),
        load_prices(str(path)),
    ]
    for df in frames[1:]:
        pd.testing.assert_frame_equal(df, frames[0])


def test_buffer_and_path_names_appear_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(make_csv())
    with pytest.raises(DataError, match=r"bad\.csv"):
        load_prices(path)
    buf = io.BytesIO(make_csv())
    with pytest.raises(DataError, match=r"s3key\.csv"):
        load_prices(buf, name="s3key.csv")


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"nope\.csv"):
        load_prices(tmp_path / "nope.csv")


def test_parquet_round_trip_with_datetime_index(tmp_path: Path) -> None:
    original = load_prices(make_csv(*GOOD_ROWS))
    buf = io.BytesIO()
    original.to_parquet(buf)
    again = load_prices(buf.getvalue())
    pd.testing.assert_frame_equal(again, original, check_freq=False)
    path = tmp_path / "p.parquet"
    original.reset_index().rename(columns={"timestamp": "Date"}).to_parquet(path)
    pd.testing.assert_frame_equal(load_prices(path), original, check_freq=False)


def test_parquet_tz_aware_index_becomes_naive_utc() -> None:
    frame = pd.DataFrame(
        {"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [0.0]},
        index=pd.DatetimeIndex([pd.Timestamp("2020-01-01 09:30", tz="America/New_York")]),
    )
    buf = io.BytesIO()
    frame.to_parquet(buf)
    df = load_prices(buf.getvalue())
    assert pd.DatetimeIndex(df.index).tz is None
    assert df.index[0] == pd.Timestamp("2020-01-01 14:30")


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (
            ["2020-01-01 10:00+02:00", "2020-01-02 10:00+02:00"],
            ["2020-01-01 08:00", "2020-01-02 08:00"],
        ),
        (["2020-01-01T10:00Z", "2020-01-02T10:00Z"], ["2020-01-01 10:00", "2020-01-02 10:00"]),
        (
            ["2020-03-07 10:00-05:00", "2020-03-09 10:00-04:00"],
            ["2020-03-07 15:00", "2020-03-09 14:00"],
        ),
    ],
)
def test_tz_aware_timestamps_are_converted_to_naive_utc(
    stamps: list[str], expected: list[str]
) -> None:
    df = load_prices(make_csv(*[f"{s},10,11,9,10,1" for s in stamps]))
    assert pd.DatetimeIndex(df.index).tz is None
    assert df.index.tolist() == [pd.Timestamp(e) for e in expected]


def test_describe_prices() -> None:
    info = describe_prices(load_prices(make_csv(*GOOD_ROWS)))
    assert info == {
        "bars": 3,
        "first": pd.Timestamp("2020-01-01"),
        "last": pd.Timestamp("2020-01-03"),
        "median_spacing": pd.Timedelta(days=1),
    }


def test_check_enough_bars_message() -> None:
    df = load_prices(make_csv(*GOOD_ROWS))
    check_enough_bars(df, 3, "x.csv", "strategy s")
    with pytest.raises(DataError) as info:
        check_enough_bars(df, 51, "x.csv", "strategy sma_cross(fast=10, slow=50)")
    assert str(info.value) == (
        "x.csv has 3 bars; strategy sma_cross(fast=10, slow=50) needs at least 51"
    )


# ------------------------------------------------------------------ A-share dialect

ASHARE_HEADER = (
    "ticker,secid,tradedate,openprice,highestprice,lowestprice,closeprice,"
    "turnovervol,turnovervalue,accumadjfactor,isopen"
)


def ashare(*rows: str) -> bytes:
    return make_csv(*rows, header=ASHARE_HEADER)


def test_ashare_dialect_filters_and_adjusts_by_last_factor_in_date_order() -> None:
    data = ashare(
        "1,1.SH,2020-01-03,20,22,19,21,300,0,4.0,true",
        "1,1.SH,2020-01-01,10,11,9,10,100,0,1.0,1",
        "1,1.SH,2020-01-02,10,10,10,10,0,0,2.0,false",
        "1,1.SH,2020-01-06,30,33,29,32,500,0,2.0,True",
    )
    with pytest.warns(DataWarning):
        df = load_prices(data)
    assert df.index.tolist() == [
        pd.Timestamp(d) for d in ("2020-01-01", "2020-01-03", "2020-01-06")
    ]
    # last kept row in date order is 2020-01-06 with factor 2.0 (the file's last row is not it)
    first = df.loc[pd.Timestamp("2020-01-01")]
    assert [first["open"], first["high"], first["low"], first["close"]] == [5.0, 5.5, 4.5, 5.0]
    assert list(df.loc[pd.Timestamp("2020-01-03"), ["open", "close"]]) == [40.0, 42.0]
    assert df.loc["2020-01-06", "close"] == 32.0
    assert df["volume"].tolist() == [100.0, 300.0, 500.0]
    assert df.attrs["dropped_rows"] == 1 and df.attrs["source_format"] == "a-share"


def test_all_six_seed_files_load(seed_dir: Path) -> None:
    files = sorted(seed_dir.glob("*.csv"))
    assert len(files) == 6
    for path in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = load_prices(path)
        assert_valid(df)
        assert (df[["open", "high", "low", "close"]] > 0).all().all()
        assert (df["high"] >= df["low"]).all()
        with path.open(newline="") as fh:
            records = list(csv.DictReader(fh))
        trading = {r["tradedate"] for r in records if r["isopen"] == "true"}
        suspended = {r["tradedate"] for r in records if r["isopen"] == "false"}
        kept = set(pd.DatetimeIndex(df.index).strftime("%Y-%m-%d"))
        assert kept == trading
        assert not kept & suspended
        dates = [r["tradedate"] for r in records]
        is_sorted = dates == sorted(dates)
        assert any(issubclass(w.category, DataWarning) for w in caught) == (not is_sorted)
        assert df.attrs["dropped_rows"] == len(suspended)


def test_seed_adjustment_by_hand(seed_dir: Path) -> None:
    # 600419.SH.csv, rows copied from the file:
    #   "2019-03-25","17.53","17.95","17.4","17.42","4367948.0",...,"2.752236","true"
    #   "2021-07-05" is the latest trading day, accumadjfactor "3.239636"
    #   (the file's *last* row is 2019-01-08 with factor 2.752236: date order matters)
    with pytest.warns(DataWarning, match="sorted"):
        df = load_prices(seed_dir / "600419.SH.csv")
    row = df.loc["2019-03-25"]
    scale = 2.752236 / 3.239636
    assert row["open"] == pytest.approx(17.53 * scale, rel=1e-12)
    assert row["high"] == pytest.approx(17.95 * scale, rel=1e-12)
    assert row["low"] == pytest.approx(17.4 * scale, rel=1e-12)
    assert row["close"] == pytest.approx(17.42 * scale, rel=1e-12)
    assert row["volume"] == 4367948.0
    assert df.loc["2021-07-05", "close"] == pytest.approx(12.76, rel=1e-12)
    assert df.index[-1] == pd.Timestamp("2021-07-05")
    assert pd.Timestamp("2020-01-10") not in df.index  # isopen=false in the file


def test_seed_clean_file_loads_via_bytes_with_name(seed_dir: Path) -> None:
    data = (seed_dir / "600519.csv").read_bytes()
    df = load_prices(data, name="600519.csv")
    assert len(df) == 608
    assert df.index[0] == pd.Timestamp("2019-01-02")
    assert df.attrs["warnings"] == []
    # first row "2019-01-02","609.98",...,"7.211773"; last row "2021-07-05",...,"7.473751"
    assert df["open"].iloc[0] == pytest.approx(609.98 * 7.211773 / 7.473751, rel=1e-12)
    assert df["close"].iloc[-1] == 1994.0


# ------------------------------------------------------------------ every rule


def test_rule_empty_file() -> None:
    assert "empty" in load_error(b"")
    assert "empty" in load_error(b"  \n\n")


def test_rule_header_only() -> None:
    assert "no data rows" in load_error(make_csv())


def test_rule_missing_columns_names_missing_and_found() -> None:
    message = load_error(make_csv("2020-01-01,1,1", header="date,open,close"))
    assert "missing columns: high, low" in message
    assert "found: 'date', 'open', 'close'" in message


def test_rule_missing_date_column() -> None:
    message = load_error(make_csv("1,1,1,1", header="open,high,low,close"))
    assert "missing columns: date" in message


def test_rule_missing_ashare_columns() -> None:
    message = load_error(make_csv("2020-01-01,1", header="tradedate,closeprice"))
    assert "missing columns: openprice, highestprice, lowestprice" in message


def test_rule_duplicate_columns_after_normalising() -> None:
    message = load_error(make_csv("2020-01-01,1,1,1,1,2", header="date,open,high,low,close,Close "))
    assert "duplicate columns" in message and "close" in message


def test_rule_non_numeric_value() -> None:
    message = load_error(with_row(2, "2020-01-02,10.5,12,10,abc,200"))
    assert "non-numeric value in close at row 2 (2020-01-02): 'abc'" in message


@pytest.mark.parametrize("cell", ["", "NaN", "nan"])
def test_rule_nan_value(cell: str) -> None:
    message = load_error(with_row(3, f"2020-01-03,11,11.5,10.5,{cell},150"))
    assert "missing or NaN value in close at row 3 (2020-01-03)" in message


def test_rule_missing_field_is_nan() -> None:
    message = load_error(with_row(2, "2020-01-02,10.5,12,10"))
    assert "missing or NaN value in close at row 2" in message


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e999"])
def test_rule_infinite_value(cell: str) -> None:
    message = load_error(with_row(1, f"2020-01-01,10,{cell},9,10.5,100"))
    assert "infinite value in high at row 1 (2020-01-01)" in message


@pytest.mark.parametrize(
    ("row", "column"),
    [("2020-01-02,0,12,10,11,200", "open"), ("2020-01-02,10.5,12,-1,11,200", "low")],
)
def test_rule_non_positive_price(row: str, column: str) -> None:
    message = load_error(with_row(2, row))
    assert f"non-positive price in {column} at row 2 (2020-01-02)" in message


def test_rule_high_below_low() -> None:
    message = load_error(with_row(3, "2020-01-03,11,10,12,11,150"))
    assert "high < low at row 3 (2020-01-03): high=10.0, low=12.0" in message


def test_rule_high_below_open_or_close() -> None:
    message = load_error(with_row(2, "2020-01-02,10.5,10.9,10,11,200"))
    assert "high < max(open, close) at row 2 (2020-01-02)" in message


def test_rule_low_above_open_or_close() -> None:
    message = load_error(with_row(1, "2020-01-01,10,11,10.2,10.5,100"))
    assert "low > min(open, close) at row 1 (2020-01-01)" in message


def test_rule_negative_volume() -> None:
    message = load_error(with_row(2, "2020-01-02,10.5,12,10,11,-5"))
    assert "negative volume at row 2 (2020-01-02)" in message


def test_rule_duplicate_timestamps() -> None:
    message = load_error(with_row(3, "2020-01-02,11,11.5,10.5,11.2,150"))
    assert "duplicate timestamp at row 3 (2020-01-02): same as row 2" in message


def test_rule_duplicate_timestamps_reported_after_sorting() -> None:
    data = make_csv(GOOD_ROWS[1], GOOD_ROWS[0], GOOD_ROWS[1].replace("200", "300"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        message = load_error(data)
    assert "duplicate timestamp at row 3 (2020-01-02): same as row 1" in message


@pytest.mark.parametrize("stamp", ["2020-13-45", "yesterday", ""])
def test_rule_unparseable_date(stamp: str) -> None:
    message = load_error(with_row(2, f"{stamp},10.5,12,10,11,200"))
    assert "unparseable date at row 2" in message


def test_rule_date_out_of_range() -> None:
    message = load_error(with_row(3, "2999-01-03,11,11.5,10.5,11.2,150"))
    assert "date out of range" in message and "row 3" in message


def test_rule_mixed_aware_and_naive_timestamps() -> None:
    data = make_csv(
        "2020-01-01 10:00,10,11,9,10,1",
        "2020-01-02 10:00+02:00,10,11,9,10,1",
        "2020-01-03 10:00,10,11,9,10,1",
    )
    message = load_error(data)
    assert "mixes time-zone-aware and naive timestamps" in message
    assert "row 2" in message and "row 1" in message


def test_rule_too_few_bars() -> None:
    message = load_error(make_csv(*GOOD_ROWS), min_bars=5)
    assert message == f"{NAME} has 3 bars; this run needs at least 5"


def test_rule_unreadable_binary_garbage() -> None:
    message = load_error(bytes(range(256)) * 4)
    assert "unreadable bytes" in message and "in the header" in message
    message = load_error(make_csv(*GOOD_ROWS) + bytes(range(256)))
    assert "unreadable bytes (binary NUL) at row 4" in message
    message = load_error(b"\xff\xfe" + "date,open".encode("utf-16-le"))
    assert "UTF-16" in message


def test_rule_bad_encoding() -> None:
    data = make_csv(*GOOD_ROWS) + "2020-01-04,1,1,1,1,caf\xe9\n".encode("latin-1")
    message = load_error(data)
    assert "not UTF-8" in message and "row 4" in message


def test_rule_corrupt_parquet() -> None:
    original = load_prices(make_csv(*GOOD_ROWS))
    buf = io.BytesIO()
    original.to_parquet(buf)
    data = buf.getvalue()
    corrupt = data[:8] + b"\x00garbage" * 10 + data[-40:]
    assert "unreadable Parquet" in load_error(corrupt)
    assert "unreadable Parquet" in load_error(b"PAR1 not really")


def test_rule_malformed_csv_extra_fields() -> None:
    message = load_error(with_row(2, "2020-01-02,10.5,12,10,11,200,7"))
    assert "malformed CSV at row 2" in message
    message = load_error(with_row(1, "2020-01-01,10,11,9,10.5,100,7"))
    assert "malformed CSV at row 1" in message


def test_rule_isopen_values() -> None:
    message = load_error(ashare("1,1.SH,2020-01-01,10,11,9,10,100,0,1.0,maybe"))
    assert "isopen must be true/false or 1/0 at row 1: 'maybe'" in message


def test_rule_all_rows_suspended() -> None:
    message = load_error(ashare("1,1.SH,2020-01-01,10,11,9,10,100,0,1.0,false"))
    assert "no trading days" in message


def test_rule_non_positive_adjustment_factor() -> None:
    message = load_error(
        ashare(
            "1,1.SH,2020-01-01,10,11,9,10,100,0,1.0,true",
            "1,1.SH,2020-01-02,10,11,9,10,100,0,0,true",
        )
    )
    assert "non-positive accumadjfactor at row 2 (2020-01-02)" in message


def test_suspended_rows_are_not_validated() -> None:
    # a suspended row with a zero price and a broken high/low must not fail the file
    df = load_prices(
        ashare(
            "1,1.SH,2020-01-01,10,11,9,10,100,0,1.0,true",
            "1,1.SH,2020-01-02,0,1,5,abc,0,0,1.0,false",
        )
    )
    assert len(df) == 1


def test_first_bad_row_is_the_smallest_row_number() -> None:
    rows = list(GOOD_ROWS)
    rows[0] = "2020-01-03,11,11.5,10.5,-1,150"
    rows[2] = "2020-01-01,10,11,9,-2,100"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        message = load_error(make_csv(*rows))
    assert "2 rows have a non-positive price in close (first: row 1 (2020-01-03)" in message


# -- several bad rows: the message counts them (one line, first row named) -------------------


def _walk_rows(n: int) -> list[str]:
    days = pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    return [f"{day},10,11,9,10.5,100" for day in days]


def test_many_bad_rows_are_counted_and_the_first_is_named() -> None:
    rows = _walk_rows(100)
    bad = [11, 20, 35, 99]  # 0-based: data rows 12, 21, 36, 100
    for i in bad:
        rows[i] = rows[i].replace(",10,11,9,", ",10,8,9.5,")
    message = load_error(make_csv(*rows))
    assert message == (
        f"{NAME}: 4 rows have high < low (first: row 12 (2020-01-12): high=8.0, low=9.5); "
        "fix all 4 rows and load the file again"
    )


def test_count_covers_every_bad_row_of_the_first_failing_rule() -> None:
    rows = _walk_rows(1_200)
    for i in range(0, 1_200, 3):  # 400 rows with text in close
        rows[i] = rows[i].replace("10.5,100", "abc,100")
    message = load_error(make_csv(*rows))
    assert "400 rows have a non-numeric value in close (first: row 1 (2020-01-01): 'abc')" in (
        message
    )


@pytest.mark.parametrize(
    ("cell", "phrase"),
    [
        ("", "2 rows have a missing or NaN value in close (first: row 1"),
        ("inf", "2 rows have an infinite value in close (first: row 1"),
        ("-1", "2 rows have a non-positive price in close (first: row 1"),
    ],
)
def test_count_phrases_read_as_sentences(cell: str, phrase: str) -> None:
    rows = _walk_rows(5)
    rows[0] = rows[0].replace("10.5,100", f"{cell},100")
    rows[3] = rows[3].replace("10.5,100", f"{cell},100")
    assert phrase in load_error(make_csv(*rows))


def test_duplicate_timestamps_are_counted() -> None:
    rows = _walk_rows(6)
    rows[2], rows[4] = rows[1], rows[3]
    message = load_error(make_csv(*rows))
    assert "2 rows have a duplicate timestamp (first: row 3 (2020-01-02): same as row 2)" in (
        message
    )


def test_isopen_count_phrase() -> None:
    message = load_error(
        ashare(
            "1,1.SH,2020-01-01,10,11,9,10,100,0,1.0,maybe",
            "1,1.SH,2020-01-02,10,11,9,10,100,0,1.0,perhaps",
        )
    )
    assert "2 rows have an isopen value that is not true/false or 1/0 (first: row 1" in message
