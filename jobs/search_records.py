"""A TPE search's bookkeeping files: ``search/search.json`` (what was asked) and
``search/jobs-<r>.json`` (round ``r``'s submissions, appended, never replaced)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.errors import NotFoundError, ParamError
from engine.store.objects import Store
from engine.store.runs import to_json_bytes, utc_now
from engine.sweep.results import read_json, sweep_prefix
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import SweepSpec
from jobs.base import Executor
from jobs.model import JobStatus

if TYPE_CHECKING:
    from engine.sweep.results import SweepDoc

SEARCH_JSON = "search/search.json"
ROUND_RE = re.compile(r"search/round-(\d+)\.json$")
FIRST = -1  # ``search-step URI --round -1``: tell nothing, ask round 0 (a stored strategy's)


def search_key(sweep_id: str) -> str:
    return sweep_prefix(sweep_id) + SEARCH_JSON


def jobs_key(sweep_id: str, r: int) -> str:
    """``sweeps/<id>/search/jobs-<r>.json``: round ``r``'s submissions."""
    return f"{sweep_prefix(sweep_id)}search/jobs-{int(r)}.json"


def continue_command(uri: str, r: int) -> str:
    """The command that continues a search after round ``r`` (``FIRST``: asks round 0)."""
    return f"python -m jobs search-step {uri} --round {r}"


def is_stored(record: Any) -> bool:
    """True when spec.json's raw ``record`` runs a strategy file (not a built-in)."""
    from engine.sim.strategies import STRATEGIES

    base = record.get("base") if isinstance(record, dict) else None
    name = base.get("strategy") if isinstance(base, dict) else None
    return isinstance(name, str) and name not in STRATEGIES


def search_doc(store: Store, bucket: str, key: str) -> SweepDoc:
    """spec.json of a sweep (a search or not; jobs resume and search status read it) as a
    process that must not run strategy code reads it: a
    built-in's validated (``load_doc``); a strategy file's parsed without its schema (the
    submit validated it in the sandbox; the engine's jobs validate it against the pinned copy)
    with spec.json's plan numbers and search settings checked."""
    from engine.sweep.results import SPEC_EXTRAS, SweepDoc, load_doc, spec_key

    record = read_json(store, bucket, key)
    if not is_stored(record):
        return load_doc(store, bucket, key)
    where = store.uri(bucket, key)
    spec = SweepSpec.from_dict({k: v for k, v in record.items() if k not in SPEC_EXTRAS})
    if key != spec_key(spec.sweep_id):
        raise ParamError(
            f"{where} describes sweep {spec.sweep_id!r}; expected it at {spec_key(spec.sweep_id)}"
        )
    if spec.mode == "tpe":
        spec = replace(spec, search=(spec.search or SearchSpec()).validate())
    numbers = []
    for name in ("n_combinations", "n_children", "chunk_size"):
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParamError(f"{where}: {name} must be an integer >= 1, got {value!r}")
        numbers.append(value)
    n_combinations, n_children, chunk_size = numbers
    created, user = record.get("created_at"), record.get("user")
    return SweepDoc(spec, n_combinations, n_children, chunk_size, created, user, dict(record))


def record_submission(store: Store, spec: SweepSpec, r: int, jobs: dict[str, Any]) -> None:
    """Append one submission to ``search/jobs-<r>.json``."""
    bucket, key = spec.base.result_bucket, jobs_key(spec.sweep_id, r)
    entries = round_jobs(store, bucket, spec.sweep_id, r)
    entries.append({**jobs, "submitted_at": utc_now()})
    store.put_bytes(bucket, key, to_json_bytes({"round": r, "submissions": entries}))


def round_jobs(store: Store, bucket: str, sweep_id: str, r: int) -> list[dict[str, Any]]:
    """Round ``r``'s submissions, oldest first ([] before any)."""
    key = jobs_key(sweep_id, r)
    if not store.exists(bucket, key):
        return []
    data = read_json(store, bucket, key)
    entries = data.get("submissions") if isinstance(data, dict) else None
    return [e for e in entries or [] if isinstance(e, dict)]


def status_of(executor: Executor, job_id: Any) -> JobStatus | None:
    if not job_id:
        return None
    try:
        return executor.get(str(job_id)).status
    except NotFoundError:
        return None


def live_submission(executor: Executor, entries: list[dict[str, Any]], role: str) -> str | None:
    """The id of the latest ``role`` job ("array", "step", "collect") that has not FAILED."""
    for entry in reversed(entries):
        job_id = entry.get(role)
        status = status_of(executor, job_id)
        if job_id and status is not None and status is not JobStatus.FAILED:
            return str(job_id)
    return None


def resume_refusal(store: Store, bucket: str, sweep_id: str) -> str | None:
    """Why ``python -m jobs resume`` must not rerun a TPE search's missing chunks: rounds not
    asked yet have no trials (their chunks cannot run); the search continues by its step. None
    for any other sweep, or a search whose every round is asked (a resume reruns its chunks)."""
    from engine.sweep.results import spec_key
    from engine.sweep.search_results import search_layout

    doc = search_doc(store, bucket, spec_key(sweep_id))
    if doc.spec.mode != "tpe":
        return None
    layout = search_layout(doc)
    asked = {int(m.group(1)) for o in store.list(bucket, sweep_prefix(sweep_id) + "search/")
             if (m := ROUND_RE.search(o.key)) is not None}  # fmt: skip
    if len(asked) >= layout.n_rounds:
        return None
    last = max(asked, default=FIRST)  # none asked yet: the first step asks round 0
    uri = store.uri(bucket, spec_key(sweep_id))
    return (
        f"sweep {sweep_id} is a TPE search with {len(asked)} of {layout.n_rounds} rounds asked; "
        f"a resume cannot run rounds not asked yet: continue it with "
        f"`{continue_command(uri, last)}`"
    )
