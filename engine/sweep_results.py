"""The sweep result layout (DESIGN.md "Storage", README "Design"): keys, spec.json, reads.

``sweeps/<sweep_id>/`` in the result bucket::

    spec.json              SweepSpec JSON + n_combinations, n_children, chunk_size, created_at, user
                           (and "jobs": {"array", "collect"} once submitted)
    chunks/<i>.parquet     child i's rows: combo_id, source_key, param columns, every metric
    chunks/<i>.error.json  child i failed on its input ({"error", "kind", "index", "at"})
    returns/<i>.npy        child i's per-period returns, float32 (rows of chunks/<i>.parquet x
                           RETURN_PERIODS, NaN-padded when a file has fewer bars)
    summary.parquet        every chunk merged (collect)
    robustness.json        the overfitting statistics and chunk problems (collect)
    _SUCCESS               last

``n_combinations`` is the number of valid combinations per input file (ids 0..n-1); the work
is ``n_combinations x files`` tasks (file-major) cut into ``n_children`` chunks of
``chunk_size`` (:func:`engine.sweep_plan.chunk_indices`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.errors import NotFoundError, ParamError
from engine.results import parquet_to_frame
from engine.spec import check_run_id
from engine.store import Store, validate_bucket, validate_key
from engine.sweep_plan import ChunkPlan
from engine.sweep_spec import SweepSpec

SWEEPS = "sweeps/"
SPEC_JSON, SUMMARY, ROBUSTNESS, SUCCESS, ERROR = (
    "spec.json",
    "summary.parquet",
    "robustness.json",
    "_SUCCESS",
    "error.json",
)
SPEC_EXTRAS = ("n_combinations", "n_children", "chunk_size", "created_at", "user", "jobs")
_CHUNK_RE = re.compile(r"^(\d+)\.(parquet|error\.json)$")


def sweep_prefix(sweep_id: str) -> str:
    """``sweeps/<sweep_id>/`` after checking the id is one safe path segment."""
    return f"{SWEEPS}{check_run_id(sweep_id)}/"


def chunk_key(sweep_id: str, index: int) -> str:
    """``sweeps/<id>/chunks/<index>.parquet``."""
    return f"{sweep_prefix(sweep_id)}chunks/{int(index)}.parquet"


def chunk_error_key(sweep_id: str, index: int) -> str:
    """``sweeps/<id>/chunks/<index>.error.json`` (a child that failed on its input)."""
    return f"{sweep_prefix(sweep_id)}chunks/{int(index)}.error.json"


def returns_key(sweep_id: str, index: int) -> str:
    """``sweeps/<id>/returns/<index>.npy``."""
    return f"{sweep_prefix(sweep_id)}returns/{int(index)}.npy"


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); ParamError with the expected form otherwise."""
    text = str(uri).strip()
    if not text.startswith("s3://") or "/" not in text[5:]:
        raise ParamError(f"sweep spec URI {uri!r} must look like s3://BUCKET/sweeps/ID/spec.json")
    bucket, key = text[5:].split("/", 1)
    return validate_bucket(bucket), validate_key(key)


@dataclass(frozen=True)
class SweepDoc:
    """spec.json as read back: the validated SweepSpec and the chunk plan."""

    spec: SweepSpec
    n_combinations: int
    n_children: int
    chunk_size: int
    created_at: str | None = None
    user: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def plan(self) -> ChunkPlan:
        """The chunk plan the children were submitted with."""
        return ChunkPlan(self.n_children, self.chunk_size)

    @property
    def n_tasks(self) -> int:
        """Backtests in the sweep: combinations x input files."""
        return self.n_combinations * len(self.spec.source_keys)


def spec_record(
    spec: SweepSpec, n_combinations: int, plan: ChunkPlan, created_at: str, user: str | None
) -> dict[str, Any]:
    """The spec.json dict: the SweepSpec plus the sweep's size and plan."""
    record = spec.to_dict()
    record.update(
        n_combinations=int(n_combinations),
        n_children=int(plan.n_children),
        chunk_size=int(plan.chunk_size),
        created_at=created_at,
        user=user,
    )
    return record


def doc_from_record(record: Mapping[str, Any], where: str = "spec.json") -> SweepDoc:
    """Parse and validate a spec.json dict; ParamError naming ``where`` when it is damaged."""
    if not isinstance(record, Mapping):
        raise ParamError(f"{where} must be a JSON object")
    spec = SweepSpec.from_dict({k: v for k, v in record.items() if k not in SPEC_EXTRAS})
    spec = spec.validate()
    numbers = {}
    for name in ("n_combinations", "n_children", "chunk_size"):
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParamError(f"{where}: {name} must be an integer >= 1, got {value!r}")
        numbers[name] = value
    tasks = numbers["n_combinations"] * len(spec.source_keys)
    if numbers["n_children"] * numbers["chunk_size"] < tasks:
        raise ParamError(
            f"{where}: {numbers['n_children']} chunks of {numbers['chunk_size']} cannot hold "
            f"{tasks} backtests; the spec was edited by hand"
        )
    return SweepDoc(
        spec,
        numbers["n_combinations"],
        numbers["n_children"],
        numbers["chunk_size"],
        record.get("created_at"),
        record.get("user"),
        dict(record),
    )


def read_json(store: Store, bucket: str, key: str) -> Any:
    """A JSON object from the store; ParamError when it is not valid JSON."""
    data = store.get_bytes(bucket, key)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParamError(f"{store.uri(bucket, key)} is not valid JSON: {exc}") from None


def load_doc(store: Store, bucket: str, key: str) -> SweepDoc:
    """Read and validate ``spec.json`` at ``bucket/key`` (NotFoundError when absent)."""
    where = store.uri(bucket, key)
    doc = doc_from_record(read_json(store, bucket, key), where)
    expected = sweep_prefix(doc.spec.sweep_id) + SPEC_JSON
    if key != expected:
        raise ParamError(
            f"{where} describes sweep {doc.spec.sweep_id!r}; expected it at {expected}"
        )
    return doc


@dataclass(frozen=True)
class ChunkState:
    """Which chunks exist: ``done`` (parquet present), ``failed`` (error.json only), ``missing``."""

    done: list[int]
    failed: list[int]
    missing: list[int]


def chunk_state(store: Store, bucket: str, sweep_id: str, n_children: int) -> ChunkState:
    """Compare the ``n_children`` expected chunks with the files present under chunks/."""
    prefix = sweep_prefix(sweep_id) + "chunks/"
    done: set[int] = set()
    errors: set[int] = set()
    for info in store.list(bucket, prefix):
        m = _CHUNK_RE.match(info.key[len(prefix) :])
        if m and int(m.group(1)) < n_children:
            (done if m.group(2) == "parquet" else errors).add(int(m.group(1)))
    failed = sorted(errors - done)
    missing = sorted(set(range(n_children)) - done - errors)
    return ChunkState(sorted(done), failed, missing)


@dataclass(frozen=True)
class SweepResult:
    """A sweep as stored: ``spec`` (spec.json), ``summary`` (summary.parquet, or the merged
    chunks present while unfinished), ``robustness`` (robustness.json or {}), ``finished``."""

    spec: dict[str, Any]
    summary: pd.DataFrame
    robustness: dict[str, Any]
    finished: bool


def merge_chunks(store: Store, bucket: str, sweep_id: str, indices: list[int]) -> pd.DataFrame:
    """The rows of chunks ``indices`` in order (an empty frame when none)."""
    frames = [parquet_to_frame(store.get_bytes(bucket, chunk_key(sweep_id, i))) for i in indices]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_sweep(store: Store, bucket: str, sweep_id: str) -> SweepResult:
    """The sweep ``sweep_id`` in ``bucket``; NotFoundError when there is no such sweep.

    Finished (``_SUCCESS`` present): summary.parquet and robustness.json. Unfinished: the
    rows of the chunks written so far and an empty robustness dict.
    """
    prefix = sweep_prefix(sweep_id)
    try:
        spec = read_json(store, bucket, prefix + SPEC_JSON)
    except NotFoundError:
        raise NotFoundError(f"no sweep {sweep_id!r} in bucket {bucket!r}") from None
    if store.exists(bucket, prefix + SUCCESS):
        summary = parquet_to_frame(store.get_bytes(bucket, prefix + SUMMARY))
        robustness = read_json(store, bucket, prefix + ROBUSTNESS)
        return SweepResult(dict(spec), summary, dict(robustness), True)
    n_children = int(spec.get("n_children") or 0)
    state = chunk_state(store, bucket, sweep_id, n_children)
    return SweepResult(dict(spec), merge_chunks(store, bucket, sweep_id, state.done), {}, False)
