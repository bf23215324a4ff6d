"""Collect a sweep: merge the chunks, compute the robustness statistics, re-run the top N.

    python -m engine.sweep.collect s3://BUCKET/sweeps/ID/spec.json [--top-n N]

Runs as the collect job that depends on the array (both backends), or in-process through
:func:`collect`. It writes, in this order, ``summary.parquet`` (every chunk present, by file
then combo_id), the top ``top_n`` combinations by Sharpe re-run as ordinary runs
``runs/<sweep_id>-top<k>/`` (k = 1 is the best), ``robustness.json`` and ``_SUCCESS``. Missing
chunks (no file) and failed chunks (``chunks/<i>.error.json``) are named by index in
robustness.json and on stderr; the summary stands with what exists. Only when no chunk exists
at all does collect fail (``sweeps/<id>/error.json``, non-zero exit). A TPE search ranks by
its first objective and adds the summary's ``round``/``pareto`` columns and robustness.json's
``"search"`` block (:mod:`engine.sweep.search_collect`); the top runs live in
:mod:`engine.sweep.top_runs`.

Robustness (``engine.sweep.robustness``), among the rows of the best row's input file where a
statistic needs one time axis:

- deflated Sharpe of the best row: per-bar Sharpe (sharpe / sqrt(periods_per_year)),
  n_trials = every row of the summary, variance of the rows' per-bar Sharpe, skew and kurtosis
  of the best's per-bar returns from its full re-run, n_obs = its bars;
- PBO by CSCV (16 blocks) on the per-period return matrix (the children's returns/<i>.npy),
  or ``pbo_skipped_reason``;
- plateau score of Sharpe around the best over the swept parameters' axes;
- with ``spec.split``: in-sample vs out-of-sample Sharpe of the top combinations.

Ruined combinations (the boolean ``ruined`` column: equity reached 0, DESIGN.md "Ruin") are
never the best nor a top run: :func:`ranked` leaves them out. They stay trials (n_trials, the
PBO matrix); robustness.json says how many there were (``n_ruined``). When every combination
was ruined there is no best: ``best`` is null, no top run is made and the statistics that need
a best are null with ``best_skipped_reason``.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from engine.errors import BacktestError, InfraError, ParamError
from engine.sim.metrics import returns as bar_returns
from engine.sim.strategies import get_strategy
from engine.store.objects import Store, open_store
from engine.store.runs import (
    frame_to_parquet,
    parquet_to_frame,
    to_json_bytes,
    utc_now,
)
from engine.sweep import robustness as rb
from engine.sweep.child import SOURCE_KEY, load_sweep_doc
from engine.sweep.results import (
    ERROR,
    ROBUSTNESS,
    SPEC_JSON,
    SUCCESS,
    SUMMARY,
    SweepDoc,
    chunk_error_key,
    chunk_key,
    chunk_state,
    parse_uri,
    read_json,
    returns_key,
    sweep_prefix,
)
from engine.sweep.search_collect import best_by, search_block, search_columns
from engine.sweep.spec import COMBO_ID
from engine.sweep.top_runs import (  # noqa: F401 - top_run_id is part of this module's API
    METRIC,
    RUINED,
    TopRuns,
    param_values,
    ranked,
    ruined_mask,
    run_top,
    top_run_id,
)

PBO_SPLITS = 16
PBO_MAX_COMBINATIONS = 250_000  # T x N float64 for CSCV stays under ~130 MB at 64 periods
PBO_CELL_BUDGET = 200_000_000  # splits x combinations evaluated (all 12,870 up to ~15,000)
SEARCH_COLUMNS = ("round", "pareto")  # a TPE search's summary columns (search_collect.py)


# --- reading the chunks ------------------------------------------------------------------------


def load_returns(
    store: Store, bucket: str, sweep_id: str, indices: Sequence[int], rows: Sequence[int]
) -> tuple[np.ndarray | None, list[int]]:
    """The chunks' per-period return matrices stacked (rows aligned with the merged chunks).

    Returns (matrix or None when no chunk has one, chunks whose matrix is absent or does not
    match its row count: their rows are NaN).
    """
    parts: list[np.ndarray | None] = []
    absent: list[int] = []
    width = 0
    for i, n in zip(indices, rows, strict=True):
        try:
            m = np.load(io.BytesIO(store.get_bytes(bucket, returns_key(sweep_id, i))))
        except (BacktestError, ValueError, OSError):
            m = None
        if m is None or m.ndim != 2 or m.shape[0] != n:
            absent.append(i)
            parts.append(None)
            continue
        width = max(width, m.shape[1])
        parts.append(m.astype(np.float32, copy=False))
    if width == 0:
        return None, absent
    out = np.full((sum(rows), width), np.nan, dtype=np.float32)
    at = 0
    for part, n in zip(parts, rows, strict=True):
        if part is not None:
            out[at : at + n, : part.shape[1]] = part
        at += n
    return out, absent


# --- robustness --------------------------------------------------------------------------------


def pbo_block(matrix: np.ndarray | None, note: str = "") -> tuple[float | None, str | None, dict]:
    """(pbo, skipped reason, details) from a rows x periods matrix of one file."""
    if matrix is None:
        return None, "no per-period return matrices were written", {}
    m = matrix[:, ~np.all(np.isnan(matrix), axis=0)]
    m = m[~np.any(np.isnan(m), axis=1)]
    n, t = m.shape
    if n < 2:
        return None, f"PBO needs at least 2 combinations with returns, got {n}", {}
    if n > PBO_MAX_COMBINATIONS:
        return None, f"{n:,} combinations exceed the PBO limit of {PBO_MAX_COMBINATIONS:,}", {}
    if t < PBO_SPLITS:
        return None, f"only {t} return periods; CSCV needs at least {PBO_SPLITS}", {}
    max_splits = max(100, min(20_000, PBO_CELL_BUDGET // n))  # cost ~ splits x combinations
    res = rb.pbo_cscv(m.T.astype(np.float64), n_splits=PBO_SPLITS, max_splits=max_splits)
    details = {
        "n_splits": PBO_SPLITS,
        "n_periods": t,
        "n_combinations": n,
        "splits_used": res.n_used,
        "splits_total": res.n_total,
        "note": note,
    }
    return res.pbo, None, details


def plateau_block(rows: pd.DataFrame, doc: SweepDoc, best_label: Any) -> float | None:
    """Plateau score of Sharpe around the best row over the swept parameters (None if undefined)."""
    names = [n for n in doc.spec.space if n in rows.columns and rows[n].nunique() > 1]
    if not names:
        return None
    axes = None
    if doc.spec.mode == "grid":
        axes = {n: list(doc.spec.space[n].expand()) for n in names}
    try:
        res = rb.plateau_score(rows, names, METRIC, best_row=best_label, axes=axes)
    except ParamError:  # e.g. a value off the axis: no plateau rather than no summary
        return None
    return res.score if math.isfinite(res.score) else None


def oos_block(
    matrix: np.ndarray | None, rows: pd.DataFrame, doc: SweepDoc, ppy_periods: float
) -> tuple[list[dict[str, Any]], str | None]:
    """(in-sample vs out-of-sample Sharpe of the top combinations per fold of ``spec.split``,
    why it was skipped or None)."""
    if doc.spec.split is None:
        return [], None
    if matrix is None or ppy_periods <= 0:
        return [], "no per-period return matrices were written"
    keep = ~np.any(np.isnan(matrix[:, ~np.all(np.isnan(matrix), axis=0)]), axis=1)
    m = matrix[keep][:, ~np.all(np.isnan(matrix[keep]), axis=0)]
    if m.shape[0] == 0:
        return [], "no combination has a complete return series"
    kept = rows[keep].reset_index(drop=True)
    names = [p.name for p in get_strategy(doc.spec.base.strategy).params]
    try:
        table = rb.in_out_of_sample(
            m.T.astype(np.float64), doc.spec.split, min(10, m.shape[0]), ppy_periods
        )
    except ParamError as exc:  # too few periods for the split: reported, not fatal
        return [], str(exc)
    out = []
    for rec in table.to_dict("records"):
        row = kept.iloc[int(rec["column"])]
        out.append(
            {
                "fold": int(rec["fold"]),
                "rank": int(rec["rank"]),
                COMBO_ID: int(row[COMBO_ID]),
                "params": param_values(row, names),
                "is_sharpe": rec["is_sharpe"],
                "oos_sharpe": rec["oos_sharpe"],
            }
        )
    return out, None


def _no_best(summary: pd.DataFrame, n_ruined: int, metric: str = METRIC) -> dict[str, Any]:
    """robustness.json when no combination can be the best (every one was ruined)."""
    reason = f"all {len(summary):,} combinations were ruined (equity reached zero); no best"
    return {
        "metric": metric,
        "n_trials": len(summary),
        "n_ruined": n_ruined,
        "best_skipped_reason": reason,
        "best": None,
        "deflated_sharpe": None,
        "probabilistic_sharpe": None,
        "dsr_inputs": None,
        "pbo": None,
        "pbo_skipped_reason": reason,
        "pbo_details": {},
        "plateau_score": None,
        "oos": [],
        "oos_skipped_reason": reason,
    }


def robustness(
    summary: pd.DataFrame,
    returns: np.ndarray | None,
    doc: SweepDoc,
    best_equity: np.ndarray | None,
) -> dict[str, Any]:
    """The robustness.json statistics (chunk problems and top runs are added by collect); the
    best is by Sharpe, or by a TPE search's first objective in its direction."""
    metric, higher = best_by(doc.spec)
    order = ranked(summary, metric, higher)
    n_ruined = int(ruined_mask(summary).sum())
    if order.size == 0 or best_equity is None:
        return _no_best(summary, n_ruined, metric)
    best_pos = int(order[0])
    best = summary.iloc[best_pos]
    names = [p.name for p in get_strategy(doc.spec.base.strategy).params]
    pp_sharpe = (summary[METRIC] / np.sqrt(summary["periods_per_year"])).to_numpy(np.float64)
    finite = pp_sharpe[np.isfinite(pp_sharpe)]
    variance = float(np.var(finite, ddof=1)) if finite.size >= 2 else 0.0
    r = bar_returns(best_equity, float(doc.spec.base.options.cash))
    skew, kurt = rb.return_moments(r)
    sr = float(pp_sharpe[best_pos])
    n_trials = len(summary)
    dsr = psr = None
    if math.isfinite(sr):
        dsr = rb.deflated_sharpe_ratio(sr, n_trials, rb.SampleMoments(len(r), skew, kurt), variance)
        psr = rb.probabilistic_sharpe_ratio(sr, len(r), skew, kurt)
    same_file = (summary[SOURCE_KEY] == best[SOURCE_KEY]).to_numpy()
    rows = summary[same_file]
    matrix = None if returns is None else returns[same_file]
    note = "rows of the best row's input file" if len(doc.spec.source_keys) > 1 else ""
    pbo, reason, pbo_details = pbo_block(matrix, note)
    n_periods = 0 if matrix is None else int((~np.all(np.isnan(matrix), axis=0)).sum())
    ppy = float(best["periods_per_year"])
    ppy_periods = ppy * n_periods / max(len(r), 1)
    oos, oos_reason = oos_block(matrix, rows, doc, ppy_periods)
    return {
        "metric": metric,
        "n_trials": n_trials,
        "n_ruined": n_ruined,
        "best_skipped_reason": None,
        "best": {
            COMBO_ID: int(best[COMBO_ID]),
            SOURCE_KEY: str(best[SOURCE_KEY]),
            "params": param_values(best, names),
            "metrics": {
                c: best[c]
                for c in summary.columns
                if c not in (COMBO_ID, SOURCE_KEY, *SEARCH_COLUMNS) and c not in names
            },
        },
        "deflated_sharpe": dsr,
        "probabilistic_sharpe": psr,
        "dsr_inputs": {
            "sharpe_per_bar": sr,
            "n_obs": len(r),
            "skew": skew,
            "kurtosis": kurt,
            "sharpe_variance": variance,
            "expected_max_sharpe": rb.expected_max_sharpe(n_trials, variance),
        },
        "pbo": pbo,
        "pbo_skipped_reason": reason,
        "pbo_details": pbo_details,
        "plateau_score": plateau_block(rows, doc, summary.index[best_pos]),
        "oos": oos,
        "oos_skipped_reason": oos_reason,
    }


# --- collect -----------------------------------------------------------------------------------


def _fail_no_chunks(
    store: Store, bucket: str, doc: SweepDoc, failed: list[int], missing: list[int]
) -> NoReturn:
    sweep_id = doc.spec.sweep_id
    first = ""
    if failed:
        err = read_json(store, bucket, chunk_error_key(sweep_id, failed[0]))
        first = f" (chunk {failed[0]}: {err.get('error') if isinstance(err, dict) else err})"
    parts = [
        f"failed chunks {_ints(failed)}{first}" if failed else "",
        f"missing chunks {_ints(missing)}" if missing else "",
    ]
    message = f"sweep {sweep_id} has no finished chunk: " + "; ".join(p for p in parts if p)
    record = {"error": message, "failed_chunks": failed, "missing_chunks": missing, "at": utc_now()}
    store.put_bytes(bucket, sweep_prefix(sweep_id) + ERROR, to_json_bytes(record))
    if failed:
        raise BacktestError(message)
    raise InfraError(message + "; did the array children run?")


def _ints(values: Sequence[int], limit: int = 20) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def collect(
    store: Store,
    bucket: str,
    sweep_id: str,
    *,
    top_n: int | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Collect sweep ``sweep_id`` in ``bucket``; return the robustness.json dict written."""
    env = os.environ if env is None else env
    prefix = sweep_prefix(sweep_id)
    doc = load_sweep_doc(store, bucket, prefix + SPEC_JSON, env)  # a strategy file: its copy
    store.delete(bucket, prefix + SUCCESS)
    store.delete(bucket, prefix + ERROR)
    state = chunk_state(store, bucket, sweep_id, doc.n_children)
    if not state.done:
        _fail_no_chunks(store, bucket, doc, state.failed, state.missing)
    frames = [parquet_to_frame(store.get_bytes(bucket, chunk_key(sweep_id, i))) for i in state.done]
    counts = [len(f) for f in frames]
    summary = pd.concat(frames, ignore_index=True)  # chunk order = file-major combo order
    summary = search_columns(summary, doc)  # a TPE search: round (and pareto)
    returns, absent = load_returns(store, bucket, sweep_id, state.done, counts)
    store.put_bytes(bucket, prefix + SUMMARY, frame_to_parquet(summary))
    n_top = doc.spec.top_n if top_n is None else int(top_n)
    top, best_equity = run_top(store, bucket, doc, summary, TopRuns(n_top, env, *best_by(doc.spec)))
    report = robustness(summary, returns, doc, best_equity)
    if doc.spec.search is not None:
        report["search"] = search_block(summary, doc)
    report.update(
        n_combinations=doc.n_combinations,
        n_files=len(doc.spec.source_keys),
        n_rows=len(summary),
        n_children=doc.n_children,
        missing_chunks=state.missing,
        failed_chunks=state.failed,
        returns_missing_chunks=absent,
        top_runs=top,
        collected_at=utc_now(),
    )
    store.put_bytes(bucket, prefix + ROBUSTNESS, to_json_bytes(report))
    store.put_bytes(bucket, prefix + SUCCESS, b"")
    return report


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """``python -m engine.sweep.collect s3://BUCKET/sweeps/ID/spec.json [--top-n N]``."""
    from engine.backtest import guarded

    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m engine.sweep.collect", description="Collect a finished sweep."
    )
    parser.add_argument("uri", help="s3://BUCKET/sweeps/ID/spec.json")
    parser.add_argument("--top-n", type=int, help="re-run this many best combinations")
    ns = parser.parse_args(argv)

    def body() -> int:
        bucket, key = parse_uri(ns.uri)
        store = open_store(env)
        sweep_id = load_sweep_doc(store, bucket, key, env).spec.sweep_id
        report = collect(store, bucket, sweep_id, top_n=ns.top_n, env=env)
        for kind in ("missing", "failed"):
            if report[f"{kind}_chunks"]:
                chunks = _ints(report[f"{kind}_chunks"])
                print(
                    f"warning: {kind} chunks {chunks}; the summary lacks their rows",
                    file=sys.stderr,
                )
        if report["n_ruined"]:
            print(
                f"note: {report['n_ruined']:,} of {report['n_rows']:,} combinations were ruined "
                "(equity reached zero); none of them is a best or a top run",
                file=sys.stderr,
            )
        print(f"collected {report['n_rows']} rows -> {store.uri(bucket, sweep_prefix(sweep_id))}")
        return 0

    return guarded(body, env=env)


if __name__ == "__main__":
    sys.exit(main())
