"""app.sweep_cells and app.sweep_charts: the cells a sweep chart draws (hand-computed summaries),
the best mark (ruined rows never best), hover and click data, and the bounds at 1,000,000 rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app import sweep_charts
from app.sweep_cells import ChartChoice, neighbourhood, round_significant, sweep_cells
from engine.errors import ParamError

PARAMS = ["fast", "slow", "mode"]


@pytest.fixture
def summary() -> pd.DataFrame:
    # fast x slow x mode; sharpe = fast + slow/100 + (1 if mode b); one row ruined
    rows = [
        {"combo_id": i, "fast": f, "slow": s, "mode": m, "sharpe": f + s / 100 + (m == "b"),
         "total_return": 0.01 * f, "ruined": False}
        for i, (f, s, m) in enumerate(
            (f, s, m) for f in (1, 2, 3) for s in (10, 20) for m in ("a", "b")
        )
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    top = frame["sharpe"].idxmax()  # fast 3, slow 20, mode b: 4.2
    frame.loc[top, "ruined"] = True
    frame.loc[top, "sharpe"] = np.nan
    return frame


def test_cells_aggregate_and_carry_the_best_combination(summary: pd.DataFrame) -> None:
    cells = sweep_cells(summary, PARAMS, ChartChoice("sharpe", "fast", "slow", "max"))
    assert cells.x_labels == [1, 2, 3] and cells.y_labels == [10, 20]
    assert cells.others == ["mode"] and cells.n_cells == 6
    frame = cells.frame.set_index(["x_label", "y_label"])
    # fast 3, slow 20: mode a 3.2, mode b ruined (NaN) -> max 3.2, best is mode a
    cell = frame.loc[("3", "20")]
    assert cell["value"] == pytest.approx(3.2) and cell["n"] == 2 and cell["n_ruined"] == 1
    assert cell["mode"] == "a" and cell["sharpe"] == pytest.approx(3.2)
    picked = summary.iloc[int(cell["row"])]  # the row a click opens
    assert (picked["fast"], picked["slow"], picked["mode"]) == (3, 20, "a")
    # fast 1, slow 10: mode b 2.1 beats mode a 1.1
    assert frame.loc[("1", "10")]["value"] == pytest.approx(2.1)
    assert frame.loc[("1", "10")]["mode"] == "b"
    # the best shown: fast 3, slow 10, mode b (4.1); the ruined 4.2 is never best
    best = cells.best
    assert best is not None and best.params == {"fast": 3, "slow": 10, "mode": "b"}
    assert (best.xi, best.yi) == (2, 0) and best.value == pytest.approx(4.1)
    assert neighbourhood(cells) == ((1, 0), (2, 1))


def test_a_fixed_slice_and_median(summary: pd.DataFrame) -> None:
    cells = sweep_cells(summary, PARAMS, ChartChoice("sharpe", "fast", "slow", fixed={"mode": "a"}))
    assert cells.others == [] and set(cells.frame["n"]) == {1}
    frame = cells.frame.set_index(["x_label", "y_label"])
    assert frame.loc[("2", "20")]["value"] == pytest.approx(2.2)
    assert cells.best is not None and cells.best.params["mode"] == "a"
    assert cells.best.value == pytest.approx(3.2)


def test_lower_is_better_metric_and_all_ruined_cell() -> None:
    frame = pd.DataFrame({"a": [1, 1, 2, 2], "b": [1, 2, 1, 2],
                          "max_drawdown": [0.5, 0.2, 0.3, 1.0],
                          "ruined": [False, False, False, True]})  # fmt: skip
    cells = sweep_cells(frame, ["a", "b"], ChartChoice("max_drawdown", "a", "b"))
    assert cells.best is not None and cells.best.params == {"a": 1, "b": 2}  # 0.2, lowest
    ruined_cell = cells.frame.set_index(["x_label", "y_label"]).loc[("2", "2")]
    assert ruined_cell["row"] == -1 and ruined_cell["n_ruined"] == 1


def test_one_parameter_is_a_line(summary: pd.DataFrame) -> None:
    cells = sweep_cells(summary, PARAMS, ChartChoice("total_return", "fast", None, "mean"))
    assert cells.y_labels == [""] and list(cells.frame["value"]) == pytest.approx(
        [0.01, 0.02, 0.03]
    )
    option = sweep_charts.line_option(cells)
    assert option["series"][0]["type"] == "line"
    assert option["series"][0]["markPoint"]["data"][0]["coord"] == [2, pytest.approx(0.03)]
    assert sweep_charts.describe(cells).startswith("Line: total_return by fast")


def test_bad_choices_are_param_errors(summary: pd.DataFrame) -> None:
    with pytest.raises(ParamError, match="two different"):
        sweep_cells(summary, PARAMS, ChartChoice("sharpe", "fast", "fast"))
    with pytest.raises(ParamError, match="agg must be"):
        sweep_cells(summary, PARAMS, ChartChoice("sharpe", "fast", "slow", "sum"))
    with pytest.raises(ParamError, match="unknown parameter"):
        sweep_cells(summary, PARAMS, ChartChoice("sharpe", "nope", "slow"))
    with pytest.raises(ParamError, match="fixed"):
        sweep_cells(summary, PARAMS, ChartChoice("sharpe", "fast", "slow", fixed={"fast": 1}))


def test_heatmap_option_marks_best_labels_small_grids_and_hovers_every_metric(
    summary: pd.DataFrame,
) -> None:
    cells = sweep_cells(summary, PARAMS, ChartChoice("sharpe", "fast", "slow"))
    option = sweep_charts.heatmap_option(cells)
    series = option["series"][0]
    assert series["label"]["show"] is True  # 6 cells <= 400: values printed in the cells
    assert series["markPoint"]["data"][0]["coord"] == [2, 0]
    outline = option["series"][1]
    assert outline["silent"] and [c[:2] for c in outline["data"]] == [
        [1, 0],
        [1, 1],
        [2, 0],
        [2, 1],
    ]
    assert series["selectedMode"] == "single"
    tip = option["tooltip"]["formatter"]
    for column in ("{@value}", "{@n}", "{@fast}", "{@slow}", "{@mode}", "{@sharpe}",
                   "{@total_return}"):  # fmt: skip
        assert column in tip
    assert option["dataset"]["source"] is cells.frame


def test_a_million_rows_stay_within_50_by_50_cells() -> None:
    n = 1000
    fast, slow = np.meshgrid(np.arange(n), np.arange(n))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"fast": fast.ravel(), "slow": slow.ravel()})
    frame["sharpe"] = rng.normal(size=n * n)
    frame["ruined"] = rng.random(n * n) < 0.01
    cells = sweep_cells(frame, ["fast", "slow"], ChartChoice("sharpe", "fast", "slow"))
    assert (len(cells.x_labels), len(cells.y_labels)) == (50, 50) and cells.n_cells == 2500
    assert cells.x_labels[0] == "0–19" and set(cells.frame["n"]) == {400}
    assert "1,000 values in 50 cells of 20" in sweep_charts.title_note(cells)
    option = sweep_charts.heatmap_option(cells)
    assert option["series"][0]["label"]["show"] is False  # 2,500 cells: no printed values
    alive = frame[~frame["ruined"]]
    assert cells.best is not None and cells.best.value == pytest.approx(alive["sharpe"].max())


def test_round_significant() -> None:
    out = round_significant(np.array([1234.5678, -0.012346, np.nan, 0.0]))
    assert out[0] == 1235.0 and out[1] == pytest.approx(-0.01235) and np.isnan(out[2])
    assert out[3] == 0.0


def test_parallel_option_axes_colour_and_data(summary: pd.DataFrame) -> None:
    rows = summary[summary["sharpe"].notna()]
    option = sweep_charts.parallel_option(rows, PARAMS, "sharpe")
    axes = option["parallelAxis"]
    assert [a["name"] for a in axes] == [*PARAMS, "sharpe"]
    assert axes[2]["type"] == "category" and axes[2]["data"] == ["a", "b"]  # text parameter
    assert option["visualMap"]["dimension"] == 3  # coloured by the metric
    data = option["dataset"]["source"]
    assert len(data) == len(rows) and list(data.columns) == [*PARAMS, "sharpe"]
    assert option["series"][0]["type"] == "parallel"
