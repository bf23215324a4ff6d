"""What the collect adds for a TPE search (``mode="tpe"``): summary columns and a report block.

The collect of a TPE sweep is the ordinary collect (every chunk merged, robustness over every
trial, top runs) with:

- summary column ``round`` (int64: the round that asked the trial, ``combo_id // round_size``)
  and, with two objectives, ``pareto`` (bool: on the non-dominated front of the objectives in
  their directions, :func:`engine.sweep.pareto.pareto_front`; ruined trials never on it);
- the best (and the top runs) by the first objective in its direction (:func:`best_by`);
- robustness.json's ``"search"`` block (:func:`search_block`): objectives, directions,
  n_trials (trials evaluated, every one counted by the statistics), n_rounds, round_size, seed,
  budget, pareto_size (null for one objective) and best_by_round (the best first-objective value
  among the trials of rounds 0..r, null while there is none).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from engine.sweep.pareto import pareto_front
from engine.sweep.results import SweepDoc
from engine.sweep.search_results import ROUND, search_layout
from engine.sweep.spec import COMBO_ID, SweepSpec
from engine.sweep.top_runs import METRIC, ranked, ruined_mask

PARETO = "pareto"


def best_by(spec: SweepSpec) -> tuple[str, bool]:
    """(metric, larger is better) the best is chosen by: Sharpe up, or a search's first
    objective in its direction."""
    if spec.mode != "tpe" or spec.search is None:
        return METRIC, True
    return spec.search.objectives[0], spec.search.directions[0] == "maximize"


def search_columns(summary: pd.DataFrame, doc: SweepDoc) -> pd.DataFrame:
    """``summary`` with ``round`` after ``combo_id`` and, for two objectives, ``pareto``."""
    search = doc.spec.search
    if search is None:
        return summary
    out = summary.drop(columns=[ROUND, PARETO], errors="ignore")
    rounds = out[COMBO_ID].to_numpy(dtype=np.int64) // search.round_size
    out.insert(list(out.columns).index(COMBO_ID) + 1, ROUND, rounds)
    if len(search.objectives) == 2:
        values = out[list(search.objectives)].to_numpy(dtype=np.float64)
        out[PARETO] = pareto_front(values, search.directions, ~ruined_mask(out))
    return out


def _plain(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def best_by_round(summary: pd.DataFrame, doc: SweepDoc) -> list[float | None]:
    """The best first-objective value among the (not ruined) trials of rounds 0..r, per r."""
    metric, higher = best_by(doc.spec)
    layout = search_layout(doc)
    order = ranked(summary, metric, higher)  # best first, ruined left out, NaN last
    values = summary[metric].to_numpy(dtype=np.float64)[order]
    rounds = summary[ROUND].to_numpy(dtype=np.int64)[order]
    out: list[float | None] = []
    for r in range(layout.n_rounds):
        seen = np.flatnonzero((rounds <= r) & np.isfinite(values))
        out.append(_plain(values[seen[0]]) if seen.size else None)
    return out


def search_block(summary: pd.DataFrame, doc: SweepDoc) -> dict[str, Any]:
    """robustness.json's ``"search"`` block of a TPE sweep (``summary`` has search_columns)."""
    search = doc.spec.search
    if search is None:
        raise ValueError("search_block needs a TPE sweep")  # pragma: no cover - caller checks
    layout = search_layout(doc)
    two = len(search.objectives) == 2
    return {
        "objectives": list(search.objectives),
        "directions": list(search.directions),
        "n_trials": len(summary),
        "n_rounds": layout.n_rounds,
        "round_size": search.round_size,
        "seed": int(doc.spec.seed),
        "budget": layout.budget,
        "pareto_size": int(summary[PARETO].sum()) if two else None,
        "best_by_round": best_by_round(summary, doc),
    }


__all__ = ["PARETO", "best_by", "best_by_round", "search_block", "search_columns"]
