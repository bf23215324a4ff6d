"""Synthetic OHLCV bars: random walks with regimes (trend, range, crash), no network.

Used by ``make run`` to seed sample files, by the benchmarks and by tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk(
    n_bars: int, seed: int = 0, start: str = "2015-01-05", freq: str = "B", price: float = 100.0
) -> pd.DataFrame:
    """Return ``n_bars`` of daily-like OHLCV bars indexed by timestamp.

    Regimes switch every 60-250 bars between up-trend, down-trend, range and a volatile crash,
    so trend and mean-reversion strategies both have something to find.

    >>> df = random_walk(300, seed=1)
    >>> list(df.columns), len(df), bool((df.high >= df.low).all())
    (['open', 'high', 'low', 'close', 'volume'], 300, True)
    """
    if n_bars < 1:
        raise ValueError("n_bars must be >= 1")
    rng = np.random.default_rng(seed)
    drift = np.empty(n_bars)
    vol = np.empty(n_bars)
    i = 0
    regimes = ((0.0008, 0.012), (-0.0006, 0.014), (0.0, 0.009), (-0.003, 0.035))
    while i < n_bars:
        length = int(rng.integers(60, 250))
        mu, sigma = regimes[int(rng.choice(4, p=(0.4, 0.25, 0.3, 0.05)))]
        drift[i : i + length] = mu
        vol[i : i + length] = sigma
        i += length
    log_ret = drift + vol * rng.standard_normal(n_bars)
    close = price * np.exp(np.cumsum(log_ret))
    gap = vol * 0.3 * rng.standard_normal(n_bars)
    open_ = np.empty(n_bars)
    open_[0] = price
    open_[1:] = close[:-1] * np.exp(gap[1:])
    spread = np.abs(vol * rng.standard_normal(n_bars)) * close * 0.8
    high = np.maximum(open_, close) + spread * rng.random(n_bars)
    low = np.minimum(open_, close) - spread * rng.random(n_bars)
    low = np.maximum(low, np.minimum(open_, close) * 0.5)
    volume = np.round(rng.lognormal(13.0, 0.5, n_bars))
    index = pd.date_range(start=start, periods=n_bars, freq=freq, name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )
