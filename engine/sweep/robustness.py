"""Overfitting statistics for parameter sweeps (pure numpy, no I/O).

- :func:`probabilistic_sharpe_ratio` and :func:`deflated_sharpe_ratio`: Bailey, D. H. and
  López de Prado, M. (2012) "The Sharpe Ratio Efficient Frontier", J. of Risk 15(2); and
  (2014) "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", J. of Portfolio Management 40(5).
- :func:`pbo_cscv`: Bailey, D. H., Borwein, J., López de Prado, M. and Zhu, Q. J. (2015/2017)
  "The Probability of Backtest Overfitting", J. of Computational Finance 20(4): combinatorially
  symmetric cross-validation (CSCV).
- :func:`plateau_score`: the best combination's metric against its grid neighbours' median.
- :func:`in_out_of_sample`: in-sample vs out-of-sample Sharpe of the top combinations chosen
  in-sample, for a train/test or an anchored walk-forward split (:class:`SplitSpec`).

All Sharpe ratios here are *per period* (mean / std with ddof=1) unless a function says
otherwise; kurtosis is the non-excess kind (normal = 3).

Ruin (DESIGN.md "Ruin"): a ruined combination is never the one chosen. In a per-period
return matrix a ruin shows as a period return of -1 (equity went to 0; the engine keeps it
flat at 0 after, returns 0), so wherever a best is chosen in-sample (PBO's in-sample best,
in/out-of-sample's top combinations) a column with a return <= -1 in the in-sample rows is
never chosen (it is still ranked out-of-sample, like any other trial). In a summary table a
boolean ``ruined`` column excludes its rows from :func:`plateau_score`'s default best.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from engine.errors import ParamError

EULER_GAMMA = 0.5772156649015329
SPLIT_KINDS = ("train_test", "walk_forward")
_N = NormalDist()
_BATCH_CELLS = 262_144  # PBO: splits x combinations evaluated per batch (bounds memory)

MetricFn = Callable[[np.ndarray], np.ndarray]
RUIN_RETURN = -1.0  # a period return at or below this is a ruin (equity reached 0)
RUINED = "ruined"  # the summary's boolean ruin column


def ruined_columns(returns: np.ndarray) -> np.ndarray:
    """Per column of a T x N return matrix: True where some period return is <= -1 (ruin).

    >>> ruined_columns(np.array([[0.1, 0.0], [-1.0, 0.2], [0.0, -0.5]])).tolist()
    [True, False]
    """
    return np.asarray(np.any(np.asarray(returns) <= RUIN_RETURN, axis=0))


# --- Sharpe ratio statistics -----------------------------------------------------------------


def sharpe_per_period(returns: np.ndarray, axis: int = 0) -> np.ndarray:
    """mean / std (ddof=1) along ``axis``; NaN where std is 0 or fewer than 2 observations."""
    r = np.asarray(returns, dtype=np.float64)
    if r.shape[axis] < 2:
        return np.full(np.delete(r.shape, axis), np.nan) if r.ndim > 1 else np.array(np.nan)
    sd = r.std(axis=axis, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, r.mean(axis=axis) / np.where(sd > 0, sd, 1.0), np.nan)


def return_moments(returns: np.ndarray) -> tuple[float, float]:
    """(skewness, non-excess kurtosis) of a return series, population moments as in the paper."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return math.nan, math.nan
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0:
        return math.nan, math.nan
    return float(np.mean(d**3) / m2**1.5), float(np.mean(d**4) / m2**2)


def probabilistic_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    sharpe_benchmark: float = 0.0,
) -> float:
    """P(true Sharpe > ``sharpe_benchmark``) given an observed per-period ``sharpe``.

    PSR = Phi( (SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurt - 1)/4 SR^2) )
    (Bailey & López de Prado 2012). NaN when T < 2 or the variance term is not positive.
    """
    if n_obs < 2 or not all(map(math.isfinite, (sharpe, skew, kurtosis, sharpe_benchmark))):
        return math.nan
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if var <= 0:
        return math.nan
    return _N.cdf((sharpe - sharpe_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR0: the expected maximum of ``n_trials`` Sharpe estimates whose true value is 0.

    SR0 = sqrt(V) ((1 - g) Z^-1(1 - 1/N) + g Z^-1(1 - 1/(N e))), g = Euler-Mascheroni
    (Bailey & López de Prado 2014, eq. 2 / the False Strategy theorem). SR0 = 0 for N = 1.
    """
    if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1:
        raise ParamError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    if not (math.isfinite(sharpe_variance) and sharpe_variance >= 0):
        raise ParamError(f"sharpe variance must be finite and >= 0, got {sharpe_variance!r}")
    if n_trials == 1:
        return 0.0
    z1 = _N.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


class SampleMoments(NamedTuple):
    """The best combination's per-period returns as the PSR needs them: their count, skewness
    and (non-excess) kurtosis."""

    n_obs: int
    skew: float
    kurtosis: float


def deflated_sharpe_ratio(
    sharpe_best: float,
    n_trials: int,
    moments: SampleMoments,
    sharpe_variance: float,
) -> float:
    """DSR: the PSR of the best of ``n_trials`` against the expected maximum SR0 under no skill.

    All Sharpe inputs per period (not annualised); ``moments`` are those of the best's returns
    (``kurtosis`` non-excess); ``sharpe_variance`` is the variance of the trials' per-period
    Sharpe estimates. DSR = PSR(SR, SR0).
    A DSR above 0.95 says the best combination is unlikely to be luck at the 5% level.
    """
    n_obs, skew, kurtosis = moments
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe_best, n_obs, skew, kurtosis, sr0)


# --- probability of backtest overfitting (CSCV) ----------------------------------------------


class PBOResult(NamedTuple):
    """CSCV outcome: ``pbo`` = share of logits <= 0; per split the chosen config's metrics."""

    pbo: float
    logits: np.ndarray
    n_used: int  # combinations of splits evaluated
    n_total: int  # C(S, S/2)
    is_metric: np.ndarray  # in-sample metric of the in-sample best, per split
    oos_metric: np.ndarray  # its out-of-sample metric, per split


def pbo_cscv(
    returns: np.ndarray,
    n_splits: int = 16,
    metric: str | MetricFn = "sharpe",
    max_splits: int | None = 20_000,
    seed: int = 0,
) -> PBOResult:
    """Probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado, Zhu 2015).

    ``returns`` is T periods x N combinations. Rows are cut into S = ``n_splits`` contiguous
    blocks (sizes differ by at most one row). For each choice of S/2 blocks as in-sample (the
    rest out-of-sample): take the combination with the best in-sample metric, its
    out-of-sample rank r among the N (1 = worst, ties averaged), w = r / (N + 1), and the logit
    ln(w / (1 - w)). PBO = share of logits <= 0. NaN metrics (e.g. a flat series) rank lowest;
    a combination ruined in the in-sample blocks (a return <= -1 there) is never the in-sample
    best (its in-sample metric counts as NaN).

    ``metric`` is "sharpe" (mean/std, ddof=1), "mean", or a function mapping a t x N block to N
    values. All C(S, S/2) splits are used when there are at most ``max_splits`` (S=16: 12,870),
    else ``max_splits`` distinct ones drawn with ``seed``. Memory is bounded by evaluating
    splits in batches.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ParamError("PBO needs a T x N return matrix with at least 2 combinations")
    if isinstance(n_splits, bool) or n_splits < 2 or n_splits % 2:
        raise ParamError(f"n_splits must be an even integer >= 2, got {n_splits!r}")
    if r.shape[0] < n_splits:
        raise ParamError(f"PBO with {n_splits} splits needs at least {n_splits} periods")
    if isinstance(metric, str) and metric not in ("sharpe", "mean"):
        raise ParamError(f"PBO metric must be 'sharpe', 'mean' or a function, got {metric!r}")
    splits = _choose_splits(n_splits, max_splits, seed)
    blocks = np.array_split(np.arange(r.shape[0]), n_splits)
    batches = (
        _moment_metrics(r, blocks, splits, metric)
        if isinstance(metric, str)
        else _callable_metrics(r, blocks, splits, metric)
    )
    ruin = np.stack([ruined_columns(r[b]) for b in blocks])  # S x N: a ruin inside block s
    if ruin.any():
        batches = _mask_ruined(batches, splits, ruin)
    parts = [_rank_chosen(is_m, oos_m) for is_m, oos_m in batches]
    logits, is_best, oos_best = (np.concatenate(p) for p in zip(*parts, strict=True))
    return PBOResult(
        float(np.mean(logits <= 0)),
        logits,
        len(splits),
        math.comb(n_splits, n_splits // 2),
        is_best,
        oos_best,
    )


def _rank_chosen(is_m: np.ndarray, oos_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per split (row): logit of the OOS relative rank of the in-sample best; its metrics."""
    is_m = np.where(np.isnan(is_m), -np.inf, is_m)
    oos_m = np.where(np.isnan(oos_m), -np.inf, oos_m)
    best = np.argmax(is_m, axis=1)
    rows = np.arange(is_m.shape[0])
    chosen = oos_m[rows, best]
    below = (oos_m < chosen[:, None]).sum(axis=1)
    equal = (oos_m == chosen[:, None]).sum(axis=1)
    w = (below + (equal + 1) / 2.0) / (is_m.shape[1] + 1)
    return np.log(w / (1.0 - w)), is_m[rows, best], chosen


def _mask_ruined(
    batches: Iterator[tuple[np.ndarray, np.ndarray]], splits: np.ndarray, ruin: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The batches with NaN as in-sample metric where the in-sample blocks hold a ruin."""
    lo = 0
    ruin_f = ruin.astype(np.float64)
    for is_m, oos_m in batches:
        hit = splits[lo : lo + is_m.shape[0]].astype(np.float64) @ ruin_f > 0.0
        lo += is_m.shape[0]
        yield np.where(hit, np.nan, is_m), oos_m


def _choose_splits(s: int, max_splits: int | None, seed: int) -> np.ndarray:
    """(n_used x S) boolean matrix: True where a block is in-sample."""
    half, total = s // 2, math.comb(s, s // 2)
    if max_splits is None or total <= max_splits:
        chosen = list(itertools.combinations(range(s), half))
    else:
        if max_splits < 1:
            raise ParamError(f"max_splits must be >= 1, got {max_splits}")
        rng = np.random.default_rng(seed)
        seen: set[tuple[int, ...]] = set()
        chosen = []
        while len(chosen) < max_splits:
            c = tuple(sorted(int(i) for i in rng.choice(s, size=half, replace=False)))
            if c not in seen:
                seen.add(c)
                chosen.append(c)
    mask = np.zeros((len(chosen), s), dtype=bool)
    for i, c in enumerate(chosen):
        mask[i, list(c)] = True
    return mask


def _moment_metrics(
    r: np.ndarray, blocks: list[np.ndarray], splits: np.ndarray, metric: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of (in-sample, out-of-sample) mean or Sharpe from per-block sums."""
    cnt = np.array([len(b) for b in blocks], dtype=np.float64)
    s1 = np.stack([r[b].sum(axis=0) for b in blocks])
    s2 = np.stack([(r[b] ** 2).sum(axis=0) for b in blocks])
    tot_n, tot_1, tot_2 = cnt.sum(), s1.sum(axis=0), s2.sum(axis=0)
    batch = max(1, _BATCH_CELLS // r.shape[1])
    for lo in range(0, len(splits), batch):
        m = splits[lo : lo + batch].astype(np.float64)
        n_is, a_is, b_is = m @ cnt, m @ s1, m @ s2
        yield (
            _from_sums(n_is[:, None], a_is, b_is, metric),
            _from_sums(tot_n - n_is[:, None], tot_1 - a_is, tot_2 - b_is, metric),
        )


def _from_sums(n: np.ndarray, s1: np.ndarray, s2: np.ndarray, metric: str) -> np.ndarray:
    mean = s1 / n
    if metric == "mean":
        return mean
    var = np.maximum(s2 - n * mean**2, 0.0) / (n - 1)
    sd = np.sqrt(var)
    # a relative floor treats round-off "variance" of a constant series as zero
    flat = sd <= 1e-12 * np.maximum(np.abs(mean), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, np.nan, mean / np.where(flat, 1.0, sd))


def _callable_metrics(
    r: np.ndarray, blocks: list[np.ndarray], splits: np.ndarray, metric: MetricFn
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One (in-sample, out-of-sample) pair of 1 x N metric rows per split."""
    for mask in splits:
        rows_is = np.concatenate([b for b, m in zip(blocks, mask, strict=True) if m])
        rows_oos = np.concatenate([b for b, m in zip(blocks, mask, strict=True) if not m])
        yield (
            np.asarray(metric(r[rows_is]), dtype=np.float64)[None, :],
            np.asarray(metric(r[rows_oos]), dtype=np.float64)[None, :],
        )


def aggregate_returns(returns: np.ndarray, n_periods: int) -> np.ndarray:
    """Compound per-bar returns (T x ...) into at most ``n_periods`` contiguous periods.

    Keeps the per-period return matrix for PBO bounded in memory: period return =
    prod(1 + r) - 1 over its bars (periods differ in length by at most one bar).
    """
    r = np.asarray(returns, dtype=np.float64)
    if n_periods < 1:
        raise ParamError(f"n_periods must be >= 1, got {n_periods}")
    if r.shape[0] <= n_periods:
        return r.copy()
    edges = np.linspace(0, r.shape[0], n_periods + 1).astype(np.int64)
    with np.errstate(divide="ignore"):  # a ruin's -1 -> log 0 = -inf -> the period's -1
        growth = np.log1p(np.maximum(r, -1.0))
    sums = np.add.reduceat(growth, edges[:-1], axis=0)
    return np.expm1(sums)


# --- parameter plateau -----------------------------------------------------------------------


class PlateauResult(NamedTuple):
    """``score`` = neighbour_median / best (NaN when undefined); ``n_neighbours`` used."""

    score: float
    best: float
    neighbour_median: float
    n_neighbours: int


def plateau_score(
    summary: pd.DataFrame,
    params: Sequence[str],
    metric: str,
    best_row: Hashable | None = None,
    axes: Mapping[str, Sequence[Any]] | None = None,
) -> PlateauResult:
    """How flat the metric is around the best combination (1 = plateau, <= 0 = lone peak).

    The axis of a parameter is its sorted distinct values (``axes[name]`` if given, else the
    values present in ``summary``). A *neighbour* of the best row is a row whose parameters
    equal the best's except one, which sits one axis step below or above (so at most
    2 x len(params) neighbours; fewer at an edge or where a combination was dropped). NaN
    metrics are ignored. score = median(neighbours' metric) / best metric, defined when the
    best metric is > 0 and there is at least one neighbour, else NaN (``neighbour_median`` and
    ``best`` are still reported). ``best_row`` is an index label; default: the row with the
    highest metric among the rows not ``ruined`` (when the summary has that column; ruined rows
    are no neighbours either: like a NaN, their metric means nothing).
    """
    if summary.empty or metric not in summary.columns:
        raise ParamError(f"plateau: summary has no rows or no column {metric!r}")
    values = summary[metric].astype(np.float64)
    alive = summary[~summary[RUINED].astype(bool)] if RUINED in summary else summary
    label: Any = best_row
    if label is None:
        eligible = values.loc[alive.index]
        if eligible.empty:
            raise ParamError("plateau: every combination was ruined; there is no best")
        label = eligible.idxmax()
    best = summary.loc[label]
    neighbours: list[float] = []
    for name in params:
        axis = sorted(set(axes[name] if axes and name in axes else summary[name].tolist()))
        if best[name] not in axis:
            raise ParamError(f"plateau: {name}={best[name]} is not on the given axis {axis}")
        pos = axis.index(best[name])
        others = alive
        for other in params:
            if other != name:
                others = others[others[other] == best[other]]
        for j in (pos - 1, pos + 1):
            if 0 <= j < len(axis):
                hit = others.loc[others[name] == axis[j], metric].astype(np.float64)
                neighbours.extend(v for v in hit.tolist() if math.isfinite(v))
    best_value = float(values.loc[label])
    med = float(np.median(neighbours)) if neighbours else math.nan
    score = med / best_value if neighbours and best_value > 0 else math.nan
    return PlateauResult(score, best_value, med, len(neighbours))


# --- in-sample / out-of-sample ---------------------------------------------------------------


@dataclass(frozen=True)
class SplitSpec:
    """A time split: ``train_test`` (first ``train_fraction`` in-sample, the rest out) or
    ``walk_forward`` (anchored: rows cut into ``folds + 1`` equal blocks; fold j trains on
    blocks 0..j-1 and tests on block j)."""

    kind: str
    train_fraction: float | None = None
    folds: int | None = None

    @classmethod
    def from_value(cls, value: Any) -> SplitSpec:
        if isinstance(value, SplitSpec):
            return value
        if not isinstance(value, Mapping) or "kind" not in value:
            raise ParamError('split must be {"kind": "train_test"|"walk_forward", ...}')
        extra = sorted(set(value) - {"kind", "train_fraction", "folds"})
        if extra:
            raise ParamError(f"unknown split field(s): {', '.join(extra)}")
        return cls(value["kind"], value.get("train_fraction"), value.get("folds")).validate()

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "train_test":
            return {"kind": self.kind, "train_fraction": self.train_fraction}
        return {"kind": self.kind, "folds": self.folds}

    def validate(self) -> SplitSpec:
        """ParamError for an unknown kind, a fraction outside (0, 1) or folds < 1."""
        if self.kind == "train_test":
            f = 0.7 if self.train_fraction is None else self.train_fraction
            if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f < 1:
                raise ParamError(f"split train_fraction must be in (0, 1), got {f!r}")
            return SplitSpec("train_test", float(f))
        if self.kind == "walk_forward":
            k = 4 if self.folds is None else self.folds
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
                raise ParamError(f"split folds must be an integer 1..100, got {k!r}")
            return SplitSpec("walk_forward", folds=k)
        raise ParamError(f"split kind must be one of {', '.join(SPLIT_KINDS)}, got {self.kind!r}")

    def windows(self, n_obs: int) -> list[tuple[range, range]]:
        """(train rows, test rows) per fold; ParamError when a window gets < 2 rows."""
        spec = self.validate()
        if spec.kind == "train_test":
            cut = round(n_obs * float(spec.train_fraction or 0.0))
            out = [(range(0, cut), range(cut, n_obs))]
        else:
            edges = np.linspace(0, n_obs, int(spec.folds or 1) + 2).round().astype(int)
            out = [
                (range(0, int(edges[j])), range(int(edges[j]), int(edges[j + 1])))
                for j in range(1, len(edges) - 1)
            ]
        if any(len(a) < 2 or len(b) < 2 for a, b in out):
            raise ParamError(f"{n_obs} periods are too few for the {spec.kind} split")
        return out


def in_out_of_sample(
    returns: np.ndarray,
    split: SplitSpec | Mapping[str, Any],
    top_k: int = 10,
    periods_per_year: float = 1.0,
) -> pd.DataFrame:
    """In-sample vs out-of-sample Sharpe of the top ``top_k`` combinations chosen in-sample.

    ``returns`` is T periods x N combinations. Per fold of ``split``, the columns are ranked by
    in-sample Sharpe (NaN last; ties by column order) and the best ``top_k`` reported; a column
    ruined in-sample (a return <= -1 in the training rows) is never among them. Sharpe
    = mean/std (ddof=1) x sqrt(``periods_per_year``). Columns: fold, rank (1 = best in-sample),
    column (index into ``returns``' columns), train_start, train_stop, test_start, test_stop,
    is_sharpe, oos_sharpe.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] < 1:
        raise ParamError("in/out-of-sample needs a T x N return matrix")
    scale = math.sqrt(periods_per_year)
    rows = []
    for fold, (train, test) in enumerate(SplitSpec.from_value(split).windows(r.shape[0])):
        is_s = sharpe_per_period(r[train.start : train.stop]) * scale
        oos_s = sharpe_per_period(r[test.start : test.stop]) * scale
        order = np.argsort(-np.where(np.isnan(is_s), -np.inf, is_s), kind="stable")
        ruined = ruined_columns(r[train.start : train.stop])
        order = order[~ruined[order]][:top_k]
        for rank, col in enumerate(order, start=1):
            rows.append(
                (fold, rank, int(col), train.start, train.stop, test.start, test.stop,
                 float(is_s[col]), float(oos_s[col]))
            )  # fmt: skip
    cols = ["fold", "rank", "column", "train_start", "train_stop", "test_start", "test_stop",
            "is_sharpe", "oos_sharpe"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "PlateauResult",
    "SampleMoments",
    "SplitSpec",
    "aggregate_returns",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "in_out_of_sample",
    "pbo_cscv",
    "plateau_score",
    "probabilistic_sharpe_ratio",
    "return_moments",
    "ruined_columns",
    "sharpe_per_period",
]
