"""A TPE sweep's results so far: the evaluated trials of rounds ``0..r`` as one table.

The jobs layer's step ``r`` (``python -m jobs search-step URI --round r``) tells optuna every
trial evaluated so far before it asks round ``r + 1``; it reads them through :func:`read_trials`,
which reads the chunks of rounds ``0..r`` (:class:`~engine.sweep.search_rounds.RoundLayout`:
round ``r`` is global chunks ``first_chunk(r) .. first_chunk(r) + children(r) - 1``) and returns
one row per trial::

    combo_id (= the trial number), round, every strategy parameter, every metric, ruined

A round that is not complete is never told half-way: a chunk of those rounds that is missing (its
array child did not finish) raises :class:`RoundIncomplete` (an InfraError: rerun the child),
one that failed on its input (``chunks/<i>.error.json``) raises a ParamError with the child's own
message; both name the chunk and the command that reruns it.

>>> from engine.spec import RunSpec
>>> from engine.sweep.spec import SweepSpec
>>> spec = SweepSpec("s", RunSpec("in", "a.csv", "out"), {"fast": "2:20:1"}, mode="tpe", n=100)
>>> layout_for(spec.validate(), n_combinations=100, n_children=7, chunk_size=16)
RoundLayout(budget=100, round_size=32, chunk_size=16)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import InfraError, ParamError
from engine.store.objects import Store
from engine.sweep.results import (
    SweepDoc,
    chunk_error_key,
    chunk_key,
    chunk_state,
    read_chunk,
    read_json,
    spec_key,
)
from engine.sweep.search_rounds import RoundLayout
from engine.sweep.spec import COMBO_ID, SweepSpec

ROUND = "round"
SOURCE_KEY = "source_key"  # the chunks' file column; a TPE sweep has one input file


class RoundIncomplete(InfraError):
    """A chunk of the rounds asked for has not been written yet (its array child did not finish).

    ``missing`` lists the global chunk indices without a file."""

    def __init__(self, message: str, missing: list[int]) -> None:
        super().__init__(message)
        self.missing = list(missing)


def layout_for(
    spec: SweepSpec, *, n_combinations: int, n_children: int, chunk_size: int
) -> RoundLayout:
    """The RoundLayout of a validated ``mode="tpe"`` spec with spec.json's plan numbers.

    ParamError when the spec is not a TPE search or the numbers do not form the uniform plan of
    search_rounds.py (budget = n_combinations, chunk_size dividing round_size, n_children chunks).
    """
    if spec.mode != "tpe" or spec.search is None:
        raise ParamError(f"sweep {spec.sweep_id} is a {spec.mode} sweep, not a TPE search")
    round_size = spec.search.round_size
    if n_combinations != spec.n:
        raise ParamError(
            f"sweep {spec.sweep_id}: spec.json says {n_combinations} combinations but the "
            f"search's budget is {spec.n} trials; the spec was edited by hand"
        )
    if chunk_size < 1 or round_size % chunk_size:
        raise ParamError(
            f"sweep {spec.sweep_id}: chunk size {chunk_size} does not divide the round size "
            f"{round_size}; a TPE sweep's rounds must be whole chunks"
        )
    layout = RoundLayout(int(n_combinations), round_size, int(chunk_size))
    if layout.n_children != n_children:
        raise ParamError(
            f"sweep {spec.sweep_id}: spec.json says {n_children} chunks but {n_combinations} "
            f"trials in chunks of {chunk_size} make {layout.n_children}"
        )
    return layout


def search_layout(doc: SweepDoc) -> RoundLayout:
    """The RoundLayout of the TPE sweep described by ``doc`` (ParamError if it is none)."""
    return layout_for(
        doc.spec,
        n_combinations=doc.n_combinations,
        n_children=doc.n_children,
        chunk_size=doc.chunk_size,
    )


def round_chunks(layout: RoundLayout, r: int) -> range:
    """The global chunk indices of round ``r``."""
    first = layout.first_chunk(r)
    return range(first, first + layout.children(r))


def rerun_hint(store: Store, bucket: str, doc: SweepDoc, layout: RoundLayout, chunk: int) -> str:
    """The command that reruns global ``chunk`` as its round's array child."""
    r = layout.round_of(chunk)
    uri = store.uri(bucket, spec_key(doc.spec.sweep_id))
    return (
        f"AWS_BATCH_JOB_ARRAY_INDEX={chunk - layout.first_chunk(r)} "
        f"python -m engine.backtest --sweep {uri} --round {r}"
    )


def _check_rows(frame: pd.DataFrame, doc: SweepDoc, chunk: int, where: str) -> None:
    size = doc.chunk_size
    want = np.arange(chunk * size, min((chunk + 1) * size, doc.n_combinations), dtype=np.int64)
    got = frame[COMBO_ID].to_numpy(dtype=np.int64) if COMBO_ID in frame.columns else None
    if got is None or not np.array_equal(got, want):
        raise ParamError(
            f"{where} does not hold trials {want[0]}..{want[-1]} of chunk {chunk}; it was "
            "written for another spec (rerun the chunk)"
        )


def _raise_unfinished(
    store: Store, bucket: str, doc: SweepDoc, layout: RoundLayout, gaps: tuple[list, list]
) -> None:
    failed, missing = gaps
    sweep_id = doc.spec.sweep_id
    if failed:
        c = failed[0]
        err = read_json(store, bucket, chunk_error_key(sweep_id, c))
        message = err.get("error") if isinstance(err, dict) else err
        raise ParamError(
            f"round {layout.round_of(c)} chunk {c} of sweep {sweep_id} failed: {message} "
            f"({len(failed)} failed chunk(s): {', '.join(map(str, failed[:10]))}); fix the "
            f"cause, rerun it with `{rerun_hint(store, bucket, doc, layout, c)}`, then the step"
        )
    c = missing[0]
    raise RoundIncomplete(
        f"round {layout.round_of(c)} chunk {c} of sweep {sweep_id} has no "
        f"{store.uri(bucket, chunk_key(sweep_id, c))} ({len(missing)} missing chunk(s): "
        f"{', '.join(map(str, missing[:10]))}): its array child did not finish; rerun it with "
        f"`{rerun_hint(store, bucket, doc, layout, c)}`, then the step",
        missing,
    )


def read_trials(store: Store, bucket: str, doc: SweepDoc, upto_round: int) -> pd.DataFrame:
    """Every trial of rounds ``0..upto_round`` of the TPE sweep ``doc``, by trial number.

    Columns: ``combo_id`` (the trial number), ``round``, every strategy parameter, every metric,
    ``ruined`` (bool). ParamError for a round outside the search or a chunk that failed on its
    input; :class:`RoundIncomplete` for a chunk not written yet.
    """
    layout = search_layout(doc)
    layout.trials(upto_round)  # ParamError for a round outside 0..n_rounds-1
    sweep_id = doc.spec.sweep_id
    wanted = range(layout.first_chunk(upto_round) + layout.children(upto_round))
    state = chunk_state(store, bucket, sweep_id, doc.n_children)
    done = set(state.done)
    failed = [c for c in state.failed if c in wanted]
    missing = [c for c in state.missing if c in wanted]
    if failed or missing:
        _raise_unfinished(store, bucket, doc, layout, (failed, missing))
    frames = []
    for c in wanted:
        if c not in done:  # pragma: no cover - chunk_state counts every chunk in one of 3 lists
            raise RoundIncomplete(f"chunk {c} of sweep {sweep_id} is not written", [c])
        frame = read_chunk(store, bucket, sweep_id, c)
        _check_rows(frame, doc, c, store.uri(bucket, chunk_key(sweep_id, c)))
        frame = frame.drop(columns=[SOURCE_KEY], errors="ignore")
        frame.insert(1, ROUND, np.int64(layout.round_of(c)))
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out[ROUND] = out[ROUND].astype(np.int64)
    return out


__all__ = [
    "ROUND",
    "RoundIncomplete",
    "layout_for",
    "read_trials",
    "rerun_hint",
    "round_chunks",
    "search_layout",
]
