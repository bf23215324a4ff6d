"""Min/max (M4) downsampling of line series and OHLC resampling for candlesticks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.downsample import downsample_series, downsample_xy, minmax_positions, resample_ohlc
from engine.errors import DataError, ParamError


def test_short_input_is_returned_unchanged() -> None:
    s = pd.Series(np.arange(8.0), index=pd.date_range("2024-01-01", periods=8))
    assert downsample_series(s, n_buckets=2) is s
    assert minmax_positions(np.arange(8.0), n_buckets=2).tolist() == list(range(8))


def test_each_bucket_keeps_first_min_max_last_in_time_order() -> None:
    # Two buckets of six: [5,1,9,3,4,6] and [2,8,0,7,7,3].
    values = np.array([5, 1, 9, 3, 4, 6, 2, 8, 0, 7, 7, 3], dtype=float)
    assert minmax_positions(values, n_buckets=2).tolist() == [0, 1, 2, 5, 6, 7, 8, 11]


def test_points_that_are_both_first_and_min_are_kept_once() -> None:
    values = np.arange(20.0)  # each bucket: first = min, last = max
    assert minmax_positions(values, n_buckets=2).tolist() == [0, 9, 10, 19]


def test_uneven_last_bucket_stays_inside_the_series() -> None:
    values = np.array([3, 1, 2, 9, 0, 4, 5, 8, 6], dtype=float)  # buckets of 5 and 4
    pos = minmax_positions(values, n_buckets=2)
    assert pos.tolist() == [0, 3, 4, 5, 7, 8]


def test_global_extremes_survive_order_is_kept_and_length_is_bounded() -> None:
    rng = np.random.default_rng(3)
    n = 100_003
    values = np.cumsum(rng.standard_normal(n))
    values[41_234] = values.max() + 50.0
    values[77_777] = values.min() - 50.0
    index = pd.date_range("2020-01-01", periods=n, freq="min")
    series = pd.Series(values, index=index)
    small = downsample_series(series, n_buckets=100)
    assert len(small) <= 400
    assert small.max() == values[41_234] and small.idxmax() == index[41_234]
    assert small.min() == values[77_777] and small.idxmin() == index[77_777]
    assert small.index.is_monotonic_increasing and small.index.is_unique
    # Every kept point is an original (x, y) pair, first and last included.
    assert (series.loc[small.index].to_numpy() == small.to_numpy()).all()
    assert small.index[0] == index[0] and small.index[-1] == index[-1]


def test_nan_is_ignored_for_extremes_and_does_not_raise() -> None:
    values = np.array([np.nan, 4, 1, np.nan, 7, 2, np.nan, np.nan, np.nan, 5, 3, 6], dtype=float)
    pos = minmax_positions(values, n_buckets=2)
    kept = values[pos]
    assert np.nanmin(kept) == 1 and np.nanmax(kept) == 7
    # Buckets: [nan,4,1,nan,7,2] -> first 0, min 2, max 4, last 5; [nan,nan,nan,5,3,6] ->
    # first 6, min 10, max 11 (= last).
    assert pos.tolist() == [0, 2, 4, 5, 6, 10, 11]


def test_all_nan_input_gives_bucket_edges() -> None:
    pos = minmax_positions(np.full(9, np.nan), n_buckets=2)
    assert pos.tolist() == [0, 4, 5, 8]


def test_downsample_xy_keeps_pairs_together() -> None:
    x = pd.date_range("2024-01-01", periods=50, freq="h").to_numpy()
    y = np.sin(np.arange(50) / 3.0)
    xs, ys = downsample_xy(x, y, n_buckets=5)
    assert len(xs) == len(ys) <= 20
    assert np.array_equal(ys, y[np.searchsorted(x, xs)])
    with pytest.raises(DataError):
        downsample_xy(x[:3], y)


def test_million_points_reduce_to_the_bound() -> None:
    values = np.cumsum(np.random.default_rng(0).standard_normal(1_000_000))
    pos = minmax_positions(values)
    assert pos.size <= 8000
    assert values.argmax() in pos and values.argmin() in pos


def test_bad_arguments_raise_project_errors() -> None:
    with pytest.raises(ParamError):
        minmax_positions(np.arange(10.0), n_buckets=0)
    with pytest.raises(DataError):
        minmax_positions(np.array(["a", "b"] * 20, dtype=object), n_buckets=2)


def _bars(n: int) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=n, freq="D", name="timestamp")
    base = np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            "open": 10 + base,
            "high": 12 + base,
            "low": 9 + base,
            "close": 11 + base,
            "volume": 100 + base,
        },
        index=idx,
    )


def test_resample_ohlc_by_hand() -> None:
    bars = _bars(5)
    bars.loc[bars.index[1], "high"] = 40.0
    bars.loc[bars.index[4], "low"] = 1.0
    out = resample_ohlc(bars, n_buckets=2)  # buckets: bars 0-2, bars 3-4
    assert out.index.tolist() == [bars.index[0], bars.index[3]]
    assert out["open"].tolist() == [10.0, 13.0]
    assert out["high"].tolist() == [40.0, 16.0]
    assert out["low"].tolist() == [9.0, 1.0]
    assert out["close"].tolist() == [13.0, 15.0]
    assert out["volume"].tolist() == [303.0, 207.0]


def test_resample_ohlc_short_input_unchanged_and_nan_ignored() -> None:
    bars = _bars(4)
    assert resample_ohlc(bars, n_buckets=4) is bars
    bars.loc[bars.index[0], "high"] = np.nan
    bars.loc[bars.index[1], "volume"] = np.nan
    out = resample_ohlc(bars, n_buckets=1)
    assert out["high"].tolist() == [15.0]
    assert out["volume"].tolist() == [100.0 + 102.0 + 103.0]


def test_resample_ohlc_bounds_and_extremes_on_long_input() -> None:
    bars = _bars(10_001)
    out = resample_ohlc(bars, n_buckets=100)
    assert len(out) <= 100
    assert out["high"].max() == bars["high"].max()
    assert out["low"].min() == bars["low"].min()
    assert out["volume"].sum() == bars["volume"].sum()
    assert out["open"].iloc[0] == bars["open"].iloc[0]
    assert out["close"].iloc[-1] == bars["close"].iloc[-1]


def test_resample_ohlc_without_volume_and_missing_columns() -> None:
    bars = _bars(6).drop(columns="volume")
    assert list(resample_ohlc(bars, n_buckets=2).columns) == ["open", "high", "low", "close"]
    with pytest.raises(DataError, match="close"):
        resample_ohlc(bars.drop(columns="close"), n_buckets=2)
