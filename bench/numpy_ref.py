"""The yardstick: the same jobs in plain vectorised numpy (no numba, no Python bar loop).

Long-only sma_cross with all-in fractional sizing and a commission rate, next_open or close
fills: the only case a vectorised formulation handles without a loop (every trade's growth
factor is independent of the others, so equity is a cumulative product over trades). Its
final equity is checked against the engine in the report.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def sma(x: np.ndarray, window: int) -> np.ndarray:
    """Moving average via a cumulative sum; NaN before the first full window."""
    csum = np.cumsum(np.concatenate(([0.0], x)))
    out = np.full(x.shape[0], np.nan)
    out[window - 1 :] = (csum[window:] - csum[:-window]) / window
    return out


def sma_cross_target(
    close: np.ndarray, fast: int, slow: int, cache: dict[Any, np.ndarray] | None = None
) -> np.ndarray:
    """1.0 while SMA(fast) > SMA(slow), else 0.0; 0.0 while SMA(slow) is undefined (the first
    ``slow - 1`` bars: DESIGN.md's warm-up)."""
    cache = {} if cache is None else cache
    for w in (fast, slow):
        if w not in cache:
            cache[w] = sma(close, w)
    target = (cache[fast] > cache[slow]).astype(np.float64)
    target[: slow - 1] = 0.0  # NaN comparisons are already False; stated for the reader
    return target


def simulate(
    open_: np.ndarray, close: np.ndarray, target: np.ndarray, cash: float, c: float, fill: str
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Equity and position per bar plus trade arrays, fully vectorised."""
    if fill == "next_open":
        held = np.concatenate(([0.0], target[:-1]))
        px = open_
    else:
        held = target
        px = close
    step = np.diff(np.concatenate(([0.0], held)))
    entries = np.flatnonzero(step > 0)
    exits = np.flatnonzero(step < 0)
    entry_px = px[entries]
    exit_px = px[exits]
    closed = exits.shape[0]
    growth = exit_px * (1.0 - c) / (entry_px[:closed] * (1.0 + c))
    wealth = cash * np.concatenate(([1.0], np.cumprod(growth)))  # cash after k closed trades
    units = wealth[: entries.shape[0]] / (entry_px * (1.0 + c))
    trade_no = np.cumsum(step > 0) - 1
    done = np.cumsum(step < 0)
    inside = held > 0
    position = np.where(inside, units[np.maximum(trade_no, 0)], 0.0) if entries.size else held * 0
    equity = np.where(inside, position * close, wealth[done])
    final_px = np.concatenate((exit_px * (1.0 - c), close[-1:] if entries.size > closed else []))
    cost = units * entry_px * (1.0 + c)
    pnl = units * final_px - cost
    trades = {"entry_idx": entries, "exit_idx": exits, "pnl": pnl, "return": pnl / cost * (1 + c)}
    return equity, position, trades


def metrics(
    equity: np.ndarray,
    position: np.ndarray,
    close: np.ndarray,
    trades: dict[str, np.ndarray],
    cash: float,
    years: float,
) -> dict[str, float]:
    """The engine's metric set with numpy only (run lengths via index arithmetic)."""
    n = equity.shape[0]
    ppy = n / years if years > 0 else 252.0
    r = equity / np.concatenate(([cash], equity[:-1])) - 1.0
    sd = float(np.std(r, ddof=1))
    mean = float(np.mean(r))
    down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    dd = 1.0 - equity / np.maximum(np.maximum.accumulate(equity), cash)
    under = np.concatenate(([False], dd > 0.0, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(under))
    runs = edges[1::2] - edges[::2]
    final = float(equity[-1])
    cagr = (final / cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else math.nan
    mdd = float(dd.max())
    pnl = trades["pnl"]
    loss = -float(pnl[pnl < 0].sum())
    return {
        "total_return": final / cash - 1.0,
        "cagr": cagr,
        "volatility": sd * math.sqrt(ppy),
        "sharpe": mean / sd * math.sqrt(ppy) if sd else math.nan,
        "sortino": mean / down * math.sqrt(ppy) if down else math.nan,
        "max_drawdown": mdd,
        "max_drawdown_duration": float(runs.max()) if runs.size else 0.0,
        "calmar": cagr / mdd if mdd else math.nan,
        "n_trades": float(pnl.size),
        "win_rate": float(np.mean(pnl > 0)) if pnl.size else math.nan,
        "profit_factor": float(pnl[pnl > 0].sum()) / loss if loss else math.nan,
        "avg_trade_return": float(np.mean(trades["return"])) if pnl.size else math.nan,
        "exposure": float(np.mean(position != 0)),
        "final_equity": final,
        "buy_hold_return": float(close[-1] / close[0] - 1.0),
        "periods_per_year": ppy,
    }


def _years(prices: pd.DataFrame) -> float:
    ts = prices.index.to_numpy()
    return float((ts[-1] - ts[0]) / np.timedelta64(1, "s")) / (365.25 * 86400.0)


def run_backtest(
    prices: pd.DataFrame, fast: int, slow: int, cash: float = 100_000.0, c: float = 0.001,
    fill: str = "next_open",
) -> tuple[dict[str, float], pd.DataFrame]:  # fmt: skip
    """One run: metrics plus the equity frame (equity, drawdown, position, benchmark)."""
    o, cl = prices["open"].to_numpy(), prices["close"].to_numpy()
    equity, position, trades = simulate(o, cl, sma_cross_target(cl, fast, slow), cash, c, fill)
    dd = 1.0 - equity / np.maximum(np.maximum.accumulate(equity), cash)
    frame = pd.DataFrame(
        {"equity": equity, "drawdown": dd, "position": position, "benchmark": cash * cl / cl[0]},
        index=prices.index,
    )
    return metrics(equity, position, cl, trades, cash, _years(prices)), frame


def run_sweep(
    prices: pd.DataFrame, combos: list[tuple[int, int]], c: float = 0.001
) -> pd.DataFrame:
    """Every (fast, slow) combination, SMAs shared; one metrics row each."""
    o, cl = prices["open"].to_numpy(), prices["close"].to_numpy()
    years = _years(prices)
    cache: dict[Any, np.ndarray] = {}
    rows = []
    for fast, slow in combos:
        equity, position, trades = simulate(
            o, cl, sma_cross_target(cl, fast, slow, cache), 100_000.0, c, "next_open"
        )
        rows.append(
            {"fast": fast, "slow": slow, **metrics(equity, position, cl, trades, 1e5, years)}
        )
    return pd.DataFrame(rows)
