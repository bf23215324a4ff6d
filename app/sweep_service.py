"""Sweep results for the dashboard: a view over :mod:`engine.sweep.results`, the one reader
of the sweep layout (this module names no key of it).

An unfinished sweep shows progress from the chunks present and their merged rows. No
Streamlit here: functions take an :class:`~app.context.AppContext` or plain data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from app.chart_data import (
    METRIC_COLUMNS,
    NOT_PARAMETERS,
    Sample,
    best_order,
    parcoords_sample,
    ruined_mask,
    sorted_values,
)
from app.context import AppContext
from app.new_run_link import new_run_query
from app.rerun_source import link_params
from app.search_service import without_search_columns
from engine.sweep import results as sweep_results

NON_PARAM_COLUMNS = NOT_PARAMETERS
MAX_PARTIAL_CHUNKS = 500  # an unfinished sweep merges at most this many chunk files
DEFAULT_METRIC = "sharpe"


@dataclass
class SweepView:
    """A sweep as the page shows it; ``summary`` holds the rows available so far."""

    sweep_id: str
    spec: dict[str, Any]
    summary: pd.DataFrame
    robustness: dict[str, Any] | None
    finished: bool
    chunks_done: int = 0
    n_children: int | None = None
    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def progress(self) -> float:
        """Share of chunks present (1.0 once finished)."""
        if self.finished:
            return 1.0
        if not self.n_children:
            return 0.0
        return min(1.0, self.chunks_done / self.n_children)


def list_sweeps(ctx: AppContext, limit: int = 200) -> pd.DataFrame:
    """Sweeps in the result bucket, newest first (by the spec's created_at, else by id).

    Columns: sweep_id, finished, strategy, files, created_at, best_sharpe (the collected
    best's, from the robustness statistics), label (what the picker shows).
    """
    ids = sweep_results.sweep_ids(ctx.store, ctx.settings.result_bucket)
    rows = [_list_row(ctx, i) for i in sorted(ids, reverse=True)[:limit]]
    rows.sort(key=lambda r: str(r["created_at"] or ""), reverse=True)
    return pd.DataFrame(rows, columns=LIST_COLUMNS)


LIST_COLUMNS = ["sweep_id", "finished", "strategy", "files", "created_at", "best_sharpe", "label"]


def _list_row(ctx: AppContext, sweep_id: str) -> dict[str, Any]:
    # damaged JSON: still listed (empty spec), the page says what is wrong when it is opened
    meta = sweep_results.read_meta(ctx.store, ctx.settings.result_bucket, sweep_id)
    spec, robustness, finished = meta.spec, meta.robustness, meta.finished
    base: Mapping[str, Any] = spec["base"] if isinstance(spec.get("base"), Mapping) else {}
    extra: list[Any] = spec["extra_keys"] if isinstance(spec.get("extra_keys"), list) else []
    keys = [base.get("source_key"), *extra]
    more = f" +{len(keys) - 2}" if len(keys) > 2 else ""
    files = ", ".join(str(k) for k in keys[:2] if k) + more
    created = str(spec.get("created_at") or "") or None
    best = robustness.get("best")
    scores = best.get("metrics") if isinstance(best, Mapping) else None
    sharpe = scores.get("sharpe") if isinstance(scores, Mapping) else None
    sharpe = float(sharpe) if isinstance(sharpe, int | float) and math.isfinite(sharpe) else None
    parts = [
        (created or "date ?").replace("T", " ")[:16],
        str(base.get("strategy") or spec.get("strategy") or "strategy ?"),
        files or "file ?",
        f"best sharpe {sharpe:.2f}" if sharpe is not None else ("" if finished else "running"),
        sweep_id,
    ]
    label = " · ".join(p for p in parts if p)
    return {"sweep_id": sweep_id, "finished": finished, "strategy": parts[1], "files": files,
            "created_at": created, "best_sharpe": sharpe, "label": label}  # fmt: skip


def param_columns(summary: pd.DataFrame, spec: Mapping[str, Any]) -> list[str]:
    """Parameter columns: the spec's swept names first (in order), then other non-metrics."""
    space = spec.get("space") or []
    if isinstance(space, list):
        named = [str(s.get("name")) for s in space if isinstance(s, Mapping)]
    else:
        named = [str(name) for name in space]
    others = [
        str(c) for c in summary.columns if c not in METRIC_COLUMNS and c not in NON_PARAM_COLUMNS
    ]
    ordered = [c for c in named if c in summary.columns]
    # a TPE search's summary also has collect's round/pareto columns: not parameters
    return without_search_columns(ordered + [c for c in others if c not in ordered], spec)


def read_sweep(ctx: AppContext, sweep_id: str) -> SweepView:
    """The sweep's spec, rows, robustness and progress; NotFoundError when there is none."""
    stored = sweep_results.read_sweep(
        ctx.store, ctx.settings.result_bucket, sweep_id, max_chunks=MAX_PARTIAL_CHUNKS
    )
    note = ""
    if stored.chunks_merged < stored.chunks_done:
        note = (
            f"showing rows of the first {stored.chunks_merged:,} of {stored.chunks_done:,} chunks"
        )
    summary = stored.summary
    return SweepView(
        sweep_id,
        stored.spec,
        summary,
        dict(stored.robustness) if stored.finished else None,
        stored.finished,
        stored.chunks_done,
        stored.n_children or None,
        param_columns(summary, stored.spec),
        [c for c in summary.columns if c in METRIC_COLUMNS],
        note,
    )


class Progress(NamedTuple):
    """An unfinished sweep's progress read now: collected yet, chunk files present."""

    finished: bool
    chunks_done: int


def progress_now(ctx: AppContext, sweep_id: str, n_children: int | None) -> Progress:
    """Whether the sweep is collected and how many chunk files it has, read now (one listing;
    the live part of Sweep results compares it with what the page drew)."""
    bucket = ctx.settings.result_bucket
    if sweep_results.is_collected(ctx.store, bucket, sweep_id):
        return Progress(True, 0)
    state = sweep_results.chunk_state(ctx.store, bucket, sweep_id, n_children)
    return Progress(False, len(state.done))


# -- what the page draws ----------------------------------------------------------------------


def top_table(summary: pd.DataFrame, metric: str, n: int = 20) -> pd.DataFrame:
    """The ``n`` best rows by ``metric`` (lowest first for drawdown/volatility); rows without
    a value and ruined rows last (a ruined combination is never "best")."""
    if summary.empty or metric not in summary.columns:
        return summary.head(0)
    return summary.iloc[best_order(summary, metric)[:n]].reset_index(drop=True)


def robustness_rows(robustness: Mapping[str, Any]) -> pd.DataFrame:
    """The headline statistics as (statistic, value) text rows."""
    pbo = robustness.get("pbo")
    pbo_text = (
        _num(pbo)
        if pbo is not None
        else f"skipped: {robustness.get('pbo_skipped_reason') or 'no reason given'}"
    )
    rows = [
        ("Trials (combinations)", _num(robustness.get("n_trials"))),
        ("Deflated Sharpe ratio", _num(robustness.get("deflated_sharpe"))),
        ("Probabilistic Sharpe ratio", _num(robustness.get("probabilistic_sharpe"))),
        ("Probability of backtest overfitting (PBO)", pbo_text),
        ("Plateau score", _num(robustness.get("plateau_score"))),
    ]
    return pd.DataFrame(rows, columns=["statistic", "value"])


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return "n/a"
        return f"{value:.4g}"
    return str(value)


def oos_table(robustness: Mapping[str, Any]) -> pd.DataFrame:
    """In-sample vs out-of-sample Sharpe per chosen parameter set (empty when not computed)."""
    rows = [
        {
            "params": ", ".join(f"{k}={v}" for k, v in dict(r.get("params") or {}).items()),
            "in-sample sharpe": r.get("is_sharpe"),
            "out-of-sample sharpe": r.get("oos_sharpe"),
        }
        for r in robustness.get("oos") or []
    ]
    return pd.DataFrame(rows, columns=["params", "in-sample sharpe", "out-of-sample sharpe"])


def chunk_problems(robustness: Mapping[str, Any]) -> list[str]:
    """One line per kind of chunk problem: 'missing chunks: 3, 7' / 'failed chunks: 2'."""
    out = []
    for kind in ("missing", "failed"):
        chunks = list(robustness.get(f"{kind}_chunks") or [])
        if chunks:
            out.append(f"{kind} chunks: {', '.join(map(str, chunks))}")
    return out


def top_runs(robustness: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The re-run top combinations: dicts with run_id, combo_id, params, source_key, label."""
    out = []
    for item in (robustness or {}).get("top_runs") or []:
        run_id = str(item.get("run_id", ""))
        if not run_id:
            continue
        params = ", ".join(f"{k}={v}" for k, v in dict(item.get("params") or {}).items())
        label = f"{run_id} ({params})" + (
            f" on {item['source_key']}" if item.get("source_key") else ""
        )
        out.append({**item, "run_id": run_id, "label": label})
    return out


def strategy_of(view: SweepView) -> str:
    """The swept strategy's name from the spec (base.strategy)."""
    base = view.spec.get("base") or {}
    return str(base.get("strategy") or view.spec.get("strategy") or "")


def new_run_query_params(
    view: SweepView, row: Mapping[Any, Any], *, with_file: bool = False
) -> dict[str, str]:
    """New run prefill for one combination: strategy and parameters, and with ``with_file``
    the row's input file (else the user picks the files on New run; app.new_run_link)."""
    base = view.spec.get("base") or {}
    params = dict(base.get("params") or {})
    params.update({p: _plain(row[p]) for p in view.params if p in row})
    key = (row.get("source_key") or base.get("source_key")) if with_file else None
    query = new_run_query(strategy_of(view), params, files=[str(key)] if key else ())
    return {**query, **link_params(view.spec)}  # a strategy file: New run offers the sweep's copy


def top_run_of(robustness: Mapping[str, Any] | None, row: Mapping[Any, Any]) -> str | None:
    """The run id collect re-ran this summary row as (same combo_id and file), or None."""
    for item in top_runs(robustness):
        same_combo = str(item.get("combo_id")) == str(_plain(row.get("combo_id")))
        file = item.get("source_key")
        if same_combo and (not file or not row.get("source_key") or file == row["source_key"]):
            return str(item["run_id"])
    return None


def _plain(value: Any) -> Any:
    """numpy scalars to Python (5.0 stays a float, 5 an int)."""
    return value.item() if hasattr(value, "item") else value


def combo_label(row: Mapping[Any, Any], params: Sequence[str]) -> str:
    """'fast=10, slow=50' for a summary row."""
    return ", ".join(f"{p}={_plain(row[p])}" for p in params if p in row)


# -- bounded pieces of a large sweep (the page caches these; see app.loaders) ------------------

TABLE_PAGE_ROWS = 50


@dataclass(frozen=True)
class SweepFacts:
    """What the page's controls need, computed once per sweep: parameters with more than one
    value (``axes``), each parameter's distinct values in numeric order, row and ruin counts."""

    axes: list[str]
    values: dict[str, list[Any]]
    n_rows: int
    n_ruined: int
    has_ruined_column: bool


def sweep_facts(view: SweepView) -> SweepFacts:
    """Axes, sorted values per parameter and the number of ruined combinations."""
    values = {p: sorted_values(view.summary[p]) for p in view.params}
    axes = [p for p in view.params if len(values[p]) > 1]
    ruined = int(ruined_mask(view.summary).sum())
    has = "ruined" in view.summary.columns
    return SweepFacts(axes, values, len(view.summary), ruined, has)


def ruin_line(facts: SweepFacts) -> str:
    """'12 of 1,000 combinations were ruined ...' (empty when none or not recorded)."""
    if not facts.n_ruined:
        return ""
    return (
        f"{facts.n_ruined:,} of {facts.n_rows:,} combinations were ruined (equity reached zero; "
        "the run was closed and stayed flat). They are marked in the table and never ranked best."
    )


def parcoords_rows(view: SweepView, metric: str, order: np.ndarray | None = None) -> Sample:
    """The parameter and ``metric`` columns of a bounded sample (chart_data.parcoords_sample);
    ``order`` is :func:`ranking`'s result when the caller has it."""
    sample = parcoords_sample(view.summary, metric, order=order)
    return Sample(sample.rows[[*view.params, metric]].reset_index(drop=True), sample.note)


def ranking(view: SweepView, metric: str) -> np.ndarray:
    """Row positions best first by ``metric``, NaN then ruined rows last."""
    return best_order(view.summary, metric)


def table_page(
    view: SweepView, order: np.ndarray, page: int, metric: str, rows: int = TABLE_PAGE_ROWS
) -> pd.DataFrame:
    """Page ``page`` (1-based) of the ranked rows: rank, a ``ruined`` marker column ("RUINED"
    or blank; absent for sweeps written without the column), the parameters, ``metric``, then
    the other columns."""
    page = min(max(1, int(page)), n_pages(len(order), rows))
    picked = order[(page - 1) * rows : page * rows]
    out = view.summary.iloc[picked].reset_index(drop=True)
    out.insert(0, "rank", np.arange((page - 1) * rows + 1, (page - 1) * rows + 1 + len(out)))
    if "ruined" in out.columns:
        out["ruined"] = np.where(ruined_mask(out), "RUINED", "")
    lead = [c for c in ("rank", "ruined", *view.params, metric) if c in out.columns]
    return out[lead + [c for c in out.columns if c not in lead]]


def n_pages(n_rows: int, rows: int = TABLE_PAGE_ROWS) -> int:
    """Pages of ``rows`` needed for ``n_rows`` (at least 1)."""
    return max(1, -(-int(n_rows) // rows))
