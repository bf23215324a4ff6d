"""Single runs: sma_cross(10, 50) on 2,520 / 100,000 / 1,000,000 synthetic bars, warm.

Engine (``run_backtest``: signal, kernel, metrics and the equity/trades frames) beside the
numpy yardstick (:mod:`bench.numpy_ref`), medians of repeated calls in this process.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from bench.common import Row, fmt_time, median_seconds, synthetic

TITLE = "single run"
SIZES = ((2_520, 41), (100_000, 15), (1_000_000, 7))
TARGET_1M = 0.020  # seconds, warm, metrics included


def run(quick: bool = False) -> list[Row]:
    """Time both implementations on each size; the engine's 1M-bar row carries the target."""
    from bench import numpy_ref
    from engine import run_backtest

    rows: list[Row] = []
    for n, repeats in SIZES:
        prices = synthetic(n, seed=0)
        reps = max(3, repeats // 3) if quick else repeats
        res = run_backtest(prices, "sma_cross", {"fast": 10, "slow": 50})
        engine_s = median_seconds(partial(run_backtest, prices, "sma_cross"), reps)
        ref_metrics, _ = numpy_ref.run_backtest(prices, 10, 50)
        ref_s = median_seconds(partial(numpy_ref.run_backtest, prices, 10, 50), reps)
        diff = abs(ref_metrics["final_equity"] / res.metrics["final_equity"] - 1.0)
        is_1m = n == 1_000_000
        rows.append(
            Row(
                TITLE,
                f"{n:,} bars",
                "engine",
                fmt_time(engine_s),
                f"{n / engine_s / 1e6:.1f} M bars/s",
                target="<= 20 ms" if is_1m else "",
                ok=(engine_s <= TARGET_1M) if is_1m else None,
                note=_breakdown(prices, engine_s) if is_1m else "",
            )
        )
        rows.append(
            Row(
                TITLE,
                f"{n:,} bars",
                "numpy",
                fmt_time(ref_s),
                f"{n / ref_s / 1e6:.1f} M bars/s",
                note=f"final equity within {diff:.1e} of the engine's"
                if math.isfinite(diff)
                else "",
            )
        )
    return rows


def _breakdown(prices: object, total_s: float) -> str:
    """Where a 1M-bar run's time goes: signal, kernel (simulation + metrics), the rest
    (validation, buffers, the equity and trades frames) out of the run's median ``total_s``."""
    from engine import api
    from engine.sim import kernels as k
    from engine.sim.strategies import Bars, get_strategy

    strat = get_strategy("sma_cross")
    params = strat.validate({})
    opts = api.resolve_options(None, {})
    frame = api._check_prices(prices)
    bars = Bars.from_frame(frame)
    target = api._target(strat, bars, params, None)
    cfg = api._config(opts, frame)
    n = len(frame)

    def kernel() -> None:
        block = np.empty((4, n))
        buf = np.empty((k.max_trades(target), k.TRADE_COLUMNS))
        k.simulate_into(bars.open, bars.high, bars.low, bars.close, target, cfg, block, buf, True)

    signal_s = median_seconds(lambda: strat.signal(bars, params), 7)
    kernel_s = median_seconds(kernel, 7)
    rest_s = max(total_s - signal_s - kernel_s, 0.0)
    return (
        f"breakdown: signal {fmt_time(signal_s)}, kernel incl. metrics {fmt_time(kernel_s)}, "
        f"rest {fmt_time(rest_s)}"
    )
