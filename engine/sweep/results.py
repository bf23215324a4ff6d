"""The sweep result layout (DESIGN.md "Storage", README "Design"): keys, spec.json, reads.

``sweeps/<sweep_id>/`` in the result bucket::

    spec.json              SweepSpec JSON + n_combinations, n_children, chunk_size, created_at, user
                           (and "jobs": {"array", "collect"} once submitted)
    chunks/<i>.parquet     child i's rows: combo_id, source_key, param columns, every metric
    chunks/<i>.error.json  child i failed on its input ({"error", "kind", "index", "at"})
    returns/<i>.npy        child i's per-period returns, float32 (rows of chunks/<i>.parquet x
                           RETURN_PERIODS, NaN-padded when a file has fewer bars)
    resume/<n>.json        the n-th resume's manifest: the chunks it reruns, its jobs
    summary.parquet        every chunk merged (collect)
    robustness.json        the overfitting statistics and chunk problems (collect)
    _SUCCESS               last

``n_combinations`` is the number of valid combinations per input file (ids 0..n-1); the work
is ``n_combinations x files`` tasks (file-major) cut into ``n_children`` chunks of
``chunk_size`` (:func:`engine.sweep.plan.chunk_indices`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.errors import NotFoundError, ParamError
from engine.spec import check_run_id
from engine.store.objects import Store, validate_bucket, validate_key
from engine.store.runs import parquet_to_frame
from engine.sweep.plan import ChunkPlan
from engine.sweep.spec import SweepSpec

SWEEPS = "sweeps/"
SPEC_JSON, SUMMARY, ROBUSTNESS, SUCCESS, ERROR = (
    "spec.json",
    "summary.parquet",
    "robustness.json",
    "_SUCCESS",
    "error.json",
)
RESUME = "resume/"  # resume/<n>.json: the manifests of jobs/resume.py
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


def chunk_state(store: Store, bucket: str, sweep_id: str, n_children: int | None) -> ChunkState:
    """Compare the ``n_children`` expected chunks with the files present under chunks/
    (``None``: the count is unknown, every chunk file present counts, none is missing)."""
    prefix = sweep_prefix(sweep_id) + "chunks/"
    done: set[int] = set()
    errors: set[int] = set()
    for info in store.list(bucket, prefix):
        m = _CHUNK_RE.match(info.key[len(prefix) :])
        if m and (n_children is None or int(m.group(1)) < n_children):
            (done if m.group(2) == "parquet" else errors).add(int(m.group(1)))
    failed = sorted(errors - done)
    missing = sorted(set(range(n_children or 0)) - done - errors)
    return ChunkState(sorted(done), failed, missing)


def read_chunk(store: Store, bucket: str, sweep_id: str, index: int) -> pd.DataFrame:
    """The rows child ``index`` wrote (NotFoundError when it has not written them)."""
    return parquet_to_frame(store.get_bytes(bucket, chunk_key(sweep_id, index)))


def spec_key(sweep_id: str) -> str:
    """``sweeps/<id>/spec.json``."""
    return sweep_prefix(sweep_id) + SPEC_JSON


def read_record(store: Store, bucket: str, sweep_id: str) -> Any:
    """spec.json as stored, not validated (NotFoundError when absent, ParamError when not JSON)."""
    return read_json(store, bucket, spec_key(sweep_id))


def resume_key(sweep_id: str, n: int) -> str:
    """``sweeps/<id>/resume/<n>.json``: the manifest of the sweep's ``n``-th resume."""
    return f"{sweep_prefix(sweep_id)}{RESUME}{int(n)}.json"


def resume_keys(store: Store, bucket: str, sweep_id: str) -> list[str]:
    """The sweep's resume manifests, oldest first."""
    prefix = sweep_prefix(sweep_id) + RESUME
    keys = [i.key for i in store.list(bucket, prefix) if i.key.endswith(".json")]
    return sorted(
        keys, key=lambda k: int(k[len(prefix) : -5]) if k[len(prefix) : -5].isdigit() else -1
    )


def is_collected(store: Store, bucket: str, sweep_id: str) -> bool:
    """True once collect wrote ``_SUCCESS`` (summary.parquet and robustness.json are there)."""
    return store.exists(bucket, sweep_prefix(sweep_id) + SUCCESS)


def sweep_ids(store: Store, bucket: str) -> list[str]:
    """Ids of the sweeps in ``bucket`` (folders under sweeps/); [] when the bucket is absent."""
    if not store.bucket_exists(bucket):
        return []
    return [d[len(SWEEPS) :].rstrip("/") for d in store.list_dirs(bucket, SWEEPS)]


@dataclass(frozen=True)
class SweepMeta:
    """What a sweep listing shows without reading rows: spec.json and robustness.json as
    stored ({} when absent or damaged; ``problem`` says which), and whether it is collected."""

    sweep_id: str
    spec: dict[str, Any]
    robustness: dict[str, Any]
    finished: bool
    problem: str = ""


def _object(store: Store, bucket: str, key: str) -> dict[str, Any]:
    """A JSON object or {} when absent or not an object (ParamError when not JSON)."""
    try:
        value = read_json(store, bucket, key)
    except NotFoundError:
        return {}
    return dict(value) if isinstance(value, dict) else {}


def read_meta(store: Store, bucket: str, sweep_id: str) -> SweepMeta:
    """The sweep's spec.json, robustness.json (once collected) and state, never raising for
    damaged JSON (the problem is named instead)."""
    prefix = sweep_prefix(sweep_id)
    finished = is_collected(store, bucket, sweep_id)
    try:
        spec = _object(store, bucket, prefix + SPEC_JSON)
        robustness = _object(store, bucket, prefix + ROBUSTNESS) if finished else {}
    except ParamError as exc:
        return SweepMeta(sweep_id, {}, {}, finished, str(exc))
    return SweepMeta(sweep_id, spec, robustness, finished)


@dataclass(frozen=True)
class SweepResult:
    """A sweep as stored: ``spec`` (spec.json), ``summary`` (summary.parquet, or the merged
    chunks present while unfinished), ``robustness`` (robustness.json or {}), ``finished``;
    ``chunks_done`` chunk files present (``n_children`` once finished), ``chunks_merged`` of
    them in ``summary`` while unfinished."""

    spec: dict[str, Any]
    summary: pd.DataFrame
    robustness: dict[str, Any]
    finished: bool
    chunks_done: int = 0
    chunks_merged: int = 0

    @property
    def n_children(self) -> int | None:
        """The planned number of chunks (None when spec.json does not say)."""
        value = self.spec.get("n_children")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def merge_chunks(store: Store, bucket: str, sweep_id: str, indices: list[int]) -> pd.DataFrame:
    """The rows of chunks ``indices`` in order (an empty frame when none)."""
    frames = [parquet_to_frame(store.get_bytes(bucket, chunk_key(sweep_id, i))) for i in indices]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_sweep(
    store: Store, bucket: str, sweep_id: str, *, max_chunks: int | None = None
) -> SweepResult:
    """The sweep ``sweep_id`` in ``bucket``; NotFoundError when there is no such sweep.

    Finished (``_SUCCESS`` present): summary.parquet and robustness.json ({} when absent).
    Unfinished: the rows of the chunks written so far (the first ``max_chunks`` of them when
    given) and an empty robustness dict. A sweep whose spec.json is gone but whose other files
    remain reads with an empty spec. ParamError for damaged JSON.
    """
    prefix = sweep_prefix(sweep_id)
    try:
        spec = read_json(store, bucket, prefix + SPEC_JSON)
    except NotFoundError:
        if not store.bucket_exists(bucket) or not store.list(bucket, prefix):
            raise NotFoundError(f"no sweep {sweep_id!r} in bucket {bucket!r}") from None
        spec = {}
    spec = dict(spec) if isinstance(spec, dict) else {}
    if is_collected(store, bucket, sweep_id):
        summary = parquet_to_frame(store.get_bytes(bucket, prefix + SUMMARY))
        robustness = _object(store, bucket, prefix + ROBUSTNESS)
        n = spec.get("n_children")
        done = n if isinstance(n, int) and not isinstance(n, bool) else 0
        return SweepResult(spec, summary, robustness, True, done, done)
    result = SweepResult(spec, pd.DataFrame(), {}, False)
    state = chunk_state(store, bucket, sweep_id, result.n_children)
    merged = state.done if max_chunks is None else state.done[:max_chunks]
    summary = merge_chunks(store, bucket, sweep_id, merged)
    return SweepResult(spec, summary, {}, False, len(state.done), len(merged))
