"""Fuzz engine.data.load_prices with CSV bytes: a clean DataError or a valid frame, nothing else."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data import COLUMNS, DataWarning, load_prices
from engine.errors import DataError

VALID = (
    b"Date,Open,High,Low,Close,Volume\n"
    b"2020-01-01,10,11,9,10.5,100\n"
    b"2020-01-02,10.5,12,10,11,200\n"
    b"2020-01-03,11,11.5,10.5,11.2,150\n"
    b"2020-01-06,11.2,11.9,11,11.5,120\n"
    b"2020-01-07,11.5,11.6,10.8,11,90\n"
)
ASHARE = (
    b'"ticker","secid","tradedate","openprice","highestprice","lowestprice","closeprice",'
    b'"turnovervol","turnovervalue","accumadjfactor","isopen"\n'
    b'"1","1.SH","2020-01-03","20","22","19","21","300.0","1.0E3","4.0","true"\n'
    b'"1","1.SH","2020-01-01","10","11","9","10","100.0","1.0E3","1.0","true"\n'
    b'"1","1.SH","2020-01-02","10","10","10","10","0.0","0.0","2.0","false"\n'
)
# Bytes that matter to a CSV parser, plus some that do not.
INTERESTING = st.sampled_from(
    [
        b",",
        b"\n",
        b"\r",
        b'"',
        b"-",
        b".",
        b"e",
        b"0",
        b"9",
        b" ",
        b"\x00",
        b"\xff",
        b"\xef\xbb\xbf",
        b"nan",
        b"inf",
        b"+02:00",
        b"Z",
        b"true",
        b"false",
        b";",
        b"\t",
        b"1e999",
        b"-1",
        b"PAR1",
    ]
)


def check(data: bytes) -> None:
    """The property: a DataError, or a frame that satisfies the loader's contract."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            df = load_prices(data, name="fuzz.csv")
    except DataError as exc:
        message = str(exc)
        assert message.startswith("fuzz.csv") and "\n" not in message
        return
    assert list(df.columns) == COLUMNS
    assert all(dtype == np.float64 for dtype in df.dtypes)
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.tz is None
    assert len(df) >= 1
    assert bool((df.index[1:] > df.index[:-1]).all())
    values = df.to_numpy()
    assert np.isfinite(values).all()
    assert (df[["open", "high", "low", "close"]].to_numpy() > 0).all()
    assert (df["high"] >= df["low"]).all()
    assert (df["volume"] >= 0).all()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([VALID, ASHARE])))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "dup_line", "swap", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.one_of(INTERESTING, st.binary(min_size=1, max_size=4)))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        else:
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated())
def test_mutated_valid_csv(data: bytes) -> None:
    check(data)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.text(alphabet="0123456789-:.,eE+TZ naif", min_size=0, max_size=40),
        min_size=1,
        max_size=8,
    )
)
def test_csv_like_text_under_a_valid_header(lines: list[str]) -> None:
    check(("date,open,high,low,close,volume\n" + "\n".join(lines)).encode())


def test_the_unmutated_bases_are_valid() -> None:
    assert len(load_prices(VALID)) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        assert len(load_prices(ASHARE)) == 2
