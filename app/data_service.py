"""Data page services: list buckets and objects, preview and validate price files, upload, delete.

No Streamlit here; pages call these through ``app.loaders`` (cached) or directly (writes).
Every failure is one of the project's errors with a one-line message.
"""

from __future__ import annotations

import hashlib
import math
import posixpath
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from app.context import AppContext
from app.run_picker import RunBrief, runs_using
from engine.data import describe_prices, load_prices
from engine.errors import BacktestError, DataError, ParamError
from engine.store.objects import TEMP_PREFIX, validate_key
from engine.sweep import results as sweep_results

UPLOAD_SUFFIXES = (".csv", ".parquet", ".pq")
PRICE_SUFFIXES = (*UPLOAD_SUFFIXES, ".txt")
PAGE_SIZE = 200
OBJECT_COLUMNS = ["name", "key", "size", "modified"]


def list_buckets(ctx: AppContext) -> list[str]:
    """Buckets to browse: input and result buckets first; on a local root, every folder
    under it except hidden ones and names starting with '_' (such as ``_jobs``)."""
    settings = ctx.settings
    out = [settings.input_bucket, settings.result_bucket]
    if settings.storage_root:
        root = Path(settings.storage_root).expanduser()
        if root.is_dir():
            names = sorted(p.name for p in root.iterdir() if p.is_dir())
            out += [n for n in names if not n.startswith(("_", "."))]
    return list(dict.fromkeys(out))


@dataclass
class Listing:
    """One folder level: sub-folders (full prefixes ending in '/') and objects."""

    bucket: str
    prefix: str
    dirs: list[str] = field(default_factory=list)
    objects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OBJECT_COLUMNS))
    exists: bool = True


def list_objects(ctx: AppContext, bucket: str, prefix: str = "") -> Listing:
    """Folders and objects directly under ``prefix`` (a missing bucket: empty, exists=False)."""
    validate_key(prefix, prefix=True)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    store = ctx.store
    if not store.bucket_exists(bucket):
        return Listing(bucket, prefix, exists=False)
    infos = store.list(bucket, prefix, delimiter="/")
    rows = [
        {
            "name": posixpath.basename(i.key),
            "key": i.key,
            "size": int(i.size),
            "modified": pd.Timestamp(i.modified) if i.modified else pd.NaT,
        }
        for i in infos
        if not posixpath.basename(i.key).startswith(TEMP_PREFIX)
    ]
    frame = pd.DataFrame(rows, columns=OBJECT_COLUMNS)
    return Listing(bucket, prefix, store.list_dirs(bucket, prefix), frame)


ENTRY_COLUMNS = ["name", "kind", "size", "modified", "key"]


def entries(listing: Listing) -> pd.DataFrame:
    """One table of a folder level: its sub-folders first (name 'x/', kind 'folder', key the
    prefix to open), then its objects (kind 'file'), so a level holding only folders is
    never shown as empty."""
    folders = pd.DataFrame(
        {
            "name": [posixpath.basename(d.rstrip("/")) + "/" for d in listing.dirs],
            "kind": "folder",
            "size": pd.array([pd.NA] * len(listing.dirs), dtype="Int64"),
            "modified": pd.NaT,
            "key": list(listing.dirs),
        }
    )
    files = listing.objects.assign(kind="file")
    files["size"] = files["size"].astype("Int64")
    parts = [f for f in (folders, files[ENTRY_COLUMNS]) if not f.empty]
    if not parts:
        return pd.DataFrame(columns=ENTRY_COLUMNS)
    out = pd.concat(parts, ignore_index=True)[ENTRY_COLUMNS]
    out["modified"] = pd.to_datetime(out["modified"], utc=True)
    return out


def entry_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The table as the page draws it: name, kind, size ('87,988'), modified (UTC, seconds);
    blank, not 'None', where a folder has no size or time."""
    size = rows["size"].map(lambda n: "" if pd.isna(n) else f"{int(n):,}")
    when = pd.to_datetime(rows["modified"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame(
        {"name": rows["name"], "kind": rows["kind"], "size": size, "modified": when.fillna("")}
    )


def filter_objects(objects: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows whose name contains ``text`` (case-insensitive, plain text, not a pattern)."""
    text = (text or "").strip().lower()
    if not text:
        return objects
    mask = objects["name"].astype(str).str.lower().str.contains(text, regex=False)
    return objects.loc[mask]


def page_count(n_rows: int, per_page: int = PAGE_SIZE) -> int:
    """Number of pages (at least 1)."""
    return max(1, math.ceil(n_rows / per_page))


def page_slice(frame: pd.DataFrame, page: int, per_page: int = PAGE_SIZE) -> pd.DataFrame:
    """Rows of 1-based ``page`` (clamped to the valid range)."""
    page = min(max(1, int(page)), page_count(len(frame), per_page))
    start = (page - 1) * per_page
    return frame.iloc[start : start + per_page]


def parent_prefix(prefix: str) -> str:
    """The folder above ``prefix`` ('' at the top)."""
    parts = prefix.rstrip("/").split("/")
    return "/".join(parts[:-1]) + "/" if len(parts) > 1 else ""


def is_price_file(key: str) -> bool:
    """True for keys that look like price files (CSV, Parquet)."""
    return key.lower().endswith(PRICE_SUFFIXES)


@dataclass
class Preview:
    """A file's preview: the engine's verdict ("ok", "warnings", "error") and its messages."""

    bucket: str
    key: str
    verdict: str
    messages: list[str]
    head: pd.DataFrame | None = None
    prices: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def check_prices(data: bytes, name: str) -> pd.DataFrame:
    """The engine's own validation (``load_prices``) without printing its warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_prices(data, name=name)


def preview_file(ctx: AppContext, bucket: str, key: str, rows: int = 20) -> Preview:
    """Load ``bucket/key`` with the engine; a DataError becomes the verdict, not an exception."""
    data = ctx.store.get_bytes(bucket, key)
    try:
        prices = check_prices(data, key)
    except DataError as exc:
        return Preview(bucket, key, "error", [str(exc)])
    notes = [str(n) for n in prices.attrs.get("warnings", [])]
    info = describe_prices(prices)
    summary = {
        "bars": int(info["bars"]),
        "first": info["first"],
        "last": info["last"],
        "format": prices.attrs.get("source_format", "generic"),
        "size": len(data),
    }
    verdict = "warnings" if notes else "ok"
    return Preview(bucket, key, verdict, notes, prices.head(rows), prices, summary)


def upload_key(filename: str, prefix: str = "") -> str:
    """The input-bucket key for an uploaded file: ``prefix`` + the file's base name."""
    name = posixpath.basename(str(filename).replace("\\", "/")).strip()
    if not name or name.startswith((".", "_")):
        raise ParamError(f"invalid file name {filename!r}: give the file a plain name")
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise DataError(f"{name}: only {', '.join(UPLOAD_SUFFIXES)} files can be uploaded")
    prefix = prefix.strip().strip("/")
    return validate_key(f"{prefix}/{name}" if prefix else name)


def validate_upload(filename: str, data: bytes, max_mb: int) -> pd.DataFrame:
    """Size cap, then the engine's validation: DataError with its message when refused."""
    size_mb = len(data) / 1_000_000
    if len(data) > max_mb * 1_000_000:
        raise DataError(
            f"{filename} is {size_mb:,.1f} MB; the upload limit is {max_mb} MB "
            "(BACKTEST_UPLOAD_MAX_MB), copy larger files to the bucket directly"
        )
    return check_prices(data, filename)


class UploadConflict(ParamError):
    """The key already holds other bytes and the upload did not say to replace them."""

    kind = "conflict"


@dataclass
class UploadCheck:
    """What an upload would do: the key, and whether it replaces different bytes there.

    ``runs`` / ``sweeps``: ids of the runs and sweeps whose spec names this input key, i.e.
    the results that were computed from the bytes a replacement would overwrite.
    """

    key: str
    exists: bool = False
    same_bytes: bool = False
    old_size: int = 0
    old_modified: Any = None
    old_sha256: str = ""
    runs: list[str] = field(default_factory=list)
    sweeps: list[str] = field(default_factory=list)

    @property
    def replaces(self) -> bool:
        """True when writing would overwrite different bytes (needs the user's confirmation)."""
        return self.exists and not self.same_bytes


def check_upload(
    ctx: AppContext,
    filename: str,
    data: bytes,
    prefix: str = "",
    briefs: Iterable[RunBrief] = (),
) -> UploadCheck:
    """Validate like :func:`upload_file` (DataError when refused), then say what writing would
    replace; ``briefs`` (the run pickers' list) name the runs that used the key."""
    key = upload_key(filename, prefix)
    validate_upload(posixpath.basename(key), data, ctx.settings.upload_max_mb)
    bucket = ctx.settings.input_bucket
    if not ctx.store.bucket_exists(bucket) or not ctx.store.exists(bucket, key):
        return UploadCheck(key)
    info = ctx.store.head(bucket, key)
    old = ctx.store.get_bytes(bucket, key)
    return UploadCheck(
        key,
        exists=True,
        same_bytes=old == data,
        old_size=int(info.size),
        old_modified=info.modified,
        old_sha256=hashlib.sha256(old).hexdigest(),
        runs=runs_using(briefs, bucket, key),
        sweeps=sweeps_using(ctx, bucket, key),
    )


def _names(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit:,} more" if len(ids) > limit else "")


def replace_question(uri: str, check: UploadCheck) -> str:
    """The confirmation text: what is there now, and which results were computed from it."""
    when = pd.Timestamp(check.old_modified).strftime("%Y-%m-%d %H:%M UTC") if (
        check.old_modified is not None
    ) else "an unknown time"  # fmt: skip
    text = (
        f"{uri} already exists ({check.old_size:,} bytes, modified {when}) with other "
        "contents. Replace it?"
    )
    used = []
    if check.runs:
        used.append(f"{len(check.runs):,} run(s): {_names(check.runs)}")
    if check.sweeps:
        used.append(f"{len(check.sweeps):,} sweep(s): {_names(check.sweeps)}")
    if used:
        text += (
            " These results were computed from the file at this key: " + "; ".join(used)
            + ". They keep their figures and the sha256 of the bytes they read, but a rerun "
            "would read the new file."
        )  # fmt: skip
    else:
        text += " No run or sweep in the result bucket used this key."
    return text


def sweeps_using(ctx: AppContext, bucket: str, key: str, limit: int = 500) -> list[str]:
    """Ids of the sweeps whose spec.json reads ``bucket/key`` (base file or an extra file)."""
    results = ctx.settings.result_bucket
    out = []
    for sweep_id in sorted(sweep_results.sweep_ids(ctx.store, results), reverse=True)[:limit]:
        try:
            spec = sweep_results.read_record(ctx.store, results, sweep_id)
        except BacktestError:  # no spec.json, or not JSON
            continue
        base = spec.get("base") if isinstance(spec, dict) else None
        if not isinstance(base, dict) or base.get("source_bucket") != bucket:
            continue
        extra = spec.get("extra_keys") if isinstance(spec.get("extra_keys"), list) else []
        if key in [base.get("source_key"), *extra]:
            out.append(sweep_id)
    return out


@dataclass(frozen=True)
class ReplaceConsent:
    """The user agreed to replace a key's other bytes; ``expected_sha256`` (the bytes they
    were asked about) limits that to the key still holding those bytes."""

    expected_sha256: str | None = None


def upload_file(
    ctx: AppContext,
    filename: str,
    data: bytes,
    prefix: str = "",
    *,
    replace: ReplaceConsent | None = None,
) -> str:
    """Validate, then write to the input bucket; return the key. Nothing is written if refused.

    A key that already holds different bytes is an :class:`UploadConflict` unless ``replace``
    (the page asks first); with its ``expected_sha256`` (the bytes the user was asked about) it
    is also a conflict when the key changed since. The same bytes again are not rewritten.
    """
    key = upload_key(filename, prefix)
    validate_upload(posixpath.basename(key), data, ctx.settings.upload_max_mb)
    bucket = ctx.settings.input_bucket
    if not ctx.store.bucket_exists(bucket):
        ctx.store.create_bucket(bucket)
    elif ctx.store.exists(bucket, key):
        current = ctx.store.get_bytes(bucket, key)
        if current == data:
            return key
        if replace is None:
            raise UploadConflict(
                f"{ctx.store.uri(bucket, key)} already exists with other contents; "
                "confirm to replace it"
            )
        expected_sha256 = replace.expected_sha256
        if expected_sha256 and hashlib.sha256(current).hexdigest() != expected_sha256:
            raise UploadConflict(
                f"{ctx.store.uri(bucket, key)} changed since you were asked; "
                "upload again to see what it holds now"
            )
    ctx.store.put_bytes(bucket, key, data)
    return key


def delete_file(ctx: AppContext, bucket: str, key: str) -> None:
    """Delete one object (validated key)."""
    ctx.store.delete(bucket, validate_key(key))


def input_files(ctx: AppContext) -> list[str]:
    """Every price-file key in the input bucket (recursive), sorted."""
    bucket = ctx.settings.input_bucket
    if not ctx.store.bucket_exists(bucket):
        return []
    return sorted(
        i.key
        for i in ctx.store.list(bucket)
        if is_price_file(i.key) and not posixpath.basename(i.key).startswith(TEMP_PREFIX)
    )


def bar_count(ctx: AppContext, bucket: str, key: str) -> int:
    """Bars in one price file (0 when it does not validate)."""
    try:
        return len(check_prices(ctx.store.get_bytes(bucket, key), key))
    except DataError:
        return 0
