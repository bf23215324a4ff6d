"""Sweep results page (AppTest on the router) over sweep folders built per the layout, with
rows from the real engine.api.run_sweep."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests._results_helpers import Lab, app_test, lab_fixture, texts  # noqa: F401

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


class Chart:
    """The page's sweep chart (an ECharts element): its option, its cells (the Arrow dataset
    as the browser gets it) and its accessible name."""

    def __init__(self, el: Any) -> None:
        import pyarrow as pa

        self.option = json.loads(el.proto.spec)
        self.alt = el.proto.alt
        data = {d.name: d.data.data for d in el.proto.datasets}
        name = self.option["dataset"]["source"]["name"]
        self.cells = pa.ipc.open_stream(data[name]).read_pandas()
        self.title = self.option["title"]["text"] + " " + self.option["title"].get("subtext", "")
        self.x = self.option["xAxis"]["data"]
        self.y = self.option["yAxis"].get("data")

    def value(self, x: Any, y: Any = "") -> float:
        """The aggregated metric of the cell labelled (x, y)."""
        hit = self.cells[(self.cells.x_label == str(x)) & (self.cells.y_label == str(y))]
        assert len(hit) == 1, f"no single cell {x}, {y}"
        return float(hit["value"].iloc[0])


def _heatmap(at, kind: str = "Heatmap") -> Chart:
    for el in at.get("echarts_chart"):
        if el.proto.alt.startswith(f"{kind}:"):
            return Chart(el)
    raise AssertionError(f"no {kind} on the page")


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
    assert "total_return by slow and fast" in heat.title
    assert heat.x == ["30", "50", "70"] and heat.y == ["5", "10", "15", "20"]
    summary = swept.parquet("sweeps/sw/summary.parquet")
    cell = summary[(summary.fast == 10) & (summary.slow == 50)]["total_return"].iloc[0]
    assert heat.value(50, 10) == pytest.approx(cell, rel=1e-3)  # hover values: 4 digits

    next(s for s in at.selectbox if s.label == "Metric").set_value("max_drawdown").run()
    assert at.query_params["metric"] == "max_drawdown"
    assert "max_drawdown by slow and fast" in _heatmap(at).title
    next(s for s in at.selectbox if s.label == "X axis").set_value("fast").run()
    assert at.query_params["x"] == "fast" and at.query_params["y"] == "slow"
    assert at.query_params["sweep"] == "sw"


def test_default_view_without_metric_in_url(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw")
    assert not at.exception
    assert at.query_params["metric"] == "sharpe"
    assert "sharpe by" in _heatmap(at).title


def test_robustness_statistics_and_chunk_problems(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw", tab="Robustness")
    warnings = " ".join(w.value for w in at.warning)
    assert "missing chunks: 3" in warnings and "failed chunks: 1" in warnings
    tables = [d.value for d in at.dataframe]
    robust = next(t for t in tables if "statistic" in t.columns).set_index("statistic")
    assert robust.loc["Deflated Sharpe ratio", "value"] == "0.37"
    assert robust.loc["Deflated Sharpe ratio", "verdict"] == "fail"  # not above 0.95
    pbo = robust.loc["Probability of backtest overfitting (PBO)"]
    assert pbo["value"] == "n/a" and "fewer than 16 periods per split" in pbo["verdict"]
    assert robust.loc["Plateau score", "value"] == "0.75"
    assert robust.loc["Plateau score", "verdict"] == "pass"  # at least 0.5
    # this sweep has no stored returns: the charts say why they are missing
    assert "PBO chart: not available" in texts(at)


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
    assert "(max over period)" in heat.title
    cell = summary[(summary.lower == 20.0) & (summary.upper == 70.0)]["total_return"].max()
    assert heat.value(20.0, 70.0) == pytest.approx(cell, rel=1e-3)

    next(s for s in at.selectbox if s.label == "Fix period").set_value(14).run()
    heat = _heatmap(at)
    assert "over period" not in heat.title
    row = summary[(summary.period == 14) & (summary.lower == 20.0) & (summary.upper == 70.0)]
    assert heat.value(20.0, 70.0) == pytest.approx(row["total_return"].iloc[0], rel=1e-3)
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
    assert "Live: checked" in texts(at)  # re-checked every few seconds (e2e: test_sweep_live)


def test_a_finished_sweep_is_not_re_checked(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw")
    assert not at.exception and _heatmap(at)
    assert "Live: checked" not in texts(at) and "not finished" not in texts(at)


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


def test_fix_slice_and_tab_are_in_the_url_and_reopen(lab: Lab) -> None:
    key = lab.add_file()
    space = {"period": [5, 10, 15, 20, 25, 30], "lower": [20.0, 30.0], "upper": [70.0, 80.0]}
    summary = lab.sweep("slice", key, space, strategy="rsi_reversion")
    at = app_test(PAGE, sweep="slice", metric="total_return", x="lower", y="upper")
    fix = next(s for s in at.selectbox if s.label == "Fix period")
    assert fix.options == ["(aggregate)", "5", "10", "15", "20", "25", "30"]  # numeric order
    assert "fix_period" not in at.query_params  # the aggregate is the clean default
    fix.set_value(10).run()
    assert at.query_params["fix_period"] == "10"

    shared = app_test(PAGE, **{k: at.query_params[k] for k in at.query_params})
    heat = _heatmap(shared)
    assert "over period" not in heat.title  # the slice, not the aggregate
    row = summary[(summary.period == 10) & (summary.lower == 30.0) & (summary.upper == 80.0)]
    assert heat.value(30.0, 80.0) == pytest.approx(row["total_return"].iloc[0], rel=1e-3)
    assert next(s for s in shared.selectbox if s.label == "Fix period").value == 10

    top = app_test(PAGE, sweep="slice", tab="Top combinations")
    assert not top.get("plotly_chart") and not top.get("echarts_chart")  # only the open tab
    assert any("combo_id" in d.value.columns for d in top.dataframe)


def test_the_same_selectbox_can_be_changed_twice(swept: Lab) -> None:
    at = app_test(PAGE, sweep="sw")
    for metric in ("total_return", "max_drawdown", "sortino"):
        next(s for s in at.selectbox if s.label == "Metric").set_value(metric).run()
        assert at.query_params["metric"] == metric
        assert f"{metric} by" in _heatmap(at).title


def _ruin(lab: Lab, sweep_id: str, summary: Any, rows: list[int]) -> Any:
    """Mark ``rows`` ruined as the ruin contract writes them, in summary.parquet."""
    ruined = summary.copy()
    ruined["ruined"] = False  # the engine's own rows (none ruined on this random walk)
    ruined.loc[rows, "ruined"] = True
    ruined.loc[rows, ["total_return", "max_drawdown", "final_equity"]] = [-1.0, 1.0, 0.0]
    ruined.loc[rows, ["sharpe", "sortino", "volatility", "calmar", "cagr"]] = float("nan")
    lab.put_frame(f"sweeps/{sweep_id}/summary.parquet", ruined)
    return ruined


def test_ruined_combinations_are_counted_marked_and_never_best(lab: Lab) -> None:
    key = lab.add_file()
    summary = lab.sweep("ru", key, {"fast": [5, 10, 15, 20], "slow": [30, 50, 70]})
    worst = summary["max_drawdown"].idxmax()
    best_dd = summary["max_drawdown"].idxmin()
    ruined = _ruin(lab, "ru", summary, [int(best_dd), int(worst)])
    at = app_test(PAGE, sweep="ru", metric="max_drawdown", tab="Top combinations")
    assert not at.exception
    assert "2 of 12 combinations were ruined" in texts(at)
    table = next(d.value for d in at.dataframe if "combo_id" in d.value.columns)
    assert list(table["ruined"])[-2:] == ["RUINED", "RUINED"] and set(table["ruined"][:-2]) == {""}
    alive = ruined[~ruined["ruined"]]
    assert table["max_drawdown"].iloc[0] == pytest.approx(alive["max_drawdown"].min())
    assert list(table["rank"][:3]) == [1, 2, 3]


def test_an_old_sweep_without_the_ruined_column_shows_no_ruin(lab: Lab) -> None:
    summary = lab.sweep("old", lab.add_file())
    lab.put_frame("sweeps/old/summary.parquet", summary.drop(columns="ruined", errors="ignore"))
    at = app_test(PAGE, sweep="old", tab="Top combinations")
    assert not at.exception and "were ruined" not in texts(at)
    table = next(d.value for d in at.dataframe if "combo_id" in d.value.columns)
    assert "ruined" not in table.columns


def test_picker_shows_strategy_file_date_and_metric_newest_first(lab: Lab) -> None:
    key = lab.add_file()
    lab.sweep("older", key, robustness={"best": {"metrics": {"sharpe": 1.25}}})
    lab.sweep("newer", key, robustness={"best": {"metrics": {"sharpe": -0.5}}})
    spec = lab.json("sweeps/newer/spec.json")
    lab.put_json("sweeps/newer/spec.json", {**spec, "created_at": "2024-02-03T04:05:06Z"})
    lab.sweep("live", key, done=(0,))
    spec = lab.json("sweeps/live/spec.json")
    lab.put_json("sweeps/live/spec.json", {**spec, "created_at": "2024-03-01T00:00:00Z"})
    at = app_test(PAGE)
    picker = at.selectbox[0]
    assert picker.options == [
        f"2024-03-01 00:00 · sma_cross · {key} · running · live",
        f"2024-02-03 04:05 · sma_cross · {key} · best sharpe -0.50 · newer",
        f"2024-01-02 03:04 · sma_cross · {key} · best sharpe 1.25 · older",
    ]


def test_ranked_table_pages_lead_with_parameters_and_metric(lab: Lab) -> None:
    key = lab.add_file()
    space = {"fast": list(range(2, 14)), "slow": list(range(20, 30))}  # 120 combinations
    summary = lab.sweep("paged", key, space)
    at = app_test(PAGE, sweep="paged", metric="total_return", tab="Top combinations")
    table = next(d.value for d in at.dataframe if "combo_id" in d.value.columns)
    assert list(table.columns[:5]) == ["rank", "ruined", "fast", "slow", "total_return"]
    assert len(table) == 50 and "Rows 1–50 of 120" in texts(at)
    at.number_input[0].set_value(3).run()
    last = next(d.value for d in at.dataframe if "combo_id" in d.value.columns)
    assert list(last["rank"]) == list(range(101, 121)) and "Rows 101–120 of 120" in texts(at)
    expected = summary.sort_values("total_return", ascending=False, kind="stable")
    assert list(last["combo_id"]) == list(expected["combo_id"].iloc[100:])


def test_one_varying_parameter_draws_a_line_with_the_best_pinned(lab: Lab) -> None:
    key = lab.add_file()
    summary = lab.sweep("line", key, {"fast": [5, 10, 15, 20], "slow": [50]})
    at = app_test(PAGE, sweep="line", metric="sharpe")
    assert not at.exception
    assert not [s for s in at.selectbox if s.label in ("X axis", "Y axis")]
    line = _heatmap(at, "Line")
    assert line.option["series"][0]["type"] == "line" and line.x == ["5", "10", "15", "20"]
    best = summary.loc[summary["sharpe"].idxmax()]
    assert line.value(int(best["fast"])) == pytest.approx(best["sharpe"], rel=1e-3)
    pin = line.option["series"][0]["markPoint"]["data"][0]["coord"]
    assert pin[0] == line.x.index(str(int(best["fast"])))
    assert f"best fast={int(best['fast'])}, slow=50" in line.alt


def test_heatmap_pins_the_best_outlines_its_neighbours_and_hovers_every_metric(
    swept: Lab,
) -> None:
    at = app_test(PAGE, sweep="sw", metric="total_return", x="fast", y="slow")
    heat = _heatmap(at)
    summary = swept.parquet("sweeps/sw/summary.parquet")
    best = summary.loc[summary["total_return"].idxmax()]
    bx, by = heat.x.index(str(best["fast"])), heat.y.index(str(best["slow"]))
    series, outline = heat.option["series"]
    assert series["markPoint"]["data"][0]["coord"] == [bx, by]
    cells = {(c[0], c[1]) for c in outline["data"]}
    assert (bx, by) in cells and all(abs(x - bx) <= 1 and abs(y - by) <= 1 for x, y in cells)
    assert series["label"]["show"] is True  # 12 cells: values printed
    tip = heat.option["tooltip"]["formatter"]
    metrics = [c for c in ("sharpe", "max_drawdown", "n_trades", "win_rate") if c in summary]
    assert all(f"{{@{m}}}" in tip for m in metrics)
    cell = heat.cells[(heat.cells.x_label == str(best["fast"]))
                      & (heat.cells.y_label == str(best["slow"]))].iloc[0]  # fmt: skip
    assert cell["max_drawdown"] == pytest.approx(best["max_drawdown"], rel=1e-3)
    assert "Pin: the best combination shown" in texts(at)
