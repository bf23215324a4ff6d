"""Robustness a researcher can read (issue 13 point 3): each statistic collect wrote, what it
means in one sentence and its value judged against a stated threshold; the PBO logits and an
in-sample vs out-of-sample scatter recomputed from the sweep's stored per-period returns
(robustness.json keeps the PBO, not its logits). No Streamlit here.

The recomputation follows collect exactly (engine.sweep.collect.pbo_block: the best row's
file, rows with a complete return series, 16 CSCV blocks, the same split budget), and says
whether its PBO equals the stored one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.chart_data import ruined_mask
from app.context import AppContext
from engine.errors import BacktestError
from engine.sweep import collect
from engine.sweep import results as sweep_results
from engine.sweep import robustness as rb

DSR_PASS = 0.95  # deflated / probabilistic Sharpe: 95% confidence
PBO_PASS = 0.5  # above: the in-sample winner is more likely than not below the median OOS
PLATEAU_PASS = 0.5  # neighbours keep at least half of the best's Sharpe
OOS_PASS = 0.5  # out-of-sample Sharpe keeps at least half of the in-sample one
SCATTER_TOP, SCATTER_RANDOM, SEED = 1000, 2000, 0
COLUMNS = ["statistic", "value", "threshold", "verdict", "meaning"]


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _row(name: str, value: float | None, rule: tuple[str, bool | None], meaning: str) -> dict:
    threshold, passed = rule
    verdict = "not available" if value is None else ("pass" if passed else "fail")
    shown = "n/a" if value is None else f"{value:.3g}"
    return dict(zip(COLUMNS, (name, shown, threshold, verdict, meaning), strict=True))


def verdicts(robustness: Mapping[str, Any]) -> pd.DataFrame:
    """One row per statistic: statistic, value, threshold, verdict (pass / fail / not
    available, with the reason collect gave), meaning (one sentence)."""
    n = robustness.get("n_trials")
    trials = f"{n:,}" if isinstance(n, int) else "all the"
    dsr = _finite(robustness.get("deflated_sharpe"))
    psr = _finite(robustness.get("probabilistic_sharpe"))
    pbo = _finite(robustness.get("pbo"))
    plateau = _finite(robustness.get("plateau_score"))
    eff = oos_efficiency(robustness)
    rows = [
        _row("Deflated Sharpe ratio", dsr, (f"> {DSR_PASS}", dsr is not None and dsr > DSR_PASS),
             f"The probability that the best Sharpe beats what the luckiest of {trials} "
             "combinations with no skill would show: above 0.95 the best is unlikely to be "
             "luck."),
        _row("Probabilistic Sharpe ratio", psr,
             (f"> {DSR_PASS}", psr is not None and psr > DSR_PASS),
             "The probability that the best combination's true Sharpe is above 0, ignoring how "
             "many were tried (the deflated Sharpe corrects for that)."),
        _row("Probability of backtest overfitting (PBO)", pbo,
             (f"< {PBO_PASS}", pbo is not None and pbo < PBO_PASS),
             "The share of in-sample/out-of-sample splits where the in-sample winner ranks "
             "below the median out of sample: above 0.5 it is more likely than not to."),
        _row("Plateau score", plateau,
             (f">= {PLATEAU_PASS}", plateau is not None and plateau >= PLATEAU_PASS),
             "The median Sharpe of the best combination's grid neighbours over its own: near "
             "1 the best sits on a plateau, near 0 or below it is a lone peak."),
        _row("Out-of-sample efficiency", eff,
             (f">= {OOS_PASS}", eff is not None and eff >= OOS_PASS),
             "The mean out-of-sample Sharpe of the combinations chosen in-sample over their "
             "mean in-sample Sharpe: below 0.5 most of the in-sample edge was fitted noise."),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=COLUMNS)
    reasons = {
        "Probability of backtest overfitting (PBO)": robustness.get("pbo_skipped_reason"),
        "Out-of-sample efficiency": robustness.get("oos_skipped_reason")
        or ("" if robustness.get("oos") else "no holdout was kept for this sweep"),
        "Deflated Sharpe ratio": robustness.get("best_skipped_reason"),
        "Plateau score": robustness.get("best_skipped_reason"),
    }
    for name, reason in reasons.items():
        hit = (frame["statistic"] == name) & (frame["verdict"] == "not available")
        if reason:
            frame.loc[hit, "verdict"] = f"not available: {reason}"
    return frame


def oos_efficiency(robustness: Mapping[str, Any]) -> float | None:
    """mean(out-of-sample Sharpe) / mean(in-sample Sharpe) over collect's chosen combinations
    (None without them or when the in-sample mean is not positive)."""
    pairs = [
        (_finite(r.get("is_sharpe")), _finite(r.get("oos_sharpe")))
        for r in robustness.get("oos") or []
    ]
    kept = [(a, b) for a, b in pairs if a is not None and b is not None]
    if not kept:
        return None
    mean_is = float(np.mean([a for a, _ in kept]))
    return float(np.mean([b for _, b in kept])) / mean_is if mean_is > 0 else None


@dataclass(frozen=True)
class Recomputed:
    """PBO logits and the in/out-of-sample scatter (``points``: is_sharpe, oos_sharpe, label),
    each with why it is absent (empty reason when present)."""

    logits: np.ndarray | None
    pbo: float | None
    pbo_note: str
    points: pd.DataFrame | None
    points_note: str


def rank_correlation(x: pd.Series, y: pd.Series) -> float | None:
    """Spearman's rank correlation: Pearson's on average ranks (pandas' own "spearman" needs
    scipy, which the app does not install); None with fewer than 3 pairs or a constant side.

    >>> rank_correlation(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([10.0, 30.0, 20.0, 40.0]))
    0.8
    """
    pairs = pd.DataFrame({"x": x, "y": y}).dropna()
    if len(pairs) < 3:
        return None
    rx, ry = pairs["x"].rank(), pairs["y"].rank()
    if rx.nunique() < 2 or ry.nunique() < 2:
        return None
    return round(float(np.corrcoef(rx.to_numpy(), ry.to_numpy())[0, 1]), 12)


def return_matrix(ctx: AppContext, view: Any) -> np.ndarray | None:
    """The children's per-period returns stacked in summary order (collect's order: the chunks
    in index order), or None when any is absent or their rows do not add up to the summary."""
    store, bucket = ctx.store, ctx.settings.result_bucket
    state = sweep_results.chunk_state(store, bucket, view.sweep_id, view.n_children)
    parts = []
    for i in state.done:
        try:
            raw = store.get_bytes(bucket, sweep_results.returns_key(view.sweep_id, i))
            part = np.load(io.BytesIO(raw))
        except (BacktestError, ValueError, OSError):
            return None
        parts.append(np.asarray(part, dtype=np.float64))
    if not parts or len({p.shape[1] for p in parts}) != 1:
        return None
    matrix = np.concatenate(parts)
    return matrix if matrix.shape[0] == len(view.summary) else None


def recompute(ctx: AppContext, view: Any) -> Recomputed:
    """PBO logits and the scatter for a finished sweep (see the module docstring)."""
    robustness = view.robustness or {}
    best = robustness.get("best") or {}
    n = len(view.summary)
    if not best:
        reason = robustness.get("best_skipped_reason") or "no best combination"
        return Recomputed(None, None, reason, None, reason)
    if n > collect.PBO_MAX_COMBINATIONS:
        reason = f"{n:,} combinations exceed the limit of {collect.PBO_MAX_COMBINATIONS:,}"
        return Recomputed(None, None, reason, None, reason)
    matrix = return_matrix(ctx, view)
    if matrix is None:
        reason = "the per-period returns are not stored for every chunk"
        return Recomputed(None, None, reason, None, reason)
    summary = view.summary
    same = np.ones(n, dtype=bool)
    if "source_key" in summary.columns and best.get("source_key"):
        same = (summary["source_key"] == best["source_key"]).to_numpy()
    rows, m = summary[same].reset_index(drop=True), matrix[same]
    m = m[:, ~np.all(np.isnan(m), axis=0)]
    complete = ~np.any(np.isnan(m), axis=1)
    rows, m = rows[complete].reset_index(drop=True), m[complete]
    logits, pbo, pbo_note = _pbo(m, robustness)
    points, points_note = _scatter(m, rows, view, robustness)
    return Recomputed(logits, pbo, pbo_note, points, points_note)


def _pbo(
    m: np.ndarray, robustness: Mapping[str, Any]
) -> tuple[np.ndarray | None, float | None, str]:
    n, t = m.shape
    if n < 2 or t < collect.PBO_SPLITS:
        return None, None, f"{n} combinations x {t} periods: too few for CSCV"
    splits = max(100, min(20_000, collect.PBO_CELL_BUDGET // n))
    res = rb.pbo_cscv(m.T, n_splits=collect.PBO_SPLITS, max_splits=splits)
    stored = _finite(robustness.get("pbo"))
    same = stored is not None and abs(stored - res.pbo) < 1e-9
    note = (
        f"{len(res.logits):,} splits of {t} periods into {collect.PBO_SPLITS} blocks; "
        + ("the PBO recomputed here equals collect's" if same else
           f"recomputed PBO {res.pbo:.3g} (collect wrote {stored})")
    )  # fmt: skip
    return res.logits, res.pbo, note


def _scatter(
    m: np.ndarray, rows: pd.DataFrame, view: Any, robustness: Mapping[str, Any]
) -> tuple[pd.DataFrame | None, str]:
    split = view.spec.get("split")
    if not split:
        return None, "no holdout was kept for this sweep (New run keeps the last 30% by default)"
    try:
        windows = rb.SplitSpec.from_value(split).windows(m.shape[1])
    except BacktestError as exc:
        return None, str(exc)
    train, test = windows[-1]
    inputs = robustness.get("dsr_inputs") or {}
    bars = inputs.get("n_obs") if isinstance(inputs, Mapping) else None
    ppy = float(rows["periods_per_year"].iloc[0]) if "periods_per_year" in rows else 1.0
    scale = math.sqrt(ppy * m.shape[1] / bars) if isinstance(bars, int) and bars > 0 else 1.0
    is_s = rb.sharpe_per_period(m[:, train.start : train.stop], axis=1) * scale
    oos_s = rb.sharpe_per_period(m[:, test.start : test.stop], axis=1) * scale
    ok = np.isfinite(is_s) & np.isfinite(oos_s) & ~ruined_mask(rows)
    idx = np.flatnonzero(ok)
    note = f"all {idx.size:,} combinations with both Sharpe ratios"
    if idx.size > SCATTER_TOP + SCATTER_RANDOM:
        top = idx[np.argsort(-is_s[idx], kind="stable")[:SCATTER_TOP]]
        rest = np.setdiff1d(idx, top)
        drawn = np.random.default_rng(SEED).choice(rest, SCATTER_RANDOM, replace=False)
        idx = np.sort(np.concatenate([top, drawn]))
        note = (f"{idx.size:,} of {int(ok.sum()):,} combinations: the top {SCATTER_TOP:,} "
                f"in-sample plus {SCATTER_RANDOM:,} drawn at random (seed {SEED})")  # fmt: skip
    params = [p for p in view.params if p in rows.columns]
    picked = rows.iloc[idx]
    labels = [", ".join(f"{p}={r[p]}" for p in params) for r in picked.to_dict("records")]
    points = pd.DataFrame({
        "is_sharpe": np.round(is_s[idx], 4), "oos_sharpe": np.round(oos_s[idx], 4),
        "combination": labels,
    })  # fmt: skip
    where = f"periods {train.start}-{train.stop - 1} in sample, {test.start}-{test.stop - 1} out"
    return points, f"{note}; {where}"
