"""A TPE round's array child: which chunk it is and which trials it evaluates.

``python -m engine.backtest --sweep s3://B/sweeps/ID/spec.json --round R`` is round ``R``'s
array child ``i`` (``AWS_BATCH_JOB_ARRAY_INDEX``; a round of one chunk runs as a plain job, which
has no index: 0). It evaluates global chunk ``first_chunk(R) + i``
(:class:`~engine.sweep.search_rounds.RoundLayout`), so its files are the ordinary
``chunks/<global>.parquet`` and ``returns/<global>.npy`` and the collect, the resume and the
dashboard read a TPE sweep like any other. Without ``--round`` the index is the global chunk
itself (what a resume child passes). The trials come from ``search/round-<R>.json``: the chunk's
combination ids are trial numbers, their parameters the round file's, each one checked against
the space here and against the strategy (bounds and constraints) by the child.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.errors import NotFoundError, ParamError
from engine.store.objects import Store
from engine.sweep.results import SweepDoc, spec_key
from engine.sweep.search_results import search_layout
from engine.sweep.search_rounds import read_round, round_key
from engine.sweep.spec import ParamSpace


def round_chunk(doc: SweepDoc, r: int, array_index: int) -> int:
    """Global chunk of round ``r``'s array child ``array_index`` (ParamError naming the range)."""
    if doc.spec.mode != "tpe":
        raise ParamError(
            f"--round applies to a TPE search; sweep {doc.spec.sweep_id} is a {doc.spec.mode} "
            "sweep: run its children without --round"
        )
    layout = search_layout(doc)
    if not 0 <= r < layout.n_rounds:
        raise ParamError(
            f"--round {r} is outside this search's rounds 0..{layout.n_rounds - 1} "
            f"({layout.budget} trials in rounds of {layout.round_size})"
        )
    return layout.first_chunk(r) + array_index


def round_children(doc: SweepDoc, r: int) -> int:
    """Round ``r``'s array size, after the checks of :func:`round_chunk`."""
    round_chunk(doc, r, 0)
    return search_layout(doc).children(r)


def in_space(space: ParamSpace, value: Any) -> bool:
    """True when ``value`` is one of a list's values or inside a range's bounds."""
    if not space.is_range:
        return value in space.values
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    low, high = float(space.start or 0), float(space.stop or 0)
    slack = 1e-9 * max(1.0, abs(low), abs(high))
    return low - slack <= float(value) <= high + slack


def _checked(doc: SweepDoc, number: int, params: Mapping[str, Any], where: str) -> dict[str, Any]:
    space = doc.spec.space
    if set(params) != set(space):
        raise ParamError(
            f"{where}: trial {number} sets {sorted(params)}, not the searched parameters "
            f"{sorted(space)}; the round file was not asked for this spec"
        )
    for name, value in params.items():
        if not in_space(space[name], value):
            raise ParamError(f"{where}: trial {number} has {name}={value!r}, outside {space[name]}")
    return {**doc.spec.base.params, **params}


def chunk_trials(store: Store, bucket: str, doc: SweepDoc, index: int) -> list[dict[str, Any]]:
    """The parameter dicts of global chunk ``index``'s trials (in trial order), read from its
    round file; the strategy still validates them. NotFoundError when the round was not asked,
    ParamError when its file does not hold exactly the round's trials or a value is off the
    space."""
    layout = search_layout(doc)
    r = layout.round_of(index)
    where = store.uri(bucket, round_key(doc.spec.sweep_id, r))
    try:
        trials = read_round(store, bucket, doc.spec.sweep_id, r)
    except NotFoundError:
        step = (
            "the search's first round is written at submit: submit the search again"
            if r == 0
            else f"round {r - 1}'s step asks it: run `python -m jobs search-step "
            f"{store.uri(bucket, spec_key(doc.spec.sweep_id))} --round {r - 1}` first"
        )
        raise NotFoundError(
            f"{where} does not exist: round {r} was not asked yet; {step}"
        ) from None
    by_number = {t.number: t.params for t in trials}
    expected = layout.trials(r)
    if len(by_number) != len(trials) or set(by_number) != set(expected):
        raise ParamError(
            f"{where} holds trials {sorted(by_number)[:5]}..., not round {r}'s trials "
            f"{expected.start}..{expected.stop - 1}; the round file was edited"
        )
    size = doc.chunk_size
    ids = range(index * size, min((index + 1) * size, layout.budget))
    return [_checked(doc, k, by_number[k], where) for k in ids]


__all__ = ["chunk_trials", "in_space", "round_children", "round_chunk"]
