"""What the run pickers show: strategy, file, date and the main metric of each finished run,
newest first, with a sweep's top-N reruns grouped under that sweep. No Streamlit here.

A brief reads two small files per run (spec.json, metrics.json); finished runs never change,
so callers keep briefs by (run id, finish time) and read only new runs, in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app.run_format import format_metric, is_ruined, sweep_of, top_rank
from engine.errors import BacktestError
from engine.store.objects import Store
from engine.store.runs import read_run_records

READ_WORKERS = 16


@dataclass(frozen=True)
class RunBrief:
    """One finished run as a picker shows it."""

    run_id: str
    finished_at: Any
    strategy: str = "?"
    file: str = "?"
    source_bucket: str = ""
    total_return: float | None = None
    sharpe: float | None = None
    ruined: bool = False
    sweep: str | None = None
    rank: int | None = None
    problem: str = ""


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def brief_from(
    run_id: str, finished_at: Any, spec: Mapping[str, Any], metrics: Mapping[str, Any]
) -> RunBrief:
    """A brief from a run's spec.json and metrics.json records."""
    sweep = sweep_of(spec)
    return RunBrief(
        run_id=run_id,
        finished_at=finished_at,
        strategy=str(spec.get("strategy") or "?"),
        file=str(spec.get("source_key") or "?"),
        source_bucket=str(spec.get("source_bucket") or ""),
        total_return=_finite(metrics.get("total_return")),
        sharpe=None if is_ruined(metrics) else _finite(metrics.get("sharpe")),
        ruined=is_ruined(metrics),
        sweep=sweep,
        rank=top_rank(run_id, sweep) if sweep else None,
    )


def read_brief(store: Store, bucket: str, run_id: str, finished_at: Any) -> RunBrief:
    """Read one run's brief; an unreadable run is still listed, with ``problem`` set."""
    try:
        spec, metrics = read_run_records(store, bucket, run_id)
    except BacktestError as exc:
        return RunBrief(run_id, finished_at, problem=str(exc) or type(exc).__name__)
    if not isinstance(spec, dict) or not isinstance(metrics, dict):
        return RunBrief(run_id, finished_at, problem="spec.json or metrics.json is not an object")
    return brief_from(run_id, finished_at, spec, metrics)


def read_briefs(
    store: Store, bucket: str, items: Sequence[tuple[str, Any]], workers: int = READ_WORKERS
) -> list[RunBrief]:
    """Briefs of (run id, finished at) items, read in parallel (two GETs per run)."""
    if not items:
        return []
    if len(items) == 1:
        return [read_brief(store, bucket, *items[0])]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(lambda item: read_brief(store, bucket, *item), items))


_NEVER = pd.Timestamp("1970-01-01", tz="UTC")


def _when(brief: RunBrief) -> pd.Timestamp:
    """The finish time in UTC (runs without one sort last)."""
    try:
        stamp = pd.Timestamp(brief.finished_at)
    except (TypeError, ValueError):
        return _NEVER
    if not isinstance(stamp, pd.Timestamp) or pd.isna(stamp):
        return _NEVER
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def picker_order(briefs: Iterable[RunBrief]) -> list[RunBrief]:
    """Newest first; a sweep's reruns stay together (top-1, top-2, ...) where its newest is."""
    newest = sorted(briefs, key=lambda b: (_when(b), b.run_id), reverse=True)
    out: list[RunBrief] = []
    placed: set[str] = set()
    for brief in newest:
        if brief.sweep is None:
            out.append(brief)
        elif brief.sweep not in placed:
            placed.add(brief.sweep)
            group = [b for b in newest if b.sweep == brief.sweep]
            out += sorted(group, key=lambda b: (b.rank is None, b.rank or 0, b.run_id))
    return out


def picker_label(brief: RunBrief) -> str:
    """'2024-01-02 03:04 · sma_cross · samples/x.csv · return 12.34% · Sharpe 1.05 · run-a';
    a sweep's rerun starts with 'sweep S › top 1 ·'; a ruined run says 'RUINED'."""
    if brief.problem:
        return f"{brief.run_id} · unreadable: {brief.problem}"[:200]
    when = _when(brief).strftime("%Y-%m-%d %H:%M") if brief.finished_at is not None else "?"
    parts = [when, brief.strategy, brief.file]
    parts.append(f"return {format_metric('total_return', brief.total_return)}")
    parts.append("RUINED" if brief.ruined else f"Sharpe {format_metric('sharpe', brief.sharpe)}")
    parts.append(brief.run_id)
    text = " · ".join(parts)
    if brief.sweep:
        rank = f"top {brief.rank}" if brief.rank else "rerun"
        text = f"sweep {brief.sweep} › {rank} · {text}"
    return text


def runs_using(briefs: Iterable[RunBrief], bucket: str, key: str) -> list[str]:
    """Ids of the runs whose spec names ``bucket/key`` as their input (newest first)."""
    return [b.run_id for b in picker_order(briefs) if b.source_bucket == bucket and b.file == key]
