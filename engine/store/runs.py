"""The result layout of one run (DESIGN.md "Result layout") and its provenance record.

``runs/<run_id>/`` in the result bucket holds ``spec.json``, ``metrics.json``,
``equity.parquet``, ``trades.parquet`` and, written last, ``_SUCCESS`` (empty). A failed run
has ``error.json`` ({"error", "kind", "run_id", "at"}) and never ``_SUCCESS``. A rerun of the
same id first removes a stale ``_SUCCESS``/``error.json``, so a reader never mistakes a
half-rewritten prefix for a finished one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

import engine
from engine.errors import NotFoundError, ParamError
from engine.spec import RunSpec, check_run_id
from engine.store.objects import ObjectInfo, Store

if TYPE_CHECKING:
    from engine.api import BacktestResult

SPEC, METRICS, EQUITY, TRADES = "spec.json", "metrics.json", "equity.parquet", "trades.parquet"
SUCCESS, ERROR = "_SUCCESS", "error.json"
STRATEGY = "strategy.py"  # a strategy file's exact source (issue 12); built-in runs have none
RUNS = "runs/"


class RunStatus(StrEnum):
    """A run's state read from its files: ``_SUCCESS`` -> succeeded, ``error.json`` -> failed,
    other files only -> unfinished (running, or its process died), nothing -> missing."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNFINISHED = "unfinished"
    MISSING = "missing"

    @classmethod
    def of_file(cls, name: str) -> RunStatus:
        """The state one file of a run's prefix shows (the strongest file decides)."""
        return {SUCCESS: cls.SUCCEEDED, ERROR: cls.FAILED}.get(name, cls.UNFINISHED)


_RANK = {RunStatus.UNFINISHED: 0, RunStatus.FAILED: 1, RunStatus.SUCCEEDED: 2}


@dataclass(frozen=True)
class RunListing:
    """One run in a listing: its id, state and when the file deciding the state was written."""

    run_id: str
    status: RunStatus
    finished_at: datetime | None


class UnfinishedRunError(NotFoundError):
    """A run prefix without ``_SUCCESS``: still running, or failed (``error`` is then set)."""

    kind = "unfinished"

    def __init__(self, message: str, error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error = error


def run_prefix(run_id: str) -> str:
    """``runs/<run_id>/`` after checking the id is one safe path segment."""
    return f"{RUNS}{check_run_id(run_id)}/"


def list_runs(store: Store, bucket: str) -> list[RunListing]:
    """Every run in ``bucket`` from one listing of ``runs/`` ([] when the bucket is absent),
    newest first (runs without a time last, then by id descending)."""
    if not store.bucket_exists(bucket):
        return []
    seen: dict[str, RunListing] = {}
    for info in store.list(bucket, RUNS):
        parts = info.key[len(RUNS) :].split("/")
        if len(parts) != 2:
            continue
        run_id, name = parts
        status = RunStatus.of_file(name)
        old = seen.get(run_id)
        if old is None or _RANK[status] > _RANK[old.status]:
            seen[run_id] = RunListing(run_id, status, info.modified)
    stamp = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(seen.values(), key=lambda r: r.run_id, reverse=True)
    return sorted(
        ordered, key=lambda r: (r.finished_at is not None, r.finished_at or stamp), reverse=True
    )


def read_run_records(store: Store, bucket: str, run_id: str) -> tuple[Any, Any]:
    """(spec.json, metrics.json) as stored, for listings that need no frames; NotFoundError
    when one is absent, ParamError when one is not JSON."""
    prefix = run_prefix(run_id)
    out = []
    for name in (SPEC, METRICS):
        try:
            out.append(json.loads(store.get_bytes(bucket, prefix + name)))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParamError(
                f"{store.uri(bucket, prefix + name)} is not valid JSON: {exc}"
            ) from None
    return out[0], out[1]


def utc_now() -> str:
    """The current UTC time as ISO 8601 with a trailing Z (second precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return pd.Timestamp(value).isoformat()
    return str(value)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class InputFile(NamedTuple):
    """A run's input file as read: its exact bytes and its object info (None when unknown)."""

    data: bytes
    info: ObjectInfo | None


def make_spec_record(
    spec: RunSpec,
    *,
    params: Mapping[str, Any],
    input_file: InputFile,
    prices: pd.DataFrame,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """spec.json: the RunSpec as run (validated params, every option) plus its provenance.

    ``RunSpec.from_dict`` of the record without its ``provenance`` key reproduces the run.
    """
    env = os.environ if env is None else env
    data, input_info = input_file
    record = spec.to_dict()
    record["params"] = dict(params)
    index = prices.index
    record["provenance"] = {
        "requested_params": dict(spec.params),
        "input": {
            "uri": f"s3://{spec.source_bucket}/{spec.source_key}",
            "etag": input_info.etag if input_info else None,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "modified": _iso(input_info.modified) if input_info else None,
        },
        "data": {
            "first": _iso(index[0]) if len(index) else None,
            "last": _iso(index[-1]) if len(index) else None,
            "bars": len(prices),
            "warnings": list(prices.attrs.get("warnings", [])),
        },
        "engine_version": engine.__version__,
        "image_digest": env.get("BACKTEST_IMAGE_DIGEST") or None,
        "batch_job_id": env.get("AWS_BATCH_JOB_ID") or None,
        "created_at": utc_now(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("numba", "numpy", "pandas", "pyarrow")},
    }
    return record


def spec_from_record(record: Mapping[str, Any]) -> RunSpec:
    """The RunSpec inside a spec.json record (provenance dropped)."""
    return RunSpec.from_dict({k: v for k, v in record.items() if k != "provenance"})


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json_bytes(obj: Any) -> bytes:
    """Pretty, sorted, strict JSON (NaN/inf become null)."""
    return (json.dumps(_clean(obj), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def frame_to_parquet(df: pd.DataFrame, *, index: str | None = None) -> bytes:
    """Parquet bytes of ``df``; a named index (e.g. ``timestamp``) becomes the first column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = df.reset_index() if index else df.reset_index(drop=True)
    if index and out.columns[0] != index:
        out = out.rename(columns={out.columns[0]: index})
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), buf)
    return buf.getvalue()


def parquet_to_frame(data: bytes) -> pd.DataFrame:
    """A DataFrame from parquet bytes."""
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pandas()


def clear_markers(store: Store, bucket: str, run_id: str) -> None:
    """Remove ``_SUCCESS`` then ``error.json`` of an earlier attempt of this run id."""
    prefix = run_prefix(run_id)
    store.delete(bucket, prefix + SUCCESS)
    store.delete(bucket, prefix + ERROR)


class RunFiles(NamedTuple):
    """What :func:`write_run` writes: spec.json's record, the result, and a strategy file's
    exact source (None for a built-in strategy)."""

    spec_record: Mapping[str, Any]
    result: BacktestResult
    strategy_source: bytes | None = None


def write_run(store: Store, bucket: str, run_id: str, files: RunFiles) -> str:
    """Write the run's files (``strategy.py`` too when given), ``_SUCCESS`` last; return the
    prefix ``runs/<id>/``."""
    spec_record, result, strategy_source = files
    prefix = run_prefix(run_id)
    clear_markers(store, bucket, run_id)
    if strategy_source is not None:
        store.put_bytes(bucket, prefix + STRATEGY, strategy_source)
    store.put_bytes(bucket, prefix + SPEC, to_json_bytes(dict(spec_record)))
    store.put_bytes(bucket, prefix + METRICS, to_json_bytes(dict(result.metrics)))
    store.put_bytes(bucket, prefix + EQUITY, frame_to_parquet(result.equity, index="timestamp"))
    store.put_bytes(bucket, prefix + TRADES, frame_to_parquet(result.trades))
    store.put_bytes(bucket, prefix + SUCCESS, b"")
    return prefix


def error_record(run_id: str | None, exc: BaseException, kind: str | None = None) -> dict[str, Any]:
    """``{"error": one line, "kind", "run_id", "at"}`` for an exception."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    return {
        "error": message,
        "kind": kind or str(getattr(exc, "kind", "internal")),
        "run_id": run_id,
        "at": utc_now(),
    }


def write_error(
    store: Store, bucket: str, run_id: str, exc: BaseException, kind: str | None = None
) -> dict[str, Any]:
    """Remove ``_SUCCESS`` and any result files of this run id, write ``error.json``.

    Returns the record. Old or half-written results of the id never outlive a failure.
    """
    prefix = run_prefix(run_id)
    record = error_record(run_id, exc, kind)
    for name in (SUCCESS, SPEC, METRICS, EQUITY, TRADES, STRATEGY):
        store.delete(bucket, prefix + name)
    store.put_bytes(bucket, prefix + ERROR, to_json_bytes(record))
    return record


def run_status(store: Store, bucket: str, run_id: str) -> RunStatus:
    """The run's :class:`RunStatus` now (a str: 'succeeded', 'failed', 'unfinished', 'missing')."""
    prefix = run_prefix(run_id)
    if store.exists(bucket, prefix + SUCCESS):
        return RunStatus.SUCCEEDED
    if store.exists(bucket, prefix + ERROR):
        return RunStatus.FAILED
    return RunStatus.UNFINISHED if store.list(bucket, prefix) else RunStatus.MISSING


def read_error(store: Store, bucket: str, run_id: str) -> dict[str, Any] | None:
    """The run's error.json, or None when there is none."""
    key = run_prefix(run_id) + ERROR
    try:
        return dict(json.loads(store.get_bytes(bucket, key)))
    except NotFoundError:
        return None


def read_run(
    store: Store, bucket: str, run_id: str
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """(spec record, metrics, equity indexed by timestamp, trades) of a finished run.

    NotFoundError when there is no such run; :class:`UnfinishedRunError` when ``_SUCCESS`` is
    missing (its ``error`` attribute holds error.json when the run failed).
    """
    prefix = run_prefix(run_id)
    status = run_status(store, bucket, run_id)
    where = store.uri(bucket, prefix)
    if status is RunStatus.MISSING:
        raise NotFoundError(f"no run {run_id!r} in bucket {bucket!r}")
    if status is RunStatus.FAILED:
        err = read_error(store, bucket, run_id)
        detail = err.get("error") if err else "unknown error"
        raise UnfinishedRunError(f"run {run_id!r} failed ({where}): {detail}", err)
    if status is RunStatus.UNFINISHED:
        raise UnfinishedRunError(f"run {run_id!r} is not finished: no _SUCCESS in {where}")
    spec = json.loads(store.get_bytes(bucket, prefix + SPEC))
    metrics = json.loads(store.get_bytes(bucket, prefix + METRICS))
    equity = parquet_to_frame(store.get_bytes(bucket, prefix + EQUITY))
    if "timestamp" in equity.columns:
        equity = equity.set_index("timestamp")
    trades = parquet_to_frame(store.get_bytes(bucket, prefix + TRADES))
    return spec, metrics, equity, trades
