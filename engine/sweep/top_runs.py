"""A sweep's best combinations: the ranking and the top runs collect re-runs.

:func:`ranked` orders a summary's rows best first by one metric in its direction (ruined rows
never ranked: DESIGN.md "Ruin"); :func:`run_top` re-runs the ``top_n`` best as ordinary runs
``runs/<sweep_id>-top<k>/`` (k = 1 is the best) and returns the best's equity for the
statistics. An ordinary sweep ranks by Sharpe; a TPE search by its first objective
(:func:`engine.sweep.search_collect.best_by`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from engine.sim.strategies import get_strategy
from engine.spec import RunSpec
from engine.store.objects import Store
from engine.store.runs import InputFile, RunFiles, make_spec_record, write_run
from engine.sweep.child import SOURCE_KEY, load_file
from engine.sweep.results import SweepDoc
from engine.sweep.spec import COMBO_ID
from engine.userstrat.pin import pinned_run_spec, provenance

METRIC = "sharpe"
RUINED = "ruined"


def top_run_id(sweep_id: str, k: int) -> str:
    """Run id of the k-th best combination (k = 1 is the best)."""
    return f"{sweep_id}-top{k}"


def ranked(summary: pd.DataFrame, metric: str = METRIC, higher: bool = True) -> np.ndarray:
    """Row positions by ``metric`` (larger is better, or smaller with ``higher=False``), best
    first, NaN last, ties in summary order; ruined rows (``ruined`` true) are left out: a ruined
    combination is never a best."""
    values = summary[metric].to_numpy(dtype=np.float64)
    values = values if higher else -values
    key = np.where(np.isnan(values), -np.inf, values)
    order = np.argsort(-key, kind="stable")
    return order[~ruined_mask(summary)[order]]


def ruined_mask(summary: pd.DataFrame) -> np.ndarray:
    """The summary's ``ruined`` column as a boolean array (all False when it has none)."""
    if RUINED not in summary.columns:
        return np.zeros(len(summary), dtype=bool)
    return summary[RUINED].fillna(False).to_numpy(dtype=bool)


def param_values(row: pd.Series, names: Sequence[str]) -> dict[str, Any]:
    return {n: (row[n].item() if hasattr(row[n], "item") else row[n]) for n in names}


class _Prices:
    """Input files loaded once each (the top runs often share a file)."""

    def __init__(self, store: Store, bucket: str) -> None:
        self.store, self.bucket = store, bucket
        self.frames: dict[str, pd.DataFrame] = {}
        self.raw: dict[str, bytes] = {}

    def get(self, key: str) -> pd.DataFrame:
        if key not in self.frames:
            self.raw[key] = self.store.get_bytes(self.bucket, key)
            self.frames[key] = load_file(self.store, self.bucket, key, 1)
        return self.frames[key]


class TopRuns(NamedTuple):
    """Which top runs :func:`run_top` writes: the ``top_n`` best rows by ``metric`` (larger
    better unless ``higher`` is False), with ``env`` the environment their spec.json provenance
    records."""

    top_n: int
    env: Mapping[str, str]
    metric: str = METRIC
    higher: bool = True


def run_top(
    store: Store, bucket: str, doc: SweepDoc, summary: pd.DataFrame, top: TopRuns
) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Re-run the ``top.top_n`` best rows as runs/<id>-top<k>/; return (entries, best's equity).

    Only rows that were not ruined are candidates; with none, (``[]``, None).
    """
    top_n, env = top.top_n, top.env
    from engine.api import run_backtest

    spec = doc.spec
    names = [p.name for p in get_strategy(spec.base.strategy).params]
    prices = _Prices(store, spec.base.source_bucket)
    entries: list[dict[str, Any]] = []
    best_equity: np.ndarray | None = None
    for k, pos in enumerate(ranked(summary, top.metric, top.higher)[: max(top_n, 1)], start=1):
        row = summary.iloc[int(pos)]
        key, params = str(row[SOURCE_KEY]), param_values(row, names)
        frame = prices.get(key)
        result = run_backtest(frame, spec.base.strategy, params, options=spec.base.options)
        if best_equity is None:
            best_equity = result.equity["equity"].to_numpy(dtype=np.float64)
        if k > top_n:
            break
        run_id = top_run_id(spec.sweep_id, k)
        run_spec = RunSpec(
            source_bucket=spec.base.source_bucket,
            source_key=key,
            result_bucket=bucket,
            strategy=spec.base.strategy,
            params=params,
            options=spec.base.options,
            run_id=run_id,
            user=doc.user,
            tags={"sweep": spec.sweep_id},
            strategy_source=spec.base.strategy_source,  # a strategy file: the sweep's copy
            strategy_sha256=spec.base.strategy_sha256,
        )
        info = store.head(spec.base.source_bucket, key)
        strategy = get_strategy(spec.base.strategy)
        pinned, source = pinned_run_spec(store, run_spec, strategy, run_id)
        record = make_spec_record(
            pinned,
            params=params,
            input_file=InputFile(prices.raw[key], info),
            prices=frame,
            env=env,
        )
        if source is not None:
            record["provenance"]["strategy"] = provenance(strategy, run_spec, store)
        write_run(store, bucket, run_id, RunFiles(record, result, source))
        entries.append(
            {
                "run_id": run_id,
                COMBO_ID: int(row[COMBO_ID]),
                "params": params,
                SOURCE_KEY: key,
                METRIC: row[METRIC],
                top.metric: row[top.metric],
            }
        )
    if best_equity is None:
        return entries, None
    return entries, np.asarray(best_equity, dtype=np.float64)
