"""The team's strategy files in the input bucket: put, list, get, delete (no user code runs).

``strategies/<NAME>.py`` holds the source; ``strategies/<NAME>.json`` (the sidecar) holds the
schema, the sha256, who added it and when, *and the source itself*, so a reader of the sidecar
never pairs a schema with other bytes. Writes go ``.py`` then ``.json`` (each object atomic);
deletes ``.json`` then ``.py``. Every reader here goes through the sidecar and checks its
sha256, so a ``.py`` without its ``.json`` (a half-finished add, a hand copy) is not a stored
strategy, and a reader never sees half-written bytes. Each change also appends a record
``strategies/_history/<ns since 1970>-<NAME>-<action>-<rand>.json``: {action, name, sha256,
user, at}.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from engine.errors import NotFoundError, StrategyError
from engine.sim import contract as ct
from engine.store.objects import Store
from engine.store.runs import to_json_bytes, utc_now
from engine.userstrat.loader import sha256_hex
from engine.userstrat.validate import StrategyInfo, validate_source

STRATEGY_PREFIX = "strategies/"
HISTORY_PREFIX = STRATEGY_PREFIX + "_history/"


def source_key(name: str) -> str:
    """``strategies/<NAME>.py``."""
    return f"{STRATEGY_PREFIX}{_checked_name(name)}.py"


def sidecar_key(name: str) -> str:
    """``strategies/<NAME>.json``."""
    return f"{STRATEGY_PREFIX}{_checked_name(name)}.json"


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not ct.is_name(name):
        raise StrategyError(
            f"invalid strategy name {name!r}: use [a-z][a-z0-9_]{{0,63}}, e.g. close_above_sma"
        )
    return name


def _history(store: Store, bucket: str, action: str, info: StrategyInfo, user: str) -> None:
    ns = time.time_ns()  # sorts in time order (two changes in one second too)
    key = f"{HISTORY_PREFIX}{ns:020d}-{info.name}-{action}-{secrets.token_hex(2)}.json"
    record = {"action": action, "name": info.name, "sha256": info.sha256, "user": user}
    store.put_bytes(bucket, key, to_json_bytes({**record, "at": utc_now()}))


def put_strategy(  # noqa: PLR0913 - the brief's signature plus the file name
    store: Store,
    bucket: str,
    source: str | bytes,
    *,
    user: str,
    overwrite: bool = False,
    filename: str | None = None,
) -> StrategyInfo:
    """Validate ``source`` (in a subprocess), then store it as ``strategies/<NAME>.py`` + sidecar.

    A refused file is not stored (StrategyError). An existing NAME with other bytes is refused
    unless ``overwrite``; the same bytes again write nothing and return the stored info.
    """
    info = validate_source(source, filename or "strategy.py")
    if not store.bucket_exists(bucket):
        raise NotFoundError(f"input bucket {bucket!r} does not exist")
    old = _read(store, bucket, info.name, missing_ok=True)
    if old is not None and old.sha256 == info.sha256:
        return old
    if old is not None and not overwrite:
        raise StrategyError(
            f"strategy {info.name!r} already exists in {store.uri(bucket, source_key(info.name))} "
            f"(sha256 {old.sha256[:12]}, added by {old.added_by or '?'} at {old.added_at or '?'})"
            "; to replace it add it again with --overwrite (python -m jobs strategy add FILE "
            "--overwrite; overwrite=True in Python)"
        )
    stored = StrategyInfo(
        info.name,
        info.description,
        info.params,
        info.constraints,
        info.sha256,
        info.source,
        added_by=user,
        added_at=utc_now(),
    )
    store.put_bytes(bucket, source_key(info.name), info.source.encode("utf-8"))
    store.put_bytes(bucket, sidecar_key(info.name), to_json_bytes(stored.to_json(with_source=True)))
    _history(store, bucket, "replace" if old is not None else "add", stored, user)
    return stored


def _read(store: Store, bucket: str, name: str, *, missing_ok: bool = False) -> StrategyInfo | None:
    key = sidecar_key(name)
    try:
        raw = store.get_bytes(bucket, key)
    except NotFoundError:
        if missing_ok:
            return None
        raise NotFoundError(
            f"no strategy {name!r} in {store.uri(bucket, STRATEGY_PREFIX)}; add it with "
            "python -m jobs strategy add FILE (or see python -m jobs strategy ls)"
        ) from None
    return _parse(store.uri(bucket, key), raw)


def _parse(where: str, raw: bytes) -> StrategyInfo:
    try:
        data: Any = json.loads(raw)
        source = str(data["source"])
        info = StrategyInfo.from_json(data, source)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise StrategyError(
            f"{where} is damaged ({type(exc).__name__}: {exc}); add the strategy again"
        ) from None
    if sha256_hex(source) != info.sha256:
        raise StrategyError(
            f"{where}: the source does not match its sha256 (edited by hand?); add it again"
        )
    return info


def get_strategy(store: Store, bucket: str, name: str) -> StrategyInfo:
    """The stored strategy ``name`` (from its sidecar); NotFoundError when there is none."""
    info = _read(store, bucket, name)
    if info is None:  # pragma: no cover - _read raises unless missing_ok
        raise NotFoundError(f"no strategy {name!r}")
    return info


def list_strategies(store: Store, bucket: str) -> list[StrategyInfo]:
    """Every stored strategy, by name ([] when the bucket or the folder is absent)."""
    if not store.bucket_exists(bucket):
        return []
    out = []
    for obj in store.list(bucket, STRATEGY_PREFIX, delimiter="/"):
        stem = obj.key[len(STRATEGY_PREFIX) :]
        if stem.endswith(".json") and ct.is_name(stem[: -len(".json")]):
            try:
                out.append(_parse(store.uri(bucket, obj.key), store.get_bytes(bucket, obj.key)))
            except NotFoundError:  # deleted between the listing and the read
                continue
    return sorted(out, key=lambda i: i.name)


def delete_strategy(store: Store, bucket: str, name: str, *, user: str) -> None:
    """Remove ``strategies/<NAME>`` (sidecar first); NotFoundError when there is none.

    Runs and sweeps made with it keep their own copies (``strategy.py`` in their prefixes).
    """
    info = get_strategy(store, bucket, name)
    store.delete(bucket, sidecar_key(name))
    store.delete(bucket, source_key(name))
    _history(store, bucket, "delete", info, user)
