"""A corpus of malformed or hostile price files, each with the outcome the engine must give.

``build_corpus()`` returns ``{name: Case}``. A case's ``outcome`` is one of:

- ``"error"``: ``load_prices`` (and so the CLI and the upload page) refuses the file with ONE
  line that contains ``phrase`` (case-insensitive);
- ``"repair"``: the file is accepted after the documented repair named in ``phrase`` (BOM
  stripped, separator detected, rows sorted with a warning, extra columns ignored, ...);
  ``bars`` is the number of bars the repaired frame must have.

The oversized upload (~60 MB of valid rows) is not in the dict: :func:`oversized_csv` builds it
lazily, for the upload path only. Everything here is deterministic (no randomness).
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import date, timedelta

N_BARS = 30  # enough for sma_cross(fast=2, slow=5), the strategy the corpus tests run
HEADER = "date,open,high,low,close,volume"
ASHARE_HEADER = (
    "secID,tradeDate,openPrice,highestPrice,lowestPrice,closePrice,turnoverVol,"
    "accumAdjFactor,isOpen"
)


@dataclass(frozen=True)
class Case:
    """One corpus file and what must happen to it."""

    data: bytes
    outcome: str  # "error" | "repair"
    phrase: str  # error: text the one-line message contains; repair: the documented repair
    filename: str = "prices.csv"
    bars: int = N_BARS  # repair: bars after loading
    warns: bool = False  # repair: a DataWarning / df.attrs["warnings"] entry is expected


def _day(i: int, start: date = date(2024, 1, 1)) -> str:
    return (start + timedelta(days=i)).isoformat()


def _bar(i: int) -> tuple[float, float, float, float, float]:
    """A valid bar: open, high, low, close, volume (high > max(o, c), low < min(o, c))."""
    o = 100.0 + i
    return o, o + 2.0, o - 2.0, o + 1.0, 1000.0 + i


def rows(n: int = N_BARS, start: date = date(2024, 1, 1)) -> list[str]:
    """``n`` valid CSV data lines (no header), one calendar day apart."""
    return [",".join([_day(i, start), *(f"{v:g}" for v in _bar(i))]) for i in range(n)]


def valid_csv(n: int = N_BARS, sep: str = ",", newline: str = "\n") -> bytes:
    """A valid generic CSV with ``n`` bars."""
    lines = [HEADER, *rows(n)]
    return (newline.join(line.replace(",", sep) for line in lines) + newline).encode()


def _with(n: int, at: int, line: str, header: str = HEADER) -> bytes:
    """A valid CSV whose data row ``at`` (0-based) is replaced by ``line``."""
    body = rows(n)
    body[at] = line
    return ("\n".join([header, *body]) + "\n").encode()


def _ashare(isopen: list[str]) -> bytes:
    lines = [ASHARE_HEADER]
    for i, flag in enumerate(isopen):
        o, h, low, c, v = _bar(i)
        lines.append(f"600000.XSHG,{_day(i)},{o},{h},{low},{c},{v},1.0,{flag}")
    return ("\n".join(lines) + "\n").encode()


def _parquet(columns: dict[str, list[object]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def _png() -> bytes:
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
        b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
        b"\x00\x00\x00IEND\xaeB`\x82"
    )


def _garbage(n: int = 4096) -> bytes:
    """Deterministic pseudo-random bytes (a linear congruential generator)."""
    out, x = bytearray(), 12345
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2**31
        out.append(x >> 16 & 0xFF)
    return bytes(out)


def _errors() -> dict[str, Case]:
    n = N_BARS
    o, h, low, c, v = _bar(3)
    d3 = _day(3)
    return {
        "empty": Case(b"", "error", "empty"),
        "whitespace_only": Case(b" \n\r\n\t\n", "error", "empty"),
        "header_only": Case((HEADER + "\n").encode(), "error", "no data rows"),
        "binary_garbage": Case(_garbage(), "error", "unreadable bytes"),
        "png_header": Case(_png(), "error", "unreadable bytes", filename="prices.csv"),
        "gzip_bytes": Case(gzip.compress(valid_csv(), mtime=0), "error", "unreadable bytes"),
        "utf16": Case(valid_csv().decode().encode("utf-16"), "error", "UTF-16"),
        "nul_bytes": Case(valid_csv()[:120] + b"\x00\x00" + valid_csv()[120:], "error", "NUL"),
        "thousands_separators": Case(
            _with(n, 3, f'{d3},"1,234.5",{h},{low},{c},{v}'), "error", "non-numeric value in open"
        ),
        "decimal_commas": Case(
            valid_csv(sep=";").replace(b"101;103;99;102", b"101,5;103;99;102"),
            "error",
            "non-numeric value in open",
        ),
        "overflow_to_inf": Case(
            _with(n, 3, f"{d3},{o},1e309,{low},{c},{v}"), "error", "infinite value in high"
        ),
        "infinities": Case(
            _with(n, 3, f"{d3},{o},{h},{low},inf,{v}"), "error", "infinite value in close"
        ),
        "negative_infinity": Case(
            _with(n, 3, f"{d3},{o},{h},-Infinity,{c},{v}"), "error", "infinite value in low"
        ),
        "nan_strings": Case(_with(n, 3, f"{d3},{o},{h},{low},NaN,{v}"), "error", "NaN value"),
        "na_empty_field": Case(_with(n, 3, f"{d3},{o},{h},{low},,{v}"), "error", "NaN value"),
        "negative_prices": Case(
            _with(n, 3, f"{d3},-5,{h},-6,{c},{v}"), "error", "non-positive price in open"
        ),
        "zero_prices": Case(_with(n, 3, f"{d3},0,0,0,0,{v}"), "error", "non-positive price"),
        "high_below_low": Case(_with(n, 3, f"{d3},{o},{low},{h},{c},{v}"), "error", "high < low"),
        "negative_volume": Case(
            _with(n, 3, f"{d3},{o},{h},{low},{c},-10"), "error", "negative volume"
        ),
        "formula_in_date": Case(
            _with(n, 3, f"=cmd|' /C calc'!A0,{o},{h},{low},{c},{v}"), "error", "unparseable date"
        ),
        "formula_plus_in_close": Case(
            _with(n, 3, f"{d3},{o},{h},{low},+1+1,{v}"), "error", "non-numeric value in close"
        ),
        "formula_at_sum_in_close": Case(
            _with(n, 3, f"{d3},{o},{h},{low},\"@SUM(1+9)*cmd|' /C calc'!A0\",{v}"),
            "error",
            "non-numeric value in close",
        ),
        "date_year_9999": Case(
            _with(n, n - 1, f"9999-12-31,{o},{h},{low},{c},{v}"), "error", "out of range"
        ),
        "mixed_time_zones": Case(
            _with(n, 3, f"{d3}T00:00:00+08:00,{o},{h},{low},{c},{v}"),
            "error",
            "mixes time-zone-aware and naive",
        ),
        "mixed_date_formats": Case(
            _with(n, 3, f"Jan 4th of 2024,{o},{h},{low},{c},{v}"), "error", "unparseable date"
        ),
        "duplicate_timestamps": Case(
            _with(n, 4, f"{d3},{o},{h},{low},{c},{v}"), "error", "duplicate timestamp"
        ),
        "duplicate_columns": Case(
            _with(n, 0, f"{_day(0)},100,102,98,101,1000,999", header=HEADER + ",close"),
            "error",
            "duplicate columns",
        ),
        "duplicate_columns_case": Case(
            valid_csv().replace(b"volume", b"Close", 1), "error", "duplicate columns"
        ),
        "missing_close": Case(
            "\n".join(
                ["date,open,high,low,volume", *(r.rsplit(",", 2)[0] + ",1" for r in rows())]
            ).encode(),
            "error",
            "missing columns: close",
        ),
        "html_in_header": Case(
            valid_csv().replace(b"close", b"<script>alert(1)</script>", 1),
            "error",
            "missing columns: close",
        ),
        "very_long_line": Case(
            _with(n, 3, "x" * 1_000_000 + f",{o},{h},{low},{c},{v}"), "error", "unparseable date"
        ),
        "too_many_fields": Case(
            _with(n, 5, f"{_day(5)},1,2,3,4,5,6,7,8"), "error", "expected 6 fields, saw 9"
        ),
        "trailing_garbage_line": Case(
            valid_csv() + b"-- exported by SomeTool v1.2 --\n", "error", "unparseable date"
        ),
        "ashare_all_suspended": Case(_ashare(["0"] * n), "error", "no trading days"),
        "ashare_bad_isopen": Case(
            _ashare(["1"] * 3 + ["maybe"] + ["1"] * (n - 4)), "error", "isopen must be"
        ),
        "parquet_corrupt": Case(
            b"PAR1" + _garbage(512) + b"PAR1", "error", "unreadable Parquet", "prices.parquet"
        ),
        "parquet_truncated": Case(
            _parquet({"date": [_day(i) for i in range(n)], "open": [1.0] * n})[:-40],
            "error",
            "unreadable Parquet",
            "prices.parquet",
        ),
        "parquet_string_prices": Case(
            _parquet(
                {
                    "date": [_day(i) for i in range(n)],
                    **{k: ["ten"] * n for k in ("open", "high", "low", "close")},
                }
            ),
            "error",
            "non-numeric value in open",
            "prices.parquet",
        ),
    }


def _repairs() -> dict[str, Case]:
    n = N_BARS
    body = rows(n)
    unsorted = [body[0], body[2], body[1], *body[3:]]
    extra = ",".join([HEADER, "note"])
    formula_notes = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1:A9)", "-2+3", "<script>x</script>"]
    noted = [f"{r},{formula_notes[i % len(formula_notes)]}" for i, r in enumerate(body)]
    future = [",".join([_day(i, date(2200, 1, 1)), *r.split(",")[1:]]) for i, r in enumerate(body)]
    return {
        "bom": Case(b"\xef\xbb\xbf" + valid_csv(), "repair", "BOM stripped"),
        "semicolons": Case(valid_csv(sep=";"), "repair", "semicolon separator accepted"),
        "tabs": Case(valid_csv(sep="\t"), "repair", "tab separator accepted"),
        "crlf": Case(valid_csv(newline="\r\n"), "repair", "CRLF line endings accepted"),
        "unsorted": Case(
            ("\n".join([HEADER, *unsorted]) + "\n").encode(),
            "repair",
            "rows sorted by date, with a warning",
            warns=True,
        ),
        "formula_in_extra_column": Case(
            ("\n".join([extra, *noted]) + "\n").encode(),
            "repair",
            "extra text columns ignored (never evaluated)",
        ),
        "extra_unnamed_columns": Case(
            ("\n".join([HEADER + ",,", *(r + ",," for r in body)]) + "\n").encode(),
            "repair",
            "empty unnamed columns ignored",
        ),
        "huge_finite_numbers": Case(
            _with(n, 3, f"{_day(3)},1e307,1e308,1e306,1e307,1e308"),
            "repair",
            "finite extreme values accepted as is",
        ),
        "future_dates_2200": Case(
            ("\n".join([HEADER, *future]) + "\n").encode(),
            "repair",
            "dates up to 2262 accepted as is",
        ),
        "uppercase_padded_headers": Case(
            valid_csv().replace(HEADER.encode(), b" Date , OPEN ,High,LOW , Close,Volume "),
            "repair",
            "headers matched case- and space-insensitively",
        ),
        "parquet_numeric_strings": Case(
            _parquet(
                {
                    "date": [_day(i) for i in range(n)],
                    **{
                        k: [f"{_bar(i)[j]:g}" for i in range(n)]
                        for j, k in enumerate(("open", "high", "low", "close"))
                    },
                }
            ),
            "repair",
            "numeric strings converted to numbers",
            "prices.parquet",
        ),
    }


def build_corpus() -> dict[str, Case]:
    """Every corpus file by name (errors and repairs)."""
    return {**_errors(), **_repairs()}


def oversized_csv(megabytes: int = 60) -> bytes:
    """A valid CSV of about ``megabytes`` MB (built on demand: only the upload path needs it)."""
    import numpy as np

    n = megabytes * 1_000_000 // 50 + 1
    stamps = np.datetime_as_string(
        np.datetime64("1990-01-01T00:00") + np.arange(n).astype("timedelta64[m]"), unit="m"
    )
    body = "\n".join(
        f"{t},{100 + i % 500}.25,{102 + i % 500}.5,{98 + i % 500}.75,{101 + i % 500}.125,{i % 997}"
        for i, t in enumerate(stamps.tolist())
    )
    return f"{HEADER}\n{body}\n".encode()
