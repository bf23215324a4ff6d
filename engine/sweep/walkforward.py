"""Walk-forward optimisation: choose in-sample, run out-of-sample, stitch (pure, no I/O).

Per window (:mod:`engine.sweep.wf_windows`) the parameter space is evaluated on the in-sample
bars only (its indicators warm up inside them). The best combination is the one with the
highest in-sample ``metric`` among the combinations that are not ruined, have a finite metric
and satisfy every constraint (ties: the lowest combo id). It is then run out-of-sample.

Out-of-sample warm-up rule: the run of window ``k`` is :func:`engine.run_backtest` on the bars
``[oos_start - W, oos_stop)`` with ``W = strategy.warmup(params)`` (bars whose target the
strategy forces flat). Those W bars only feed the indicators: the target is flat on them, so
no trade opens and equity stays at the starting cash before ``oos_start``; the window's
equity, trades and metrics are taken from ``oos_start`` on. A window whose in-sample part has
no eligible combination stays in cash (flat, no trades) and says why.

Stitching: window ``k``'s run starts with the final equity of window ``k - 1`` as its cash (the
first with ``options.cash``), so the stitched out-of-sample curve is the runs chained. A position
still open at a window's end is valued at that window's last close (the engine's end-of-run
rule, no exit commission) and the next window starts flat. After a ruin (equity 0) the
remaining windows stay at 0. Buy-and-hold over the same bars: ``cash * close / close[first
out-of-sample bar]``.

Walk-forward efficiency (WFE) = mean over windows of the chosen combination's out-of-sample
``metric`` / mean over the same windows of its in-sample ``metric``, over the windows where both
are finite; undefined (NaN) when no window qualifies or the in-sample mean is <= 0. With an
annualised metric (Sharpe, Sortino, CAGR, Calmar) the ratio compares like with like although
the windows differ in length; with ``total_return`` it does not (a longer in-sample window
earns more), so prefer CAGR for a return-based efficiency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ParamError
from engine.sim.metrics import MetricInputs, annual_periods, compute_metrics, years_between
from engine.sim.strategies import Strategy, get_strategy
from engine.spec import SimOptions
from engine.sweep.wf_windows import WalkForwardSpec, Window, parse_constraint, windows

COMBO_ID = "combo_id"
RUINED = "ruined"
EQUITY_COLUMNS = ("window", "equity", "drawdown", "position", "benchmark")


# --- choosing in-sample ------------------------------------------------------------------------


def eligible(rows: pd.DataFrame, wf: WalkForwardSpec) -> np.ndarray:
    """Rows that may be chosen: not ruined, finite metric, every constraint holds."""
    ok = np.isfinite(rows[wf.metric].to_numpy(dtype=np.float64))
    if RUINED in rows.columns:
        ok &= ~rows[RUINED].fillna(False).to_numpy(dtype=bool)
    for text in wf.constraints:
        c = parse_constraint(text)
        ok &= c.holds(rows[c.metric].to_numpy(dtype=np.float64))
    return np.asarray(ok, dtype=bool)


def choose(rows: pd.DataFrame, wf: WalkForwardSpec) -> tuple[int | None, str]:
    """(row position of the in-sample best, "") or (None, why nothing qualified)."""
    if rows.empty:
        return None, "no in-sample rows"
    ok = eligible(rows, wf)
    if not ok.any():
        cons = f" satisfying {', '.join(wf.constraints)}" if wf.constraints else ""
        return None, f"no combination was unruined with a finite {wf.metric}{cons} in-sample"
    values = np.where(ok, rows[wf.metric].to_numpy(dtype=np.float64), -np.inf)
    ids = rows[COMBO_ID].to_numpy() if COMBO_ID in rows.columns else np.arange(len(rows))
    order = np.lexsort((ids, -values))  # highest metric first, then lowest combo id
    return int(order[0]), ""


# --- out-of-sample runs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One window's out-of-sample part: equity rows (OOS bars only), trades, metrics."""

    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float]
    cash: float

    @property
    def final(self) -> float:
        return float(self.equity["equity"].iloc[-1])


def file_ppy(prices: pd.DataFrame, options: SimOptions) -> float:
    """Periods per year of the whole file (options.periods_per_year when given)."""
    ts = prices.index.to_numpy()
    return annual_periods(len(prices), years_between(ts[[0, -1]]), options.periods_per_year)


def _segment_metrics(
    equity: pd.DataFrame, trades: pd.DataFrame, close: np.ndarray, cash: float, ppy: float
) -> dict[str, float]:
    pnl = trades["pnl"].to_numpy(np.float64) if len(trades) else np.empty(0)
    ret = trades["return"].to_numpy(np.float64) if len(trades) else np.empty(0)
    return compute_metrics(
        MetricInputs(
            equity["equity"].to_numpy(np.float64),
            equity.index.to_numpy(),
            pnl,
            ret,
            equity["position"].to_numpy(np.float64),
            close,
            cash,
        ),
        periods_per_year=ppy,
    )


def oos_run(  # noqa: PLR0913, PLR0917 - one window's run is six things
    prices: pd.DataFrame,
    strategy: Strategy,
    params: Mapping[str, Any],
    options: SimOptions,
    window: Window,
    cash: float,
) -> Segment:
    """The chosen ``params`` on window's out-of-sample bars, started with ``cash`` (see the
    module docstring for the warm-up rule)."""
    from engine.api import run_backtest

    warm = strategy.warmup(params)
    lo = window.oos_start - warm
    if lo < 0:
        raise ParamError(
            f"window {window.number}: {strategy.label(params)} needs {warm} warm-up bars before "
            f"the out-of-sample start (bar {window.oos_start}); lengthen the in-sample window"
        )
    res = run_backtest(
        prices.iloc[lo : window.oos_stop], strategy, params, options=replace(options, cash=cash)
    )
    start = prices.index[window.oos_start]
    if len(res.trades) and (res.trades["entry_time"] < start).any():
        raise RuntimeError(f"window {window.number}: a trade opened during the warm-up bars")
    equity = res.equity.iloc[warm:].copy()
    close = prices["close"].to_numpy(np.float64)[window.oos_start : window.oos_stop]
    metrics = _segment_metrics(equity, res.trades, close, cash, file_ppy(prices, options))
    return Segment(equity, res.trades, metrics, cash)


def flat_segment(prices: pd.DataFrame, window: Window, cash: float, ppy: float) -> Segment:
    """A window spent in cash: equity ``cash`` on every out-of-sample bar, no trades."""
    index = prices.index[window.oos_start : window.oos_stop]
    n = len(index)
    equity = pd.DataFrame(
        {"equity": np.full(n, cash), "drawdown": np.zeros(n), "position": np.zeros(n),
         "benchmark": np.full(n, cash)},
        index=index,
    )  # fmt: skip
    trades = pd.DataFrame({"pnl": [], "return": []})
    close = prices["close"].to_numpy(np.float64)[window.oos_start : window.oos_stop]
    metrics = _segment_metrics(equity, trades, close, max(cash, 1e-300), ppy)
    return Segment(equity, trades, metrics, cash)


# --- the walk-forward of one file ------------------------------------------------------------


@dataclass(frozen=True)
class WalkForwardResult:
    """``table`` (one row per window), ``equity`` (stitched OOS: window, equity, drawdown,
    position, benchmark = buy-and-hold), ``trades`` (every OOS trade, with its window),
    ``metrics`` (of the stitched curve), ``buy_hold`` (metrics of buy-and-hold on the same
    bars), ``efficiency`` (WFE, NaN when undefined) and the spec."""

    table: pd.DataFrame
    equity: pd.DataFrame
    trades: pd.DataFrame
    metrics: dict[str, float]
    buy_hold: dict[str, float]
    efficiency: float
    spec: WalkForwardSpec


def efficiency(is_values: Sequence[float], oos_values: Sequence[float]) -> float:
    """mean(OOS) / mean(IS) over the pairs where both are finite; NaN when undefined."""
    pairs = [
        (float(a), float(b))
        for a, b in zip(is_values, oos_values, strict=True)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    ]
    if not pairs:
        return math.nan
    mean_is = float(np.mean([a for a, _ in pairs]))
    if mean_is <= 0:
        return math.nan
    return float(np.mean([b for _, b in pairs])) / mean_is


def _time(prices: pd.DataFrame, i: int) -> str:
    return pd.Timestamp(prices.index[i]).isoformat()


def stitch(  # noqa: PLR0913, PLR0917
    prices: pd.DataFrame,
    strategy: str | Strategy,
    options: SimOptions,
    wf: WalkForwardSpec,
    wins: Sequence[Window],
    chosen: Sequence[tuple[dict[str, Any] | None, float, str]],
) -> WalkForwardResult:
    """Run each window's choice ``(params or None, in-sample metric, reason)`` out-of-sample,
    chained; the per-window table, stitched curve, metrics and efficiency."""
    strat = get_strategy(strategy) if isinstance(strategy, str) else strategy
    ppy = file_ppy(prices, options)
    cash = float(options.cash)
    rows: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    trades: list[pd.DataFrame] = []
    for w, (params, is_metric, why) in zip(wins, chosen, strict=True):
        reason = why
        if params is not None and cash > 0:
            seg = oos_run(prices, strat, params, options, w, cash)
        else:
            if params is not None:
                reason = "equity reached zero in an earlier window; stays at 0"
            seg = flat_segment(prices, w, cash, ppy)
        curve = seg.equity[["equity", "position"]].copy()
        curve.insert(0, "window", w.number)
        curves.append(curve)
        if len(seg.trades):
            trades.append(seg.trades.assign(window=w.number))
        oos_metric = seg.metrics.get(wf.metric, math.nan)
        rows.append(
            {
                "window": w.number,
                "is_start": _time(prices, w.is_start),
                "is_end": _time(prices, w.is_stop - 1),
                "oos_start": _time(prices, w.oos_start),
                "oos_end": _time(prices, w.oos_stop - 1),
                "is_bars": w.is_stop - w.is_start,
                "oos_bars": w.oos_stop - w.oos_start,
                "params": dict(params) if params is not None else None,
                "is_metric": is_metric,
                "oos_metric": oos_metric if params is not None and cash > 0 else math.nan,
                "start_equity": seg.cash,
                "end_equity": seg.final,
                "oos_return": seg.final / seg.cash - 1 if seg.cash > 0 else math.nan,
                "oos_n_trades": int(seg.metrics.get("n_trades", 0) or 0),
                "note": reason,
            }
        )
        cash = seg.final
    equity = pd.concat(curves)
    equity = _with_benchmark(prices, equity, float(options.cash))
    all_trades = (
        pd.concat(trades, ignore_index=True)
        if trades
        else pd.DataFrame({"pnl": [], "return": [], "window": []})
    )
    close = prices["close"].reindex(equity.index).to_numpy(np.float64)
    metrics = _segment_metrics(equity, all_trades, close, float(options.cash), ppy)
    bench = pd.DataFrame(
        {"equity": equity["benchmark"], "position": np.ones(len(equity))}, index=equity.index
    )
    bh = _segment_metrics(bench, pd.DataFrame(), close, float(options.cash), ppy)
    table = pd.DataFrame(rows)
    eff = efficiency(table["is_metric"].tolist(), table["oos_metric"].tolist())
    return WalkForwardResult(table, equity, all_trades, metrics, bh, eff, wf)


def _with_benchmark(prices: pd.DataFrame, equity: pd.DataFrame, cash: float) -> pd.DataFrame:
    close = prices["close"].reindex(equity.index).to_numpy(np.float64)
    eq = equity["equity"].to_numpy(np.float64)
    peak = np.maximum(np.maximum.accumulate(eq), cash)
    out = equity.copy()
    out["drawdown"] = np.where(peak > 0, 1.0 - eq / np.where(peak > 0, peak, 1.0), 0.0)
    out["benchmark"] = cash * close / close[0]
    return out[list(EQUITY_COLUMNS)]


def params_path(table: pd.DataFrame) -> pd.DataFrame:
    """The chosen parameters per window: one column per parameter (NaN where none chosen)."""
    records = [p if isinstance(p, Mapping) else {} for p in table["params"]]
    frame = pd.DataFrame.from_records(records, index=table["window"].to_numpy())
    frame.index.name = "window"
    return frame


def walk_forward(  # noqa: PLR0913
    prices: pd.DataFrame,
    strategy: str | Strategy,
    space: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    wf: WalkForwardSpec,
    *,
    options: SimOptions | None = None,
    evaluate: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> WalkForwardResult:
    """The whole walk-forward of one file in-process (the jobs split the in-sample work into
    array children; the choice and stitching are these same functions).

    ``evaluate`` maps an in-sample slice to the rows of every combination (default:
    :func:`engine.run_sweep` over ``space``)."""
    from engine.api import run_sweep

    opts = options or SimOptions()
    wf = wf.validate()
    strat = get_strategy(strategy) if isinstance(strategy, str) else strategy
    names = [p.name for p in strat.params]

    def default_eval(frame: pd.DataFrame) -> pd.DataFrame:
        table = run_sweep(frame, strat, space, options=opts)
        return table.assign(**{COMBO_ID: np.arange(len(table))})

    run = evaluate or default_eval
    wins = windows(wf, pd.DatetimeIndex(prices.index))
    chosen: list[tuple[dict[str, Any] | None, float, str]] = []
    for w in wins:
        rows = run(prices.iloc[w.is_start : w.is_stop])
        pos, reason = choose(rows, wf)
        if pos is None:
            chosen.append((None, math.nan, reason))
            continue
        row = rows.iloc[pos]
        params = {n: _plain(row[n]) for n in names if n in rows.columns}
        chosen.append((params, float(row[wf.metric]), ""))
    return stitch(prices, strat, opts, wf, wins, chosen)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


__all__ = [
    "Segment",
    "WalkForwardResult",
    "choose",
    "efficiency",
    "eligible",
    "oos_run",
    "params_path",
    "stitch",
    "walk_forward",
]
