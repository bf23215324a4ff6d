"""Which bytes of a strategy file a run or a sweep runs (issue 12 point 2; engine side).

- A run: a built-in as is; a spec with ``strategy_source`` (a rerun) loads that exact copy and
  checks ``strategy_sha256``; otherwise ``strategies/<NAME>.py`` of the source bucket. The run
  then stores the source it ran as ``runs/<id>/strategy.py`` and records, in spec.json,
  ``strategy_source`` = that copy and ``strategy_sha256``: rerunning the recorded spec runs the
  same bytes even after the file was edited or removed.
- A sweep: :func:`pin_sweep_strategy` (at submit, before spec.json is written) copies the stored
  file once to ``sweeps/<id>/strategy.py`` and pins the base run to it; every child and the
  collect load that copy (:func:`strategy_for_spec`), so editing the file mid-sweep cannot mix
  versions. Its top-N reruns record the same copy.
- A rerun of an old run (or sweep) from the dashboard or the CLI: :func:`recorded_copy` reads
  the copy the run kept, checked against the sha256 its spec.json records; the new run's spec
  names that copy as ``strategy_source``, so the first bullet loads it and records its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.errors import NotFoundError, StrategyError
from engine.sim.strategies import STRATEGIES, Strategy
from engine.spec import RunSpec
from engine.store.objects import Store
from engine.store.runs import STRATEGY, run_prefix
from engine.userstrat import library
from engine.userstrat.loader import sha256_hex
from engine.userstrat.resolve import load_pinned, resolve_strategy


def _split(uri: str) -> tuple[str, str]:
    from engine.sweep.results import parse_uri

    return parse_uri(uri)


def strategy_for_spec(
    store: Store, spec: RunSpec, env: Mapping[str, str] | None = None
) -> Strategy:
    """The strategy ``spec`` runs: built-in, its pinned copy, or ``strategies/<NAME>.py``."""
    if spec.strategy in STRATEGIES:
        return STRATEGIES[spec.strategy]
    if spec.strategy_source is not None:
        bucket, key = _split(spec.strategy_source)
        return load_pinned(
            store, bucket, key, name=spec.strategy, sha256=spec.strategy_sha256, env=env
        )
    return resolve_strategy(spec.strategy, store=store, bucket=spec.source_bucket, env=env)


def run_copy(store: Store, result_bucket: str, run_id: str) -> str:
    """``s3://RESULT/runs/<id>/strategy.py``: where a run keeps the source it ran."""
    return store.uri(result_bucket, run_prefix(run_id) + STRATEGY)


def pinned_run_spec(
    store: Store, spec: RunSpec, strategy: Strategy, run_id: str
) -> tuple[RunSpec, bytes | None]:
    """(the spec to record, the source bytes to store as runs/<id>/strategy.py) of a run."""
    if not strategy.is_file or strategy.source is None or strategy.sha256 is None:
        return spec, None
    uri = run_copy(store, spec.result_bucket, run_id)
    pinned = replace(spec, strategy_source=uri, strategy_sha256=strategy.sha256)
    return pinned, strategy.source.encode("utf-8")


def provenance(strategy: Strategy, spec: RunSpec, store: Store) -> dict[str, Any] | None:
    """spec.json's ``provenance.strategy`` of a strategy file (None for a built-in)."""
    if not strategy.is_file:
        return None
    loaded = spec.strategy_source or store.uri(
        spec.source_bucket, library.source_key(spec.strategy)
    )
    return {"name": strategy.name, "sha256": strategy.sha256, "loaded_from": loaded}


def sweep_copy_key(sweep_id: str) -> str:
    """``sweeps/<id>/strategy.py``."""
    from engine.sweep.results import sweep_prefix

    return sweep_prefix(sweep_id) + STRATEGY


def pin_sweep_strategy(store: Store, spec: Any) -> Any:
    """A SweepSpec whose base run is pinned to ``sweeps/<id>/strategy.py`` (written here, once,
    from the stored file or the copy the spec already names); built-ins are returned as is.

    Call it where spec.json is written (before the children are submitted)."""
    base: RunSpec = spec.base
    if base.strategy in STRATEGIES:
        return spec
    bucket = base.result_bucket
    key = sweep_copy_key(spec.sweep_id)
    if base.strategy_source is not None:
        src_bucket, src_key = _split(base.strategy_source)
        data = store.get_bytes(src_bucket, src_key)
        if base.strategy_sha256 is not None and sha256_hex(data) != base.strategy_sha256:
            raise StrategyError(
                f"{base.strategy_source} does not have the recorded sha256 "
                f"{base.strategy_sha256[:12]}; pin the sweep to a copy that was not edited"
            )
    else:
        data = library.get_strategy(store, base.source_bucket, base.strategy).source.encode()
    sha = sha256_hex(data)
    if store.exists(bucket, key) and sha256_hex(store.get_bytes(bucket, key)) != sha:
        raise StrategyError(
            f"{store.uri(bucket, key)} already holds other bytes; use a new sweep id"
        )
    store.put_bytes(bucket, key, data)
    pinned = replace(base, strategy_source=store.uri(bucket, key), strategy_sha256=sha)
    return replace(spec, base=pinned)


def strategy_for_sweep_record(
    store: Store, bucket: str, record: Any, env: Mapping[str, str] | None = None
) -> Strategy | None:
    """Load (and register by name) a sweep's strategy file from its raw spec.json record,
    before the spec is validated; None for a built-in. A file strategy without its pinned copy
    is refused: its children could run different versions."""
    base = record.get("base") if isinstance(record, Mapping) else None
    if not isinstance(base, Mapping):
        return None  # load_doc says what is wrong with the record
    name = base.get("strategy")
    if not isinstance(name, str) or name in STRATEGIES:
        return None
    source, sha = base.get("strategy_source"), base.get("strategy_sha256")
    if not isinstance(source, str) or not isinstance(sha, str):
        sweep_id = record.get("sweep_id")
        raise StrategyError(
            f"sweep {sweep_id!r} runs the strategy file {name!r} without a pinned copy "
            f"(sweeps/{sweep_id}/strategy.py); submit it again (the submit pins the file)"
        )
    src_bucket, key = _split(source)
    return load_pinned(store, src_bucket, key, name=name, sha256=sha, env=env)


@dataclass(frozen=True)
class RecordedCopy:
    """The exact strategy source an old run or sweep ran: its ``name``, where the copy is
    (``uri``: ``runs/<id>/strategy.py`` or ``sweeps/<id>/strategy.py``), the ``sha256`` its
    spec.json records and the ``source`` bytes (checked against it)."""

    origin: str  # "run <id>" | "sweep <id>"
    name: str
    uri: str
    sha256: str
    source: bytes


def recorded_copy(
    store: Store, result_bucket: str, *, run_id: str | None = None, sweep_id: str | None = None
) -> RecordedCopy | None:
    """The copy a rerun of run ``run_id`` (or sweep ``sweep_id``) loads, read and checked
    against the sha256 in its spec.json; None when it ran a built-in. No user code runs.

    NotFoundError or StrategyError (one line naming the object and what to do) when the spec
    or the copy is missing or the copy is not the bytes recorded."""
    from engine.store.runs import SPEC
    from engine.sweep.results import read_json

    if (run_id is None) == (sweep_id is None):
        raise ValueError("give run_id or sweep_id")
    if run_id is not None:
        origin, prefix = f"run {run_id}", run_prefix(run_id)
    else:
        from engine.sweep.results import sweep_prefix

        origin, prefix = f"sweep {sweep_id}", sweep_prefix(str(sweep_id))
    spec_where = store.uri(result_bucket, prefix + SPEC)
    try:
        record = read_json(store, result_bucket, prefix + SPEC)
    except NotFoundError:
        raise NotFoundError(
            f"{origin} recorded no spec.json ({spec_where} is missing: it did not start or was "
            "removed); rerun from the current strategy file instead"
        ) from None
    base = record.get("base") if isinstance(record, Mapping) and sweep_id is not None else record
    if not isinstance(base, Mapping) or not isinstance(base.get("strategy"), str):
        raise StrategyError(f"{spec_where} names no strategy; rerun from the current file")
    name, sha = str(base["strategy"]), base.get("strategy_sha256")
    if name in STRATEGIES:
        return None
    where = store.uri(result_bucket, prefix + STRATEGY)
    if not isinstance(sha, str):
        raise StrategyError(
            f"{spec_where} records no strategy_sha256 for {name!r}, so {where} cannot be "
            "checked; rerun from the current strategy file instead"
        )
    try:
        data = store.get_bytes(result_bucket, prefix + STRATEGY)
    except NotFoundError:
        raise NotFoundError(
            f"the recorded copy of {origin} is missing ({where}); rerun from the current "
            f"strategy file strategies/{name}.py instead"
        ) from None
    if sha256_hex(data) != sha:
        raise StrategyError(
            f"{where} does not have the sha256 {sha[:12]} that {origin} recorded (it was "
            "changed); rerun from the current strategy file instead"
        )
    return RecordedCopy(origin, name, where, sha, data)


def read_copy(store: Store, uri: str, sha256: str, *, fix: str) -> bytes:
    """The bytes of the pinned copy at ``uri``, refused in one line (ending with ``fix``) when
    it is missing or does not have ``sha256``. Reads only: no user code runs."""
    try:
        data = store.get_bytes(*_split(uri))
    except NotFoundError:
        raise NotFoundError(f"the strategy copy {uri} is missing; {fix}") from None
    if sha256_hex(data) != sha256:
        raise StrategyError(
            f"{uri} does not have the sha256 {sha256[:12]} it was pinned to (now "
            f"{sha256_hex(data)[:12]}); {fix}"
        )
    return data
