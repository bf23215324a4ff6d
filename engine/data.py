"""Load and validate OHLCV price files: CSV or Parquet, generic or the reference A-share dialect.

``load_prices`` returns float64 columns ``open, high, low, close, volume`` on a tz-naive,
strictly increasing ``DatetimeIndex`` named ``timestamp`` (nanosecond resolution), or raises a
one-line :class:`DataError` naming the file, the rule and the first bad row, and how many rows
break that rule when more than one does ("f.csv: 37 rows have high < low (first: row 12 ...)").

Rules and decisions:
- Parquet is detected by the magic bytes ``PAR1``; anything else is read as UTF-8 CSV (a BOM is
  fine; ``;``, tab or ``|`` separators are used when the header has no comma).
- Generic files: case-insensitive headers, surrounding whitespace ignored. The time column is the
  first of ``timestamp, datetime, date, time`` (``date`` + ``time`` are joined when both exist and
  neither ``timestamp`` nor ``datetime`` does), else an unnamed first column or a Parquet index.
  Numeric dates: 8-digit ``YYYYMMDD`` or epoch seconds/ms/us/ns by magnitude. Slash dates follow
  pandas (month first); prefer ISO 8601. Volume is 0.0 when absent; other columns are ignored.
- A-share dialect (``tradedate`` or ``closeprice`` in the header): rows with ``isopen`` false
  (true/false, 1/0, yes/no) are dropped, OHLC are multiplied by ``accumadjfactor / last factor``
  (last of the kept rows in date order), volume is ``turnovervol``.
- Row numbers are 1-based data rows (the first line after the header is row 1).
- Unsorted rows are sorted (stable) with a :class:`DataWarning`, also listed in
  ``df.attrs["warnings"]``. Everything else is an error, checked on the file's values:
  non-numeric, NaN, infinite, non-positive prices, high < low, high < max(open, close),
  low > min(open, close) (all strict: no tolerance), negative volume, duplicate timestamps,
  duplicate columns (case/space-insensitive; exact repeats such as ``close,close`` too).
- tz-aware timestamps are converted to UTC and made naive; mixing aware and naive is an error.
- ``df.attrs``: ``warnings`` (list[str]), ``source_format`` ("generic" | "a-share"),
  ``dropped_rows`` (suspended A-share rows removed).
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Literal, NoReturn

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from engine.errors import DataError, NotFoundError

COLUMNS = ["open", "high", "low", "close", "volume"]
PRICES = ("open", "high", "low", "close")
DATE_NAMES = ("timestamp", "datetime", "date", "time")
ASHARE = {"open": "openprice", "high": "highestprice", "low": "lowestprice", "close": "closeprice"}
ASHARE_DATE, ASHARE_VOLUME = "tradedate", "turnovervol"
ASHARE_FACTOR, ASHARE_OPEN = "accumadjfactor", "isopen"
_TRUE = frozenset({"true", "t", "1", "1.0", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "0.0", "no", "n"})
_AWARE = re.compile(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:z|utc|gmt|[+-]\d\d(?::?\d\d)?)$", re.I)
_UNNAMED = ("", "index", "level_0")

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


class DataWarning(UserWarning):
    """Something was fixed while loading (e.g. rows sorted); also listed in df.attrs."""


def load_prices(source: Source, *, name: str | None = None, min_bars: int = 1) -> pd.DataFrame:
    """Read and validate a price file; see the module docstring for every rule.

    ``source`` is a path, bytes or a binary file-like object; ``name`` (e.g. the S3 key) is what
    error messages call the file. Raises DataError (NotFoundError for a missing path).
    """
    data, label = _read_source(source, name)
    raw = _parse(data, label)
    if raw.empty:
        raise DataError(f"{label}: no data rows (the file has a header only)")
    columns, date_cols, dialect = _resolve_columns(list(raw.columns), label)
    raw = raw[[*columns.values(), *date_cols, *([ASHARE_OPEN] if ASHARE_OPEN in raw else [])]]
    at = _Where(label, np.arange(1, len(raw) + 1))
    dropped = 0
    if dialect and ASHARE_OPEN in raw.columns:
        keep = _trading_days(raw[ASHARE_OPEN], at)
        dropped, raw, at = int((~keep).sum()), raw.loc[keep], _Where(label, at.rows[keep])
        if raw.empty:
            raise DataError(f"{label}: no trading days (every row has isopen=false)")
    at.ts = _parse_dates(_date_series(raw, date_cols), at)
    values = {c: _numeric(raw[src], src, at) for c, src in columns.items()}
    values.setdefault("volume", np.zeros(len(raw)))
    notes: list[str] = []
    if len(at.ts) > 1 and not bool((at.ts[1:] >= at.ts[:-1]).all()):
        notes.append(f"{label}: rows were not sorted; sorted by date")
        order = np.argsort(at.ts, kind="stable")
        at = _Where(label, at.rows[order], at.ts[order])
        values = {c: v[order] for c, v in values.items()}
    _check_duplicates(at)
    _check_bars(values, at)
    if "factor" in values:
        _adjust(values, values.pop("factor"), at)
    block = np.column_stack([values[c] for c in COLUMNS])
    df = pd.DataFrame(block, index=pd.DatetimeIndex(at.ts, name="timestamp"), columns=COLUMNS)
    df.attrs.update(warnings=notes, source_format="a-share" if dialect else "generic")
    df.attrs["dropped_rows"] = dropped
    for note in notes:
        warnings.warn(note, DataWarning, stacklevel=2)
    check_enough_bars(df, max(min_bars, 1), label, "this run")
    return df


def check_enough_bars(prices: pd.DataFrame, needed: int, name: str, what: str) -> None:
    """Raise DataError "NAME has 40 bars; WHAT needs at least 51" when prices are too short."""
    if len(prices) < needed:
        raise DataError(f"{name} has {len(prices)} bars; {what} needs at least {needed}")


def describe_prices(df: pd.DataFrame) -> dict[str, Any]:
    """A small preview summary: bars, first and last timestamp, median bar spacing (Timedelta)."""
    n = len(df)
    spacing = pd.Series(df.index).diff().median() if n > 1 else None
    return {
        "bars": n,
        "first": df.index[0] if n else None,
        "last": df.index[-1] if n else None,
        "median_spacing": spacing,
    }


# ---------------------------------------------------------------- reading


def _read_source(source: Source, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name or "<bytes>"
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        label = name or path
        try:
            with open(path, "rb") as fh:
                return fh.read(), label
        except FileNotFoundError:
            raise NotFoundError(f"{label}: no such file") from None
        except OSError as exc:
            raise DataError(f"{label}: cannot read the file ({exc.strerror or exc})") from None
    if hasattr(source, "read"):
        label = name or str(getattr(source, "name", "") or "<buffer>")
        data = source.read()
        return (data.encode() if isinstance(data, str) else bytes(data)), label
    raise TypeError(f"load_prices needs a path, bytes or a binary buffer, not {type(source)}")


def _parse(data: bytes, label: str) -> pd.DataFrame:
    if not data.strip():
        raise DataError(f"{label}: the file is empty")
    df = _read_parquet(data, label) if data[:4] == b"PAR1" else _read_csv(data, label)
    df.columns = pd.Index([str(c).replace("\ufeff", "").strip().lower() for c in df.columns])
    return df


def _read_parquet(data: bytes, label: str) -> pd.DataFrame:
    try:
        df = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many exception types for corrupt files
        raise DataError(f"{label}: unreadable Parquet file ({_first_line(exc)})") from None
    return df if isinstance(df.index, pd.RangeIndex) else df.reset_index()


def _read_csv(data: bytes, label: str) -> pd.DataFrame:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{label}: unreadable bytes (UTF-16 text) in the header; save as UTF-8")
    if b"\x00" in data:
        where = _line_at(data, data.index(b"\x00"))
        raise DataError(f"{label}: unreadable bytes (binary NUL) {where}; expected a CSV")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _line_at(data, exc.start)
        raise DataError(f"{label}: unreadable bytes (not UTF-8 text) {where}") from None
    header = data.split(b"\n", 1)[0]
    sep = ","
    if b"," not in header:
        sep = max((";", "\t", "|"), key=lambda s: header.count(s.encode()))
    try:
        df = pd.read_csv(io.BytesIO(data), sep=sep, engine="c", low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{label}: the file is empty") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise DataError(f"{label}: malformed CSV {_csv_where(exc)}") from None
    if not isinstance(df.index, pd.RangeIndex):  # pandas took row 1's extra field as an index
        raise DataError(f"{label}: malformed CSV at row 1: more fields than the header")
    names = _header_names(header, sep)
    if len(set(names)) < len(names) == len(df.columns):  # undo pandas' "close.1" renaming
        # empty header fields keep pandas' "Unnamed: N" names
        names = [n if n.strip() else str(c) for n, c in zip(names, df.columns, strict=True)]
        df.columns = pd.Index(names)
    return df


def _header_names(header: bytes, sep: str) -> list[str]:
    """The header's field names as written (pandas renames a repeated 'close' to 'close.1')."""
    text = header.decode("utf-8").rstrip("\r")
    return next(csv.reader([text], delimiter=sep), [])


def _line_at(data: bytes, offset: int) -> str:
    row = data.count(b"\n", 0, offset)
    return f"at row {row}" if row else "in the header"


def _csv_where(exc: BaseException) -> str:
    text = _first_line(exc)
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if found:
        want, line, saw = found.groups()
        return f"at row {int(line) - 1}: expected {want} fields, saw {saw}"
    return f"({text})"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


# ---------------------------------------------------------------- columns


def _resolve_columns(names: list[str], label: str) -> tuple[dict[str, str], list[str], bool]:
    """Return (target -> source column, date columns, is it the A-share dialect)."""
    dialect = ASHARE_DATE in names or ASHARE["close"] in names
    if dialect:
        columns = dict(ASHARE)
        for key, col in (("volume", ASHARE_VOLUME), ("factor", ASHARE_FACTOR)):
            if col in names:
                columns[key] = col
        date_cols = [ASHARE_DATE] if ASHARE_DATE in names else []
    else:
        columns = {c: c for c in COLUMNS if c in PRICES or c in names}
        date_cols = _date_columns(names)
    missing = [c for c in columns.values() if c not in names]
    if not date_cols:
        missing.insert(0, ASHARE_DATE if dialect else "date (or timestamp/datetime/time)")
    if missing:
        found = ", ".join(repr(n) for n in names[:20])
        raise DataError(f"{label}: missing columns: {', '.join(missing)} (found: {found})")
    wanted = {*columns.values(), *date_cols, *([ASHARE_OPEN] if dialect else [])}
    dups = sorted(c for c in wanted if names.count(c) > 1)
    if dups:
        raise DataError(f"{label}: duplicate columns (case/space-insensitive): {', '.join(dups)}")
    return columns, date_cols, dialect


def _date_columns(names: list[str]) -> list[str]:
    if "timestamp" not in names and "datetime" not in names and {"date", "time"} <= set(names):
        return ["date", "time"]
    for cand in DATE_NAMES:
        if cand in names:
            return [cand]
    if names and (names[0] in _UNNAMED or names[0].startswith("unnamed: 0")):
        return [names[0]]
    return []


def _date_series(raw: pd.DataFrame, date_cols: list[str]) -> pd.Series:
    if len(date_cols) == 1:
        return raw[date_cols[0]]
    date, time = (raw[c].astype(str).str.strip() for c in date_cols)
    return date + " " + time


def _trading_days(col: pd.Series, at: _Where) -> np.ndarray:
    if is_bool_dtype(col) and not col.isna().any():
        return col.to_numpy(dtype=bool)
    text = col.astype(str).str.strip().str.lower()
    yes, no = text.isin(_TRUE).to_numpy(), text.isin(_FALSE).to_numpy()
    at.fail_if(~(yes | no), "isopen must be true/false or 1/0", col)
    return yes


# ---------------------------------------------------------------- values


def _parse_dates(col: pd.Series, at: _Where) -> np.ndarray:
    """Return naive UTC datetime64[ns] values, or fail on the first unparseable row."""
    rule = "unparseable date"
    if is_bool_dtype(col):
        at.fail_at(0, rule, col)
    parsed: pd.Series | None
    if is_numeric_dtype(col):
        parsed = _numeric_dates(col, at)
    elif is_datetime64_any_dtype(col):
        parsed = col
    else:
        parsed = _to_datetime(col, utc=False, iso=True)
        if parsed is None or parsed.isna().any():
            parsed = _to_datetime(col, utc=False)
        if parsed is None or parsed.isna().any():
            _check_tz_mix(col, at)
            parsed = _to_datetime(col, utc=True)
        if parsed is None:  # pandas raised even with errors="coerce": find the row slowly
            for i in range(len(col)):
                one = _to_datetime(col.iloc[i : i + 1], utc=True)
                if one is None or bool(one.isna().all()):
                    at.fail_at(i, rule, col)
            at.fail_at(0, rule, col)
    at.fail_if(parsed.isna().to_numpy(), rule, col)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    try:
        return parsed.dt.as_unit("ns").to_numpy()
    except (ValueError, OverflowError):
        outside = (parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max)
        at.fail_if(outside.to_numpy(), "date out of range (1677-2262)", col)
        at.fail_at(0, "date out of range (1677-2262)", col)


def _to_datetime(col: pd.Series, utc: bool, iso: bool = False) -> pd.Series | None:
    """pd.to_datetime with errors="coerce" (ISO 8601 only when ``iso``); None if it raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = pd.to_datetime(
                col, errors="coerce", utc=utc, format="ISO8601" if iso else None, cache=False
            )
            return pd.Series(out, index=col.index)
        except (ValueError, TypeError, OverflowError):
            return None


def _check_tz_mix(col: pd.Series, at: _Where) -> None:
    text = col.astype(str).str.strip()
    aware = text.str.contains(_AWARE).to_numpy(dtype=bool)
    if not aware.any() or aware.all():
        return
    naive = _to_datetime(text[~aware], utc=False)
    if naive is None or naive.isna().all():
        return
    a = int(np.argmax(aware))
    n = int(np.flatnonzero(~aware)[int(np.argmax(naive.notna().to_numpy()))])
    raise DataError(
        f"{at.label}: mixes time-zone-aware and naive timestamps: row {at.rows[a]} "
        f"({text.iloc[a]!r}) is aware, row {at.rows[n]} ({text.iloc[n]!r}) is naive"
    )


def _numeric_dates(col: pd.Series, at: _Where) -> pd.Series:
    """YYYYMMDD integers, else epoch s/ms/us/ns chosen by magnitude."""
    v = col.to_numpy(dtype=np.float64, na_value=np.nan)
    at.fail_if(~np.isfinite(v), "unparseable date", col)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ((v >= 1e7) & (v < 1e8) & (v == np.floor(v))).all():
            text = pd.Series(v.astype(np.int64).astype(str), index=col.index)
            return pd.Series(pd.to_datetime(text, format="%Y%m%d", errors="coerce"), col.index)
        big = float(np.abs(v).max())
        unit: Literal["s", "ms", "us", "ns"] = (
            "s" if big < 1e11 else "ms" if big < 1e14 else "us" if big < 1e17 else "ns"
        )
        try:
            return pd.Series(
                pd.to_datetime(pd.Series(v, index=col.index), unit=unit, errors="coerce")
            )
        except (ValueError, OverflowError):
            return pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")


def _numeric(col: pd.Series, what: str, at: _Where) -> np.ndarray:
    """Column -> float64 array; fail on non-numeric, NaN or infinite values."""
    if is_bool_dtype(col):
        at.fail_at(0, f"non-numeric value in {what}", col)
    if is_numeric_dtype(col):
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        coerced = pd.to_numeric(col, errors="coerce")
        at.fail_if((coerced.isna() & col.notna()).to_numpy(), f"non-numeric value in {what}", col)
        v = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    at.fail_if(np.isnan(v), f"missing or NaN value in {what}")
    at.fail_if(np.isinf(v), f"infinite value in {what}", col)
    return v


def _check_duplicates(at: _Where) -> None:
    dup = np.zeros(len(at.rows), bool)
    dup[1:] = at.ts[1:] == at.ts[:-1]
    if dup.any():
        i = int(np.argmax(dup))
        detail = f"same as row {at.rows[i - 1]}"
        at.fail_at(i, "duplicate timestamp", detail=detail, count=int(np.count_nonzero(dup)))


def _check_bars(values: dict[str, np.ndarray], at: _Where) -> None:
    o, h, low, c = (values[k] for k in PRICES)
    for k in PRICES:
        at.fail_if(values[k] <= 0, f"non-positive price in {k}", values[k])
    at.fail_if(h < low, "high < low", lambda i: f"high={h[i]}, low={low[i]}")
    at.fail_if(
        h < np.maximum(o, c),
        "high < max(open, close)",
        lambda i: f"high={h[i]}, open={o[i]}, close={c[i]}",
    )
    at.fail_if(
        low > np.minimum(o, c),
        "low > min(open, close)",
        lambda i: f"low={low[i]}, open={o[i]}, close={c[i]}",
    )
    at.fail_if(values["volume"] < 0, "negative volume", values["volume"])


def _adjust(values: dict[str, np.ndarray], factor: np.ndarray, at: _Where) -> None:
    """Multiply OHLC by factor / last factor (date order); volume is left as traded."""
    at.fail_if(factor <= 0, f"non-positive {ASHARE_FACTOR}", factor)
    scale = factor / factor[-1]
    for k in PRICES:
        values[k] = values[k] * scale
        bad = ~np.isfinite(values[k]) | (values[k] <= 0)
        at.fail_if(bad, f"adjusted {k} out of float range", factor)


# ---------------------------------------------------------------- messages

Shown = pd.Series | np.ndarray | Callable[[int], str] | None


@dataclass
class _Where:
    """Where a row came from: the file label, 1-based data row numbers, parsed timestamps."""

    label: str
    rows: np.ndarray
    ts: np.ndarray = field(default_factory=lambda: np.empty(0, "datetime64[ns]"))

    def fail_if(self, mask: np.ndarray, rule: str, shown: Shown = None) -> None:
        """Raise DataError for the bad row with the smallest file row number, if any,
        saying how many rows break the rule when more than one does."""
        if mask.any():
            first = int(np.flatnonzero(mask)[np.argmin(self.rows[mask])])
            self.fail_at(first, rule, shown, count=int(np.count_nonzero(mask)))

    def fail_at(
        self, i: int, rule: str, shown: Shown = None, detail: str = "", count: int = 1
    ) -> NoReturn:
        """Raise DataError "LABEL: RULE at row N (timestamp): detail", or for ``count`` > 1
        "LABEL: 37 rows have RULE (first: row N (timestamp): detail); fix all 37 ..."."""
        where = f"row {self.rows[i]}"
        if len(self.ts) == len(self.rows):
            where += f" ({_fmt_ts(self.ts[i])})"
        if callable(shown):
            detail = shown(i)
        elif shown is not None:
            value = shown.iloc[i] if isinstance(shown, pd.Series) else shown[i]
            detail = repr(str(value)[:60])
        if count > 1:
            first = where + (f": {detail}" if detail else "")
            raise DataError(
                f"{self.label}: {count:,} rows have {_as_object(rule)} (first: {first}); "
                f"fix all {count:,} rows and load the file again"
            )
        raise DataError(f"{self.label}: {rule} at {where}" + (f": {detail}" if detail else ""))


def _as_object(rule: str) -> str:
    """A rule as the object of "N rows have ...": 'a non-numeric value in close', 'high < low'."""
    if rule.startswith("isopen must be"):
        return "an isopen value that is not " + rule.removeprefix("isopen must be ")
    if rule[:1] in "aeiou" and not rule.startswith(("a ", "an ")):
        return f"an {rule}"
    if rule.split(" ", 1)[0] in ("high", "low", "open", "close"):
        return rule  # a comparison such as 'high < low'
    return f"a {rule}"


def _fmt_ts(value: np.datetime64) -> str:
    stamp = pd.Timestamp(value)
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else str(stamp)
