"""One sweep array child: ``python -m engine.backtest --sweep s3://BUCKET/sweeps/ID/spec.json``.

The child reads spec.json, takes its chunk from ``AWS_BATCH_JOB_ARRAY_INDEX`` (a plain job of a
one-chunk sweep has no index: chunk 0), evaluates its slice of the file-major task list with
:func:`engine.sim.sweep_kernels.evaluate` (each input file loaded once, indicator work shared, no
per-combination equity kept) and writes ``returns/<i>.npy`` then ``chunks/<i>.parquet`` (each
atomic; the parquet's presence marks the chunk done). A retry rewrites only chunk ``i``.

When the chunk's *input* is bad (a data or parameter error, the same on every retry) the child
writes ``chunks/<i>.error.json``, prints the one-line error and exits 0, so the collect job
still runs and names the chunk under ``failed_chunks``. Infrastructure and internal errors exit
non-zero (retried by the executor); the collect job then fails with the array, and
``python -m engine.sweep.collect URI`` can be run by hand once the chunk is fixed.

A TPE search's round child (``--sweep URI --round R``) is the same child on global chunk
``first_chunk(R) + index`` with its trials from ``search/round-<R>.json``
(:mod:`engine.sweep.search_child`).
"""

from __future__ import annotations

import io
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import BacktestError, ParamError
from engine.sim.metrics import METRIC_NAMES
from engine.sim.strategies import Strategy, get_strategy
from engine.sim.sweep_kernels import RETURN_PERIODS, BoundedCache, evaluate
from engine.store.objects import Store, open_store
from engine.store.runs import error_record, frame_to_parquet, to_json_bytes
from engine.sweep.plan import chunk_indices, tasks_by_file
from engine.sweep.results import (
    SweepDoc,
    chunk_error_key,
    chunk_key,
    load_doc,
    parse_uri,
    read_json,
    returns_key,
)
from engine.sweep.spec import COMBO_ID, combinations

INDEX_VAR = "AWS_BATCH_JOB_ARRAY_INDEX"
SOURCE_KEY = "source_key"


def array_index(env: Mapping[str, str], n_children: int, what: str = "a sweep") -> int:
    """This child's chunk index from the environment; ParamError when missing or invalid
    (``what`` names the array in the message: "a sweep", "round 3")."""
    raw = env.get(INDEX_VAR)
    if raw is None or raw.strip() == "":
        if n_children == 1:
            return 0  # a one-chunk sweep runs as a plain job, which has no array index
        raise ParamError(
            f"{INDEX_VAR} is not set; {what} of {n_children} chunks runs as an array job "
            f"(set {INDEX_VAR}=0..{n_children - 1} to run one chunk by hand)"
        )
    try:
        index = int(raw.strip())
    except ValueError:
        raise ParamError(f"{INDEX_VAR}={raw!r} is not an integer") from None
    if not 0 <= index < n_children:
        raise ParamError(f"{INDEX_VAR}={index} is out of range 0..{n_children - 1}")
    return index


def load_file(store: Store, bucket: str, key: str, min_bars: int) -> pd.DataFrame:
    """Load one input file (warnings printed on stderr, not raised)."""
    from engine.data import load_prices

    data = store.get_bytes(bucket, key)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prices = load_prices(data, name=store.uri(bucket, key), min_bars=min_bars)
    for w in caught:
        print(f"warning: {' '.join(str(w.message).split())}", file=sys.stderr)
    return prices


def chunk_frame(
    ids: range, key: str, strategy: Strategy, combos: list[dict[str, Any]], metrics: np.ndarray
) -> pd.DataFrame:
    """Rows of one file's part of a chunk: combo_id, source_key, params, every metric."""
    from engine.sim.kernels import METRIC_ORDER

    frame = pd.DataFrame(combos, columns=[p.name for p in strategy.params])
    frame.insert(0, SOURCE_KEY, key)
    frame.insert(0, COMBO_ID, np.arange(ids.start, ids.stop, dtype=np.int64))
    position = {name: i for i, name in enumerate(METRIC_ORDER)}
    for name in METRIC_NAMES:
        frame[name] = metrics[:, position[name]]
    frame["ruined"] = frame["ruined"] != 0.0  # the ruin flag is a boolean column (H2, ruin)
    return frame


def evaluate_chunk(
    store: Store,
    doc: SweepDoc,
    index: int,
    *,
    n_periods: int = RETURN_PERIODS,
    trials: list[dict[str, Any]] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Chunk ``index``'s rows and its (rows x n_periods) float32 per-period return matrix.

    ``trials``: a TPE chunk's parameter dicts (:func:`engine.sweep.search_child.chunk_trials`,
    one input file); otherwise the combinations come from the space."""
    spec = doc.spec
    strategy = get_strategy(spec.base.strategy)
    tasks = chunk_indices(index, doc.plan, doc.n_tasks)
    frames: list[pd.DataFrame] = []
    matrices: list[np.ndarray] = []
    for key, ids in tasks_by_file(tasks, doc.n_combinations, spec.source_keys):
        raw = combinations(spec, ids.start, ids.stop) if trials is None else trials
        combos = [strategy.validate(c) for c in raw]
        if len(combos) != len(ids):
            raise ParamError(
                f"spec.json says {doc.n_combinations} combinations but the space yields fewer; "
                "the spec was changed after submission"
            )
        min_bars = max(int(strategy.warmup_fn(c)) for c in combos) + 1
        prices = load_file(store, spec.base.source_bucket, key, min_bars)
        cache = BoundedCache()
        metrics, returns = evaluate(
            prices, strategy, combos, spec.base.options, n_periods=n_periods, cache=cache
        )
        frames.append(chunk_frame(ids, key, strategy, combos, metrics))
        padded = np.full((len(combos), n_periods), np.nan, dtype=np.float32)
        padded[:, : returns.shape[1]] = returns
        matrices.append(padded)
    if not frames:
        return pd.DataFrame(), np.empty((0, n_periods), dtype=np.float32)
    return pd.concat(frames, ignore_index=True), np.concatenate(matrices)


def npy_bytes(matrix: np.ndarray) -> bytes:
    """``matrix`` in .npy format (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, matrix, allow_pickle=False)
    return buf.getvalue()


def write_chunk(
    store: Store,
    bucket: str,
    doc: SweepDoc,
    index: int,
    result: tuple[pd.DataFrame, np.ndarray],
) -> str:
    """Write returns/<i>.npy then chunks/<i>.parquet (the done marker); return the chunk key."""
    sweep_id = doc.spec.sweep_id
    frame, returns = result
    store.delete(bucket, chunk_error_key(sweep_id, index))
    store.put_bytes(bucket, returns_key(sweep_id, index), npy_bytes(returns))
    key = chunk_key(sweep_id, index)
    store.put_bytes(bucket, key, frame_to_parquet(frame))
    return key


def record_failure(store: Store, bucket: str, doc: SweepDoc, index: int, exc: Exception) -> str:
    """Replace chunk ``index``'s results by ``chunks/<i>.error.json``; return its key."""
    sweep_id = doc.spec.sweep_id
    store.delete(bucket, chunk_key(sweep_id, index))
    store.delete(bucket, returns_key(sweep_id, index))
    record = error_record(sweep_id, exc)
    record["index"] = index
    key = chunk_error_key(sweep_id, index)
    store.put_bytes(bucket, key, to_json_bytes(record))
    return key


def load_sweep_doc(
    store: Store, bucket: str, key: str, env: Mapping[str, str] | None = None
) -> SweepDoc:
    """:func:`load_doc`, after loading the sweep's strategy file from its pinned copy
    (``sweeps/<id>/strategy.py``; nothing for a built-in) so the spec validates against it."""
    from engine.userstrat.pin import strategy_for_sweep_record

    strategy_for_sweep_record(store, bucket, read_json(store, bucket, key), env)
    return load_doc(store, bucket, key)


def child_chunk(doc: SweepDoc, env: Mapping[str, str], round_: int | None) -> int:
    """The global chunk this child evaluates: the array index, or with ``round_`` (a TPE
    search's round) ``first_chunk(round_)`` + the index within the round's array."""
    if round_ is None:
        return array_index(env, doc.n_children)
    from engine.sweep.search_child import round_children, round_chunk

    n = round_children(doc, round_)
    return round_chunk(doc, round_, array_index(env, n, f"round {round_}"))


def run_sweep_child(uri: str, env: Mapping[str, str], round_: int | None = None) -> int:
    """Evaluate and write this child's chunk of the sweep at ``uri``; return the exit code.

    ``round_``: the TPE round whose array this child belongs to (``--round R``). Errors before
    the chunk is known (bad URI, unreadable spec, bad index or round, a round file not written)
    raise, and the engine CLI turns them into one line and a non-zero exit.
    """
    bucket, key = parse_uri(uri)
    store = open_store(env)
    doc = load_sweep_doc(store, bucket, key, env)
    index = child_chunk(doc, env, round_)
    trials = None
    if doc.spec.mode == "tpe":
        from engine.sweep.search_child import chunk_trials

        trials = chunk_trials(store, bucket, doc, index)
    try:
        result = evaluate_chunk(store, doc, index, trials=trials)
    except BacktestError as exc:
        where = record_failure(store, bucket, doc, index, exc)
        print(f"error: {exc}", file=sys.stderr)
        print(f"chunk {index} failed; recorded in {store.uri(bucket, where)}", file=sys.stderr)
        return 0
    written = write_chunk(store, bucket, doc, index, result)
    print(f"chunk {index}: {len(result[0])} backtests -> {store.uri(bucket, written)}", flush=True)
    return 0
