"""Chart-layer benchmarks: building figures for long runs (downsampled) and big sweeps.

``run()`` returns rows {"benchmark", "value", "unit", "note"}; medians in milliseconds. A
figure's build time includes downsampling and plotly validation; the JSON payload size is what
the browser receives, which downsampling keeps flat whatever the run length.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from app import charts
from app.downsample import minmax_positions
from engine.sim.synthetic import random_walk

REPEATS = 5


def _median_ms(func: Callable[[], Any], repeats: int = REPEATS) -> float:
    func()  # warm-up (imports, plotly validators)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _run_frames(n_bars: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Prices, an equity frame shaped like the engine's and ~one trade per 500 bars."""
    freq = "min" if n_bars > 100_000 else "B"
    prices = random_walk(n_bars, seed=7, freq=freq)
    close = prices["close"].to_numpy()
    equity = 100_000.0 * close / close[0]
    equity_frame = pd.DataFrame(
        {
            "equity": equity,
            "drawdown": 1.0 - equity / np.maximum.accumulate(equity),
            "position": 1.0,
            "benchmark": equity * 0.98,
        },
        index=prices.index,
    )
    entries = np.arange(0, n_bars - 250, 500)
    exits = entries + 250
    trades = pd.DataFrame(
        {
            "entry_time": prices.index[entries],
            "exit_time": prices.index[exits],
            "side": np.where(np.arange(entries.size) % 2 == 0, "long", "short"),
            "entry_price": close[entries],
            "exit_price": close[exits],
            "return": close[exits] / close[entries] - 1.0,
        }
    )
    return prices, equity_frame, trades


def _sweep_summary(shape: tuple[int, ...], seed: int = 1) -> pd.DataFrame:
    """A 10,000-row summary: one column per parameter plus a few metrics."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(1, k + 1) * 5 for k in shape], indexing="ij")
    frame = pd.DataFrame({f"p{i}": g.ravel() for i, g in enumerate(grids)})
    n = len(frame)
    frame["sharpe"] = rng.normal(0.3, 0.8, n)
    frame["total_return"] = rng.normal(0.1, 0.4, n)
    frame["max_drawdown"] = rng.uniform(0.05, 0.6, n)
    return frame


def _row(name: str, value: float, unit: str, note: str) -> dict[str, Any]:
    return {"benchmark": name, "value": round(value, 2), "unit": unit, "note": note}


def _payload_kb(fig: Any) -> float:
    return len(fig.to_json()) / 1024.0


def _run_rows(n_bars: int, label: str) -> list[dict[str, Any]]:
    prices, equity, trades = _run_frames(n_bars)
    note = f"{n_bars:,} bars, default 2,000 buckets"
    rows = [
        _row(f"equity_chart_{label}", _median_ms(partial(charts.equity_chart, equity)), "ms", note),
        _row(
            f"equity_chart_{label}_payload",
            _payload_kb(charts.equity_chart(equity)),
            "KiB",
            "figure JSON sent to the browser",
        ),
        _row(
            f"price_chart_{label}",
            _median_ms(partial(charts.price_chart, prices, trades)),
            "ms",
            f"{note}, {len(trades):,} trades",
        ),
    ]
    if n_bars > 100_000:
        values = equity["equity"].to_numpy()
        ms = _median_ms(partial(minmax_positions, values))
        rows.append(_row("minmax_downsample_1m", ms, "ms", "M4 positions for 1,000,000 points"))
    return rows


def run() -> list[dict[str, Any]]:
    """Time the equity, price and sweep charts; return one row per measurement."""
    rows = _run_rows(2_520, "2520") + _run_rows(1_000_000, "1m")
    three = _sweep_summary((25, 20, 20))
    par = _median_ms(partial(charts.parallel_coordinates, three, ["p0", "p1", "p2"], "sharpe"))
    rows.append(_row("parallel_coordinates_10k", par, "ms", "10,000 combinations"))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r['benchmark']:<32} {r['value']:>10} {r['unit']:<4} {r['note']}")
