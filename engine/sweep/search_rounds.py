"""A TPE sweep's rounds: the layout of its asked trials and how rounds map onto chunks.

A ``mode="tpe"`` sweep (:mod:`engine.sweep.search_spec`) has ``n`` (the budget) trials; trial
``k`` is combination id ``k`` (column ``combo_id``), so the chunk, returns, summary and
robustness layout of an ordinary sweep holds unchanged. Trials are asked ``round_size`` at a time
by the jobs layer (optuna lives there, never in the engine) and written, before the round's array
job is submitted, to::

    sweeps/<id>/search/round-<r>.json   {"round": r, "trials": [{"trial": k, "params": {...}}, ...],
                                         "asked_at": ISO time}

A round file is written once: :func:`write_round` refuses to replace one that differs, so a
repeated step cannot change the trials a child already evaluated.

The chunk plan is uniform over the whole budget, ``ChunkPlan(n_children, chunk_size)`` with a
``chunk_size`` that divides ``round_size`` (:func:`round_chunk_size`), so round ``r`` is exactly
the chunks ``first_chunk(r) .. first_chunk(r) + children(r) - 1``: its array child ``i`` takes
global chunk ``first_chunk(r) + i``.

>>> layout = RoundLayout(budget=100, round_size=32, chunk_size=16)
>>> [layout.trials(r) for r in range(layout.n_rounds)]
[range(0, 32), range(32, 64), range(64, 96), range(96, 100)]
>>> layout.first_chunk(3), layout.children(3), layout.n_children
(6, 1, 7)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from engine.errors import InfraError, NotFoundError, ParamError
from engine.store.objects import Store
from engine.store.runs import to_json_bytes, utc_now

SEARCH = "search/"


def round_key(sweep_id: str, r: int) -> str:
    """``sweeps/<id>/search/round-<r>.json``."""
    from engine.sweep.results import sweep_prefix  # results imports spec, which imports us

    return f"{sweep_prefix(sweep_id)}{SEARCH}round-{int(r)}.json"


def round_chunk_size(round_size: int, wanted: int) -> int:
    """The largest divisor of ``round_size`` that is at most ``wanted`` (>= 1).

    >>> round_chunk_size(32, 10), round_chunk_size(32, 1000), round_chunk_size(31, 10)
    (8, 32, 1)
    """
    wanted = max(1, min(int(wanted), int(round_size)))
    return next(c for c in range(wanted, 0, -1) if round_size % c == 0)


class RoundLayout(NamedTuple):
    """How ``budget`` trials split into rounds of ``round_size`` and chunks of ``chunk_size``."""

    budget: int
    round_size: int
    chunk_size: int  # divides round_size

    @property
    def n_rounds(self) -> int:
        return -(-self.budget // self.round_size)

    @property
    def n_children(self) -> int:
        """Chunks over the whole budget (spec.json's ``n_children``)."""
        return -(-self.budget // self.chunk_size)

    def trials(self, r: int) -> range:
        """The trial numbers (combination ids) of round ``r``."""
        self._check(r)
        return range(r * self.round_size, min(self.budget, (r + 1) * self.round_size))

    def first_chunk(self, r: int) -> int:
        """The global chunk index of round ``r``'s array child 0."""
        self._check(r)
        return r * (self.round_size // self.chunk_size)

    def children(self, r: int) -> int:
        """Round ``r``'s array size (its chunks)."""
        return -(-len(self.trials(r)) // self.chunk_size)

    def round_of(self, chunk: int) -> int:
        """The round that global chunk ``chunk`` belongs to.

        >>> RoundLayout(budget=100, round_size=32, chunk_size=16).round_of(5)
        2
        """
        if (
            isinstance(chunk, bool)
            or not isinstance(chunk, int)
            or not 0 <= chunk < self.n_children
        ):
            raise ParamError(f"chunk {chunk!r} is outside 0..{self.n_children - 1} of this search")
        return chunk // (self.round_size // self.chunk_size)

    def _check(self, r: int) -> None:
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < self.n_rounds:
            raise ParamError(f"round {r!r} is outside 0..{self.n_rounds - 1} of this search")


class Trial(NamedTuple):
    """One asked trial: its number (= combo_id) and its parameters."""

    number: int
    params: dict[str, Any]


def round_record(r: int, trials: list[Trial]) -> dict[str, Any]:
    """The JSON of round ``r``'s file."""
    return {
        "round": int(r),
        "trials": [{"trial": int(t.number), "params": dict(t.params)} for t in trials],
        "asked_at": utc_now(),
    }


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("round") == b.get("round") and a.get("trials") == b.get("trials")


def write_round(store: Store, bucket: str, sweep_id: str, r: int, trials: list[Trial]) -> str:
    """Write round ``r``'s trials once; return the key. An identical file already there is kept;
    a different one raises InfraError (a round's trials never change once asked)."""
    key = round_key(sweep_id, r)
    record = round_record(r, trials)
    if store.exists(bucket, key):
        if _same(json.loads(store.get_bytes(bucket, key)), record):
            return key
        raise InfraError(
            f"{store.uri(bucket, key)} already holds other trials for round {r}; a round is asked "
            "once (resume the search instead of asking it again)"
        )
    store.put_bytes(bucket, key, to_json_bytes(record))
    return key


def read_round(store: Store, bucket: str, sweep_id: str, r: int) -> list[Trial]:
    """Round ``r``'s trials; NotFoundError when it was not asked yet, ParamError when damaged."""
    key = round_key(sweep_id, r)
    if not store.exists(bucket, key):
        raise NotFoundError(f"{store.uri(bucket, key)} does not exist: round {r} was not asked")
    try:
        record = json.loads(store.get_bytes(bucket, key))
        out = [Trial(int(t["trial"]), dict(t["params"])) for t in record["trials"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ParamError(f"{store.uri(bucket, key)} is damaged ({exc}); rerun the search") from None
    if record.get("round") != r:
        raise ParamError(f"{store.uri(bucket, key)} says round {record.get('round')!r}, not {r}")
    return out


__all__ = [
    "RoundLayout",
    "Trial",
    "read_round",
    "round_chunk_size",
    "round_key",
    "write_round",
]
