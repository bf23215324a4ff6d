"""The Python API: :func:`run_backtest` (one run, everything kept) and :func:`run_sweep`.

Both validate first (options, strategy, parameters, enough bars) and raise the project's
one-line errors; the hot path after that is numpy + the compiled kernels of
:mod:`engine.sim.kernels`, with pandas only to wrap the outputs.

Metrics come out of the simulation pass itself (the kernels accumulate them online and
reproduce :func:`engine.sim.metrics.compute_metrics`'s definitions; the tests check the two agree),
so a million-bar run costs one pass over the bars instead of a dozen numpy passes.

Ruin (DESIGN.md "Ruin", engine/sim/kernels.py): a run whose equity reaches 0 at a mark is closed
there and stays flat at 0; its metrics say ``ruined`` = True and ``ruined_at`` (the ISO-8601
timestamp of that bar; None when not ruined), and a sweep table has a boolean ``ruined``
column.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DataError, ParamError
from engine.sim import kernels as k
from engine.sim.strategies import Bars, Strategy, get_strategy
from engine.spec import SimOptions
from engine.sweep.spec import space_values

PRICE_COLUMNS = ("open", "high", "low", "close")
EQUITY_COLUMNS = ("equity", "drawdown", "position", "benchmark")
TRADE_COLUMNS = (
    "entry_time",
    "exit_time",
    "side",
    "units",
    "entry_price",
    "exit_price",
    "pnl",
    "return",
    "bars_held",
    "exit_reason",
)
SIDE_DTYPE = pd.CategoricalDtype(["long", "short"])
REASON_DTYPE = pd.CategoricalDtype(list(k.EXIT_REASONS))


@dataclass(frozen=True)
class BacktestResult:
    """One run: ``metrics`` (METRIC_NAMES -> float, except ``ruined`` -> bool, plus
    ``ruined_at`` -> ISO-8601 str or None), ``equity`` (indexed by timestamp: equity, drawdown,
    position, benchmark), ``trades`` (TRADE_COLUMNS), and what was run."""

    metrics: dict[str, Any]
    equity: pd.DataFrame
    trades: pd.DataFrame
    strategy: str
    params: dict[str, Any]
    options: SimOptions = field(default_factory=SimOptions)


def run_backtest(
    prices: pd.DataFrame,
    strategy: str | Strategy = "sma_cross",
    params: Mapping[str, Any] | None = None,
    *,
    options: SimOptions | None = None,
    **overrides: Any,
) -> BacktestResult:
    """Backtest ``strategy`` with ``params`` on ``prices`` (a :func:`engine.load_prices` frame).

    ``options`` (a :class:`SimOptions`) and keyword ``overrides`` (``cash=``, ``commission=``,
    ``fill=``, ...) set the simulation. Bad options or parameters raise ParamError, too few
    bars raises DataError.
    """
    opts = resolve_options(options, overrides)
    strat = _strategy(strategy)
    p = strat.validate(params)
    frame = _check_prices(prices)
    _check_enough_bars(frame, strat, p)
    bars = Bars.from_frame(frame)
    target = _target(strat, bars, p, None)
    cfg = _config(opts, frame)
    n = len(frame)
    block = np.empty((len(EQUITY_COLUMNS), n))  # rows ROW_EQUITY..ROW_BENCHMARK; no cash row
    buf = np.empty((k.max_trades(target), k.TRADE_COLUMNS))  # not n rows: 72 MB at 1M bars
    n_trades, row = k.simulate_into(
        bars.open, bars.high, bars.low, bars.close, target, cfg, block, buf, True
    )
    if n_trades > buf.shape[0]:  # max_trades is a proven bound; guard it anyway
        raise RuntimeError(f"trade buffer too small: {n_trades} > {buf.shape[0]}")
    equity = pd.DataFrame(block.T, index=frame.index, columns=list(EQUITY_COLUMNS), copy=False)
    metrics = run_metrics(row, block[k.ROW_EQUITY], frame.index)
    trades = trades_frame(buf[:n_trades], frame.index)
    return BacktestResult(metrics, equity, trades, strat.name, p, opts)


def run_sweep(
    prices: pd.DataFrame,
    strategy: str | Strategy,
    space: Mapping[str, Iterable[Any] | Any] | Sequence[Mapping[str, Any]],
    *,
    options: SimOptions | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """Evaluate many parameter combinations; one row per valid one: params + every metric.

    ``space`` is either a grid ``{"fast": range(5, 55, 5), "slow": [20, 40]}`` (Cartesian
    product; a scalar is a single value) or a list of parameter dicts. Combinations that break a
    bound or a constraint (e.g. fast >= slow) are dropped; none left is a ParamError. Indicator
    arrays are shared between combinations and each combination runs the fused kernel.
    """
    opts = resolve_options(options, overrides)
    strat = _strategy(strategy)
    combos = expand_space(strat, space)
    frame = _check_prices(prices)
    _check_enough_bars(frame, strat, max(combos, key=strat.warmup_fn))
    bars = Bars.from_frame(frame)
    cfg = _config(opts, frame)
    cache: dict[tuple[Any, ...], np.ndarray] = {}
    rows = np.empty((len(combos), len(k.METRIC_ORDER)))
    for i, p in enumerate(combos):
        target = _target(strat, bars, p, cache)
        rows[i] = k.simulate_metrics(bars.open, bars.high, bars.low, bars.close, target, cfg)
    table = pd.DataFrame(combos, columns=[prm.name for prm in strat.params])
    metrics = pd.DataFrame(rows, columns=list(k.METRIC_ORDER))
    metrics[RUINED] = metrics[RUINED] != 0.0
    return pd.concat([table, metrics], axis=1)


RUINED, RUINED_AT = "ruined", "ruined_at"


def run_metrics(row: np.ndarray, equity: np.ndarray, index: pd.Index) -> dict[str, Any]:
    """A single run's metrics dict from the kernel's row: floats in METRIC_ORDER, ``ruined``
    as a bool and ``ruined_at`` (the first bar at equity 0, ISO 8601) or None."""
    metrics: dict[str, Any] = dict(zip(k.METRIC_ORDER, row.tolist(), strict=True))
    ruined = metrics[RUINED] != 0.0
    metrics[RUINED] = ruined
    metrics[RUINED_AT] = None
    if ruined:  # equity is floored at exactly 0 from the ruin bar on
        metrics[RUINED_AT] = pd.Timestamp(index[int(np.argmax(equity <= 0.0))]).isoformat()
    return metrics


def resolve_options(options: SimOptions | None, overrides: Mapping[str, Any]) -> SimOptions:
    """``options`` (default :class:`SimOptions`) with ``overrides`` applied, validated."""
    if options is not None and not isinstance(options, SimOptions):
        raise ParamError(f"options must be a SimOptions, got {type(options).__name__}")
    opts = options or SimOptions()
    if overrides:
        opts = opts.with_overrides(**overrides)
    return opts.validate()


def expand_space(
    strategy: Strategy, space: Mapping[str, Iterable[Any] | Any] | Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Validated parameter dicts of a grid (or list of dicts), invalid ones dropped, in order."""
    if isinstance(space, Mapping):
        for name in space:
            strategy.param(name)  # unknown names are an error, not a silent drop
        names = list(space)
        axes = [space_values(name, space[name]) for name in names]
        raw: Iterable[dict[str, Any]] = (
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)
        )
    elif isinstance(space, Sequence) and not isinstance(space, str | bytes):
        raw = [dict(c) for c in space]
    else:
        raise ParamError("sweep space must be a mapping of name -> values or a list of dicts")
    valid: list[dict[str, Any]] = []
    first_error: ParamError | None = None
    for combo in raw:
        try:
            valid.append(strategy.validate(combo))
        except ParamError as exc:
            first_error = first_error or exc
    if not valid:
        why = f" (e.g. {first_error})" if first_error else ""
        raise ParamError(f"sweep of {strategy.name} has no valid parameter combination{why}")
    return valid


def trades_frame(trades: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """The trades table (TRADE_COLUMNS) from the kernel's ``(k, TRADE_COLUMNS)`` array.

    ``side`` ("long"/"short") and ``exit_reason`` (EXIT_REASONS) are categoricals with fixed
    categories: built from codes, ten times faster than string columns for 10k trades.
    """
    entry = trades[:, k.T_ENTRY_IDX].astype(np.int64)
    exit_ = trades[:, k.T_EXIT_IDX].astype(np.int64)
    reason = trades[:, k.T_REASON].astype(np.int8)
    ts = index.to_numpy()
    exit_time = ts[exit_]
    exit_time[reason == k.EXIT_OPEN] = np.datetime64("NaT")
    short = (trades[:, k.T_SIDE] < 0).astype(np.int8)
    return pd.DataFrame(
        {
            "entry_time": ts[entry],
            "exit_time": exit_time,
            "side": pd.Categorical.from_codes(short, dtype=SIDE_DTYPE),
            "units": trades[:, k.T_UNITS],
            "entry_price": trades[:, k.T_ENTRY_PRICE],
            "exit_price": trades[:, k.T_EXIT_PRICE],
            "pnl": trades[:, k.T_PNL],
            "return": trades[:, k.T_RETURN],
            "bars_held": exit_ - entry,
            "exit_reason": pd.Categorical.from_codes(reason, dtype=REASON_DTYPE),
        },
        columns=list(TRADE_COLUMNS),
    )


# --- helpers -------------------------------------------------------------------------------


def _strategy(strategy: str | Strategy) -> Strategy:
    return strategy if isinstance(strategy, Strategy) else get_strategy(strategy)


def _check_prices(prices: Any) -> pd.DataFrame:
    if not isinstance(prices, pd.DataFrame):
        raise DataError(
            f"prices must be a DataFrame from engine.load_prices, got {type(prices).__name__}"
        )
    missing = [c for c in PRICE_COLUMNS if c not in prices.columns]
    if missing:
        raise DataError(f"prices lack column(s) {', '.join(missing)}; load them with load_prices")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataError("prices must be indexed by timestamp; load them with load_prices")
    return prices


def _check_enough_bars(frame: pd.DataFrame, strategy: Strategy, params: dict[str, Any]) -> None:
    from engine.data import check_enough_bars

    name = str(frame.attrs.get("name") or "the price data")
    needed = int(strategy.warmup_fn(params)) + 1
    check_enough_bars(frame, needed, name, f"strategy {strategy.label(params)}")


def _target(
    strategy: Strategy,
    bars: Bars,
    params: dict[str, Any],
    cache: dict[tuple[Any, ...], np.ndarray] | None,
) -> np.ndarray:
    """The strategy's target as a contiguous float64 array. Short (-1) targets are not clipped
    here: the kernel reads them as flat unless ``allow_short`` (one pass less over the bars)."""
    target = strategy.signal(bars, params, cache)
    return np.ascontiguousarray(target, dtype=np.float64)


def _config(opts: SimOptions, frame: pd.DataFrame) -> np.ndarray:
    from engine.sim.metrics import annual_periods, years_between

    ts = frame.index.to_numpy()
    years = years_between(ts[[0, -1]])
    ppy = annual_periods(len(frame), years, opts.periods_per_year)
    return k.make_config(opts, ppy, years)
