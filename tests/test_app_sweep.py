"""Sweep results page (AppTest on the router) over sweep folders built per the layout, with
rows from the real engine.api.run_sweep."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from tests._results_helpers import Lab, app_test, lab_fixture, plotly_array, texts  # noqa: F401

PAGE = "views/sweep_results.py"
ROBUST = {
    "n_trials": 12,
    "best": {"combo_id": 0, "params": {"fast": 5, "slow": 30}, "metrics": {"sharpe": 1.0}},
    "deflated_sharpe": 0.37,
    "probabilistic_sharpe": 0.88,
    "pbo": None,
    "pbo_skipped_reason": "fewer than 16 periods per split",
    "plateau_score": 0.75,
    "oos": [],
    "missing_chunks": [3],
    "failed_chunks": [1],
    "top_runs": [
        {"run_id": "sw-top1", "combo_id": 0, "params": {"fast": 5, "slow": 30},
         "source_key": "samples/walk.csv"}
    ],
}  # fmt: skip


def _heatmap(at):
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if spec["data"] and spec["data"][0]["type"] == "heatmap":
            return spec
    raise AssertionError("no heatmap on the page")


@pytest.fixture
def swept(lab: Lab) -> Lab:
    key = lab.add_file()
    lab.sweep("sw", key, {"fast": [5, 10, 15, 20], "slow": [30, 50, 70]}, robustness=ROBUST)
    lab.run("sw-top1", key, fast=5, slow=30)
    return lab


def test_heatmap_follows_query_params_and_writes_choices_back(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw", metric="total_return", x="slow", y="fast")
    assert not at.exception
    heat = _heatmap(at)
    assert "total_return by slow and fast" in heat["layout"]["title"]["text"]
    assert list(plotly_array(heat["data"][0]["x"])) == [30, 50, 70]
    assert list(plotly_array(heat["data"][0]["y"])) == [5, 10, 15, 20]
    summary = swept.parquet("sweeps/sw/summary.parquet")
    cell = summary[(summary.fast == 10) & (summary.slow == 50)]["total_return"].iloc[0]
    assert plotly_array(heat["data"][0]["z"])[1][1] == pytest.approx(cell)

    next(s for s in at.selectbox if s.label == "Metric").set_value("max_drawdown").run()
    assert at.query_params["metric"] == "max_drawdown"
    assert "max_drawdown by slow and fast" in _heatmap(at)["layout"]["title"]["text"]
    next(s for s in at.selectbox if s.label == "X axis").set_value("fast").run()
    assert at.query_params["x"] == "fast" and at.query_params["y"] == "slow"
    assert at.query_params["sweep"] == "sw"


def test_default_view_without_metric_in_url(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw")
    assert not at.exception
    assert at.query_params["metric"] == "sharpe"
    assert "sharpe by" in _heatmap(at)["layout"]["title"]["text"]


def test_robustness_statistics_and_chunk_problems(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw", tab="Robustness")
    warnings = " ".join(w.value for w in at.warning)
    assert "missing chunks: 3" in warnings and "failed chunks: 1" in warnings
    tables = [d.value for d in at.dataframe]
    robust = next(t for t in tables if "statistic" in t.columns).set_index("statistic")["value"]
    assert robust["Deflated Sharpe ratio"] == "0.37"
    assert "fewer than 16 periods per split" in robust["Probability of backtest overfitting (PBO)"]
    assert robust["Plateau score"] == "0.75"


def test_top_table_and_links(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw", metric="sharpe", tab="Top combinations")
    top = next(d.value for d in at.dataframe if "combo_id" in d.value.columns)
    summary = swept.parquet("sweeps/sw/summary.parquet")
    assert top["sharpe"].iloc[0] == pytest.approx(summary["sharpe"].max())
    links = {p.proto.label: p.proto for p in at.get("page_link")}
    full = links[next(label for label in links if label.startswith("Full run: sw-top1"))]
    assert full.page.endswith("run") and parse_qs(full.query_string) == {"run": ["sw-top1"]}
    other = parse_qs(links["Run the chosen parameters on other files"].query_string)
    best = summary.loc[summary["sharpe"].idxmax()]
    assert other["p_fast"] == [str(int(best["fast"]))] and other["strategy"] == ["sma_cross"]

    at.switch_page("views/run_results.py")
    at.query_params["run"] = "sw-top1"
    at.run()
    assert not at.exception and at.metric  # the click-through lands on the full run


def test_three_parameters_fix_one_or_aggregate(lab: Lab) -> None:
    key = lab.add_file()
    space = {"period": [7, 14], "lower": [20.0, 30.0], "upper": [70.0, 80.0]}
    summary = lab.sweep("three", key, space, strategy="rsi_reversion")
    at = app_test(PAGE, sweep="three", metric="total_return", x="lower", y="upper", agg="max")
    assert not at.exception
    heat = _heatmap(at)
    assert "(max over period)" in heat["layout"]["title"]["text"]
    cell = summary[(summary.lower == 20.0) & (summary.upper == 70.0)]["total_return"].max()
    assert plotly_array(heat["data"][0]["z"])[0][0] == pytest.approx(cell)

    next(s for s in at.selectbox if s.label == "Fix period").set_value(14).run()
    heat = _heatmap(at)
    assert "over period" not in heat["layout"]["title"]["text"]
    row = summary[(summary.period == 14) & (summary.lower == 20.0) & (summary.upper == 70.0)]
    assert plotly_array(heat["data"][0]["z"])[0][0] == pytest.approx(row["total_return"].iloc[0])
    assert at.query_params["agg"] == "max"


def test_unfinished_sweep_shows_progress(lab: Lab) -> None:
    key = lab.add_file()
    lab.sweep("half", key, n_children=4, done=(0, 1))
    at = app_test(PAGE, sweep="half")
    assert not at.exception
    assert "not finished" in texts(at)
    bar = at.get("progress")[0]
    assert bar.value == 50 and "2 of 4 chunks" in bar.text
    assert _heatmap(at)  # partial rows are already charted


@pytest.mark.parametrize(
    ("sweep_id", "expected"), [("ghost", "no sweep 'ghost'"), ("..", "invalid")]
)
def test_unknown_sweep_is_an_error_line(lab: Lab, sweep_id: str, expected: str) -> None:
    at = app_test(PAGE, sweep=sweep_id)
    assert not at.exception
    assert any(expected in e.value for e in at.error)


def test_picker_without_sweep_in_url(swept: Lab) -> None:
    at = app_test(PAGE)
    assert not at.exception and "No sweep chosen" in texts(at)
    at.selectbox[0].set_value("sw").run()
    assert at.query_params["sweep"] == "sw" and _heatmap(at)
