"""The pure chart layer: every function returns a plotly Figure built from hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from app import charts
from app.chart_data import (
    SampleSize,
    axis_bins,
    best_order,
    monthly_returns,
    parcoords_sample,
    sorted_values,
)
from engine.errors import DataError

NAN = float("nan")


def _xs(trace: go.BaseTraceType) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(trace.x)))


def _annotations(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def _equity(values: list[float], start: str = "2024-01-01", **extra: list[float]) -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(values), freq="D", name="timestamp")
    return pd.DataFrame({"equity": values, **extra}, index=idx)


@pytest.fixture
def equity() -> pd.DataFrame:
    return _equity(
        [100.0, 110.0, 99.0, 121.0],
        drawdown=[0.0, 0.0, 0.1, 0.0],
        position=[0.0, 1.0, 1.0, 0.0],
        benchmark=[100.0, 105.0, 102.0, 108.0],
    )


# --- equity and drawdown ---------------------------------------------------------------------


def test_equity_chart_strategy_and_buy_and_hold(equity: pd.DataFrame) -> None:
    fig = charts.equity_chart(equity)
    assert [(t.type, t.name) for t in fig.data] == [
        ("scatter", "Strategy"),
        ("scatter", "Buy & hold"),
    ]
    assert list(fig.data[0].y) == [100.0, 110.0, 99.0, 121.0]
    assert list(fig.data[1].y) == [100.0, 105.0, 102.0, 108.0]
    assert (_xs(fig.data[0]) == equity.index).all()


def test_equity_chart_without_benchmark_has_one_line(equity: pd.DataFrame) -> None:
    fig = charts.equity_chart(equity.drop(columns="benchmark"))
    assert [t.name for t in fig.data] == ["Strategy"]


def test_equity_chart_downsamples_long_series_keeping_extremes() -> None:
    n = 10_000
    values = 100.0 + np.sin(np.arange(n) / 50.0)
    values[6_543] = 250.0
    values[1_234] = 10.0
    fig = charts.equity_chart(_equity(list(values), benchmark=list(values)), n_buckets=100)
    for trace in fig.data:
        assert 2 <= len(trace.y) <= 400
        assert max(trace.y) == 250.0 and min(trace.y) == 10.0


def test_drawdown_chart_is_negative_and_filled(equity: pd.DataFrame) -> None:
    fig = charts.drawdown_chart(equity)
    (trace,) = fig.data
    assert trace.fill == "tozeroy"
    assert list(trace.y) == [0.0, 0.0, -0.1, 0.0]
    assert fig.layout.yaxis.tickformat == ".0%"


def test_drawdown_chart_computes_drawdown_when_the_column_is_missing() -> None:
    fig = charts.drawdown_chart(_equity([100.0, 110.0, 99.0, 121.0]))
    assert np.allclose(fig.data[0].y, [0.0, 0.0, -0.1, 0.0])  # 99 / 110 = 0.9


@pytest.mark.parametrize(
    "func", [charts.equity_chart, charts.drawdown_chart, charts.monthly_returns_heatmap]
)
@pytest.mark.parametrize("n_bars", [0, 1])
def test_too_few_bars_give_an_annotated_figure(func, n_bars: int) -> None:
    fig = func(_equity([100.0] * n_bars, drawdown=[0.0] * n_bars))
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    assert "not enough data" in _annotations(fig)[0]


def test_missing_equity_column_is_a_data_error() -> None:
    with pytest.raises(DataError, match="equity"):
        charts.equity_chart(pd.DataFrame({"value": [1.0, 2.0]}))


# --- monthly returns -------------------------------------------------------------------------


def test_monthly_heatmap_compounds_months_by_hand() -> None:
    frame = pd.DataFrame(
        {"equity": [100.0, 110.0, 99.0, 104.5, 114.95]},
        index=pd.to_datetime(
            ["2024-01-02", "2024-01-31", "2024-02-15", "2024-02-29", "2024-03-29"]
        ),
    )
    fig = charts.monthly_returns_heatmap(frame)
    (heat,) = fig.data
    assert heat.type == "heatmap"
    assert list(heat.y) == ["2024"]
    assert list(heat.x)[:3] == ["Jan", "Feb", "Mar"] and list(heat.x)[-1] == "Year"
    row = np.asarray(heat.z, dtype=float)[0]
    # Jan 110/100-1, Feb 104.5/110-1, Mar 114.95/104.5-1, year 114.95/100-1.
    assert np.allclose(row[:3], [0.10, -0.05, 0.10])
    assert np.isnan(row[3:12]).all()
    assert row[12] == pytest.approx(0.1495)
    assert heat.zmid == 0.0


def test_monthly_returns_across_years_and_with_a_missing_month() -> None:
    frame = pd.DataFrame(
        {"equity": [100.0, 105.0, 94.5, 103.95]},
        index=pd.to_datetime(["2023-12-01", "2023-12-29", "2024-01-31", "2024-03-28"]),
    )
    table = monthly_returns(frame)
    assert table.index.tolist() == [2023, 2024]
    assert table.loc[2023, "Dec"] == pytest.approx(0.05)
    assert table.loc[2023, "Year"] == pytest.approx(0.05)
    assert table.loc[2024, "Jan"] == pytest.approx(-0.10)  # 94.5 / 105
    assert np.isnan(table.loc[2024, "Feb"])
    assert table.loc[2024, "Mar"] == pytest.approx(0.10)  # 103.95 / 94.5, over the gap
    assert table.loc[2024, "Year"] == pytest.approx(103.95 / 105.0 - 1.0)


def test_monthly_returns_need_a_timestamp_index() -> None:
    with pytest.raises(DataError, match="timestamp"):
        monthly_returns(pd.DataFrame({"equity": [1.0, 2.0, 3.0]}))


# --- price chart -----------------------------------------------------------------------------


@pytest.fixture
def prices() -> pd.DataFrame:
    idx = pd.date_range("2024-03-01", periods=6, freq="D", name="timestamp")
    close = np.array([10.0, 11.0, 12.0, 11.5, 13.0, 12.5])
    return pd.DataFrame(
        {
            "open": close - 0.2,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": [100.0, 200.0, 150.0, 120.0, 180.0, 90.0],
        },
        index=idx,
    )


def _trades(rows: list[tuple]) -> pd.DataFrame:
    cols = ["entry_time", "exit_time", "side", "entry_price", "exit_price", "return"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["entry_time"] = pd.to_datetime(frame["entry_time"])
    frame["exit_time"] = pd.to_datetime(frame["exit_time"])
    return frame


@pytest.fixture
def trades() -> pd.DataFrame:
    return _trades(
        [
            ("2024-02-20", "2024-03-02", "long", 9.0, 11.8, 0.31),  # entered before the window
            ("2024-03-02", "2024-03-04", "long", 11.1, 11.4, 0.027),
            ("2024-03-05", None, "short", 13.2, NAN, 0.05),  # still open
        ]
    )


def _by_name(fig: go.Figure) -> dict[str, go.BaseTraceType]:
    return {t.name: t for t in fig.data}


def test_price_chart_candles_volume_and_markers(prices, trades) -> None:
    fig = charts.price_chart(prices, trades)
    traces = _by_name(fig)
    assert traces["Price"].type == "candlestick"
    assert list(traces["Price"].close) == list(prices["close"])
    assert traces["Volume"].type == "bar" and traces["Volume"].yaxis == "y2"
    assert set(traces) == {"Price", "Volume", "long entry", "long exit", "short entry"}
    # Markers at the trades' own times and prices; the first trade's entry is outside.
    assert list(_xs(traces["long entry"])) == [pd.Timestamp("2024-03-02")]
    assert list(traces["long entry"].y) == [11.1]
    assert list(_xs(traces["long exit"])) == [pd.Timestamp(d) for d in ("2024-03-02", "2024-03-04")]
    assert list(traces["long exit"].y) == [11.8, 11.4]
    assert list(_xs(traces["short entry"])) == [pd.Timestamp("2024-03-05")]
    assert traces["long entry"].marker.color != traces["short entry"].marker.color
    assert traces["long entry"].marker.symbol == "triangle-up"
    assert traces["short entry"].marker.symbol == "triangle-down"
    assert _annotations(fig) == []


def test_price_chart_marks_only_trades_in_the_shown_window(prices, trades) -> None:
    fig = charts.price_chart(prices.iloc[3:], trades)  # 2024-03-04 .. 2024-03-06
    traces = _by_name(fig)
    assert set(traces) == {"Price", "Volume", "long exit", "short entry"}
    assert list(_xs(traces["long exit"])) == [pd.Timestamp("2024-03-04")]


@pytest.mark.parametrize("trades_arg", [None, "empty"])
def test_price_chart_without_trades_says_so(prices, trades_arg) -> None:
    empty = _trades([]) if trades_arg == "empty" else None
    fig = charts.price_chart(prices, empty)
    assert [t.type for t in fig.data] == ["candlestick", "bar"]
    assert "No trades" in _annotations(fig)[0]


def test_price_chart_single_bar_and_no_bars(prices) -> None:
    one = charts.price_chart(prices.iloc[:1], None)
    assert len(one.data[0].x) == 1 and "No trades" in _annotations(one)[0]
    none = charts.price_chart(prices.iloc[:0], None)
    assert len(none.data) == 0 and "No bars" in _annotations(none)[0]


def test_price_chart_downsamples_candles_but_keeps_exact_marker_times() -> None:
    n = 10_000
    idx = pd.date_range("2024-01-01", periods=n, freq="min")
    close = 100.0 + np.cos(np.arange(n) / 100.0)
    bars = pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0},
        index=idx,
    )
    trades = _trades([(idx[1234], idx[5678], "short", close[1234], close[5678], 0.0)])
    fig = charts.price_chart(bars, trades, n_buckets=100)
    traces = _by_name(fig)
    assert len(traces["Price"].x) == 100
    assert sum(traces["Volume"].y) == n
    assert max(traces["Price"].high) == bars["high"].max()
    assert list(_xs(traces["short entry"])) == [idx[1234]]
    assert list(_xs(traces["short exit"])) == [idx[5678]]


def _many_trades(bars: pd.DataFrame, n: int) -> pd.DataFrame:
    idx = bars.index
    entries = np.arange(0, 2 * n, 2)
    rows = [(idx[i], idx[i + 1], "long", bars["close"].iloc[i], bars["close"].iloc[i + 1], 0.0)
            for i in entries]  # fmt: skip
    return _trades(rows)


def _bars(n: int, freq: str = "D") -> pd.DataFrame:
    idx = pd.date_range("2020-01-01", periods=n, freq=freq)
    close = 100.0 + np.sin(np.arange(n) / 20.0)
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0},
        index=idx,
    )


def test_price_chart_entries_and_exits_are_told_apart_and_small_when_many() -> None:
    bars = _bars(4000)
    fig = charts.price_chart(bars, _many_trades(bars, 1800))
    traces = _by_name(fig)
    entry, exit_ = traces["long entry"], traces["long exit"]
    assert entry.marker.color != exit_.marker.color
    assert entry.marker.symbol != exit_.marker.symbol
    assert len(entry.x) == 1800 and len(exit_.x) == 1800  # all shown, none thinned
    assert entry.marker.size < 10 and entry.opacity < 1.0  # the candles stay visible
    assert "thinned" not in fig.layout.title.text
    few = _by_name(charts.price_chart(bars, _many_trades(bars, 10)))["long entry"]
    assert few.marker.size == 10 and few.opacity == 1.0


def test_price_chart_thins_markers_above_the_limit_and_says_so() -> None:
    bars = _bars(10_000, freq="h")
    fig = charts.price_chart(bars, _many_trades(bars, 4500))
    entry = _by_name(fig)["long entry"]
    assert len(entry.x) == charts.MARKERS_MAX
    assert _xs(entry)[0] == bars.index[0] and _xs(entry)[-1] == bars.index[2 * 4499]
    assert f"long entries {charts.MARKERS_MAX:,} of 4,500" in fig.layout.title.text


def test_daily_dates_hover_without_a_time_of_day(equity) -> None:
    for fig in (charts.equity_chart(equity), charts.drawdown_chart(equity),
                charts.compare_equity({"a": equity})):  # fmt: skip
        assert fig.layout.xaxis.hoverformat == "%Y-%m-%d"
    intraday = charts.price_chart(_bars(50, freq="h"))
    assert intraday.layout.xaxis.hoverformat == "%Y-%m-%d %H:%M"
    assert charts.price_chart(_bars(50)).layout.xaxis.hoverformat == "%Y-%m-%d"


def test_price_chart_needs_ohlc() -> None:
    with pytest.raises(DataError, match="high"):
        charts.price_chart(pd.DataFrame({"open": [1.0], "low": [1.0], "close": [1.0]}))


# --- sweeps ----------------------------------------------------------------------------------


@pytest.fixture
def summary() -> pd.DataFrame:
    rows = [
        # fast, slow, mode, sharpe, max_drawdown
        (5, 20, "a", 1.0, 0.10),
        (5, 20, "b", 3.0, 0.20),
        (5, 40, "a", -1.0, 0.30),
        (5, 40, "b", 0.0, 0.15),
        (10, 20, "a", 0.5, 0.05),
        (10, 20, "b", 0.7, 0.25),
        (10, 40, "a", 2.0, 0.12),
        (5, 60, "b", -0.5, 0.40),  # (10, 60) never ran
    ]
    return pd.DataFrame(rows, columns=["fast", "slow", "mode", "sharpe", "max_drawdown"])


def test_parallel_coordinates_dimensions(summary) -> None:
    with_nan = pd.concat([summary, summary.iloc[:1].assign(sharpe=NAN)], ignore_index=True)
    fig = charts.parallel_coordinates(with_nan, ["fast", "slow", "mode"], "sharpe")
    (par,) = fig.data
    assert par.type == "parcoords"
    dims = {d.label: d for d in par.dimensions}
    assert list(dims) == ["fast", "slow", "mode", "sharpe"]
    assert list(dims["fast"].values) == list(summary["fast"])  # the NaN row is left out
    assert list(dims["mode"].ticktext) == ["a", "b"]
    assert list(dims["mode"].values) == [0, 1, 0, 1, 0, 1, 0, 1]
    assert list(par.line.color) == list(summary["sharpe"])


def test_parallel_coordinates_with_no_values_is_annotated(summary) -> None:
    fig = charts.parallel_coordinates(summary.assign(sharpe=NAN), ["fast"], "sharpe")
    assert len(fig.data) == 0 and _annotations(fig)


def test_axis_bins_keep_small_axes_and_bin_large_ones_by_distinct_values() -> None:
    small = axis_bins(pd.Series([30, 5, 10, 5]), max_cells=3)
    assert small.labels == [5, 10, 30] and not small.binned
    big = axis_bins(pd.Series(list(range(10, 0, -1)) * 3), max_cells=4)  # 10 values -> 4 cells
    assert big.binned and big.per_cell == 3
    assert big.labels == ["1–3", "4–6", "7–9", "10"]
    assert list(big.codes(pd.Series([1, 3, 4, 10, 99]))) == [0, 0, 1, 3, -1]
    floats = axis_bins(pd.Series([0.5, 1.5, 2.0, 2.5]), max_cells=2)
    assert floats.labels == ["0.5–1.5", "2–2.5"]


def test_fixed_values_sort_numerically() -> None:
    assert sorted_values(pd.Series([10, 5, 30, 15, 5, None])) == [5, 10, 15, 30]
    assert sorted_values(pd.Series(["b", "a"])) == ["a", "b"]


def test_best_order_puts_missing_then_ruined_rows_last() -> None:
    frame = pd.DataFrame(
        {
            "sharpe": [1.0, 3.0, NAN, 2.0, 5.0, -1.0],
            "max_drawdown": [0.5, 0.1, 0.2, 0.3, 0.05, 0.9],
            "ruined": [False, False, False, False, True, False],
        }
    )
    assert list(best_order(frame, "sharpe")) == [1, 3, 0, 5, 2, 4]
    assert list(best_order(frame, "max_drawdown")) == [1, 2, 3, 0, 5, 4]
    assert list(best_order(frame.drop(columns="ruined"), "sharpe")) == [4, 1, 3, 0, 5, 2]


def test_parcoords_sample_is_the_top_plus_a_seeded_random_rest() -> None:
    n = 10_000
    frame = pd.DataFrame({"p": np.arange(n), "sharpe": np.arange(n, dtype=float)})
    frame["ruined"] = frame["p"] >= n - 5  # the five highest values are ruined: never "top"
    sample = parcoords_sample(frame, "sharpe", size=SampleSize(top=100, n_random=200, seed=0))
    assert len(sample.rows) == 300
    top = set(range(n - 105, n - 5))
    assert top <= set(sample.rows["p"])
    again = parcoords_sample(frame, "sharpe", size=SampleSize(top=100, n_random=200, seed=0))
    assert list(again.rows["p"]) == list(sample.rows["p"])  # same rows on every rerun
    stated = "300 of the 10,000 combinations with a sharpe: the top 100 by sharpe plus 200 others"
    assert stated in sample.note
    small = parcoords_sample(frame.iloc[:250], "sharpe", size=SampleSize(top=100, n_random=200))
    assert len(small.rows) == 250 and small.note == ""


def test_parallel_coordinates_states_its_sample_and_leaves_room_for_titles() -> None:
    frame = pd.DataFrame({"fast": np.arange(5000), "sharpe": np.linspace(-1, 1, 5000)})
    sample = parcoords_sample(frame, "sharpe")
    fig = charts.parallel_coordinates(sample.rows, ["fast"], "sharpe", note=sample.note)
    assert len(fig.data[0].dimensions[0].values) == 3000
    assert "the top 1,000 by sharpe plus 2,000 others" in fig.layout.title.text
    assert fig.layout.margin.l >= 80 and fig.layout.margin.t >= 100


def test_parallel_lines_draw_one_polyline_per_row_coloured_by_metric() -> None:
    frame = pd.DataFrame(
        {"fast": [5, 10, 15, 10], "mode": ["a", "b", "a", "b"], "sharpe": [-1.0, 0.0, 1.0, NAN]}
    )
    fig = charts.parallel_lines(frame, ["fast", "mode"], "sharpe", note="all rows")
    lines = [t for t in fig.data if t.mode == "lines"]
    xs = np.concatenate([np.asarray(t.x, dtype=float) for t in lines])
    ys = np.concatenate([np.asarray(t.y, dtype=float) for t in lines])
    assert np.isnan(xs).sum() == 3  # three rows with a value, the NaN row left out
    segments = [seg[~np.isnan(seg)] for seg in np.split(ys, np.flatnonzero(np.isnan(ys)))]
    polylines = {tuple(np.round(seg, 6).tolist()) for seg in segments if len(seg)}
    # fast 5..15 -> 0..1, mode a/b -> 0/1, sharpe -1..1 -> 0..1 (NaN ends each line)
    assert polylines == {(0.0, 0.0, 0.0), (0.5, 1.0, 0.5), (1.0, 0.0, 1.0)}
    colours = {t.line.color for t in lines}
    assert len(colours) == 3  # -1, 0 and 1 fall in different colour bands
    assert fig.layout.xaxis.ticktext == ("fast", "mode", "sharpe")
    assert "all rows" in fig.layout.title.text and fig.layout.meta["rows"] == 3
    texts = {a.text for a in fig.layout.annotations}
    assert {"5", "15", "a", "b", "-1", "1"} <= texts
    assert len(fig.to_json()) < 50_000


def test_parallel_lines_of_a_full_sample_stay_small() -> None:
    frame = pd.DataFrame({"fast": np.arange(5000), "slow": np.arange(5000) % 97,
                          "sharpe": np.linspace(-1, 1, 5000)})  # fmt: skip
    sample = parcoords_sample(frame, "sharpe")
    fig = charts.parallel_lines(sample.rows, ["fast", "slow"], "sharpe", note=sample.note)
    drawn = sum(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in fig.data)
    assert drawn == 3000 and len(fig.to_json()) < 2_000_000
    empty = charts.parallel_lines(frame.assign(sharpe=NAN), ["fast"], "sharpe")
    assert not empty.data and "No values" in _annotations(empty)[0]


# --- comparisons and trades ------------------------------------------------------------------


def test_compare_equity_normalises_each_run_to_one() -> None:
    runs = {
        "slow": _equity([200.0, 220.0, 210.0]),
        "<b>x</b>": _equity([50.0, 40.0, 60.0]),
    }
    fig = charts.compare_equity(runs)
    assert [t.name for t in fig.data] == ["slow", "&lt;b&gt;x&lt;/b&gt;"]
    assert np.allclose(fig.data[0].y, [1.0, 1.1, 1.05])
    assert np.allclose(fig.data[1].y, [1.0, 0.8, 1.2])


def test_compare_drawdown_and_skipped_runs() -> None:
    runs = {
        "a": _equity([100.0, 90.0, 95.0], drawdown=[0.0, 0.1, 0.05]),
        "tiny": _equity([100.0], drawdown=[0.0]),
    }
    fig = charts.compare_drawdown(runs)
    assert [t.name for t in fig.data] == ["a"]
    assert list(fig.data[0].y) == [0.0, -0.1, -0.05]
    assert "tiny" in _annotations(fig)[0]


@pytest.mark.parametrize("func", [charts.compare_equity, charts.compare_drawdown])
def test_compare_with_nothing_is_annotated(func) -> None:
    fig = func({})
    assert len(fig.data) == 0 and "Pick at least one run" in _annotations(fig)[0]


def test_trades_histogram(trades) -> None:
    fig = charts.trades_histogram(pd.concat([trades, _trades([(None, None, "long", 1, 1, NAN)])]))
    (hist,) = fig.data
    assert hist.type == "histogram"
    assert list(hist.x) == [0.31, 0.027, 0.05]
    assert "3 trades" in fig.layout.title.text


def test_trades_histogram_without_trades_is_annotated() -> None:
    fig = charts.trades_histogram(_trades([]))
    assert len(fig.data) == 0 and "No trades" in _annotations(fig)[0]


# --- html report -----------------------------------------------------------------------------

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_html_report_escapes_user_text_and_embeds_plotly_once(equity, trades) -> None:
    trades = trades.assign(exit_reason=["signal", EVIL, "open"])
    doc = charts.html_report(
        charts.ReportText(EVIL),
        {"total_return": 0.21, EVIL: 1.5},
        [charts.equity_chart(equity), charts.drawdown_chart(equity)],
        {"Trades": trades, EVIL: pd.DataFrame({EVIL: [EVIL]})},
    )
    assert doc.startswith("<!DOCTYPE html>")
    assert EVIL not in doc
    assert f"<title>{EVIL_ESCAPED}</title>" in doc and f"<h1>{EVIL_ESCAPED}</h1>" in doc
    assert f"<td>{EVIL_ESCAPED}</td>" in doc and f"<th>{EVIL_ESCAPED}</th>" in doc
    assert f"<h2>{EVIL_ESCAPED}</h2>" in doc
    assert doc.count("Plotly.newPlot(") == 2
    # plotly.js is inlined exactly once, no CDN link: the file opens offline.
    assert doc.count("plotly.js v") == 1 and "<script src=" not in doc
    assert "<td>0.21</td>" in doc


def test_html_report_without_figures_and_with_long_tables() -> None:
    rows = {"rows": pd.DataFrame({"v": range(30)})}
    doc = charts.html_report(charts.ReportText("t"), {}, [], rows, max_rows=10)
    assert "Plotly" not in doc
    assert doc.count("<tr>") == 11  # header + 10 rows
    assert "First 10 of 30 rows." in doc
