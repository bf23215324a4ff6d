"""Sweep results of a TPE search (AppTest on the router) over search folders written by hand in
the contract's layout (tests._search_ui_helpers.py; rows from the real engine): the Search tab's
settings, progress chart (running best, round boundaries), rounds table, Pareto scatter and front
table with links, and the other tabs on a search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest

from tests._results_helpers import REPO, app_test, texts
from tests._search_ui_helpers import SEARCH_FILE, brute_front, write_search

PAGE = "views/sweep_results.py"
TWO = ("sharpe", "max_drawdown")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("BACKTEST_STORAGE_ROOT", str(path))
    monkeypatch.setenv("BACKTEST_BACKEND", "local")
    monkeypatch.setenv("BACKTEST_POLL_MS", "1000")
    return path


def charts(at: Any) -> dict[str, tuple[dict[str, Any], list[pd.DataFrame]]]:
    """Each ECharts chart by the first word of its accessible name: (option, datasets)."""
    import pyarrow as pa

    out = {}
    for el in at.get("echarts_chart"):
        option = json.loads(el.proto.spec)
        data = {d.name: d.data.data for d in el.proto.datasets}
        sets = option.get("dataset") or []
        sets = sets if isinstance(sets, list) else [sets]
        frames = [pa.ipc.open_stream(data[s["source"]["name"]]).read_pandas()
                  for s in sets if isinstance(s.get("source"), dict)]  # fmt: skip
        out[el.proto.alt.split(":")[0]] = (option, frames)
    return out


def links(at: Any) -> dict[str, dict[str, list[str]]]:
    return {p.proto.label: parse_qs(p.proto.query_string) for p in at.get("page_link")}


def test_search_tab_of_a_two_objective_search(root: Path) -> None:
    trials = write_search(root, "tpe2", objectives=TWO, budget=40, round_size=16, seed=7)
    at = app_test(PAGE, sweep="tpe2")
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    # the settings a user re-enters to reproduce it
    assert "seed 7" in shown and "budget 40 trials in rounds of 16 (3 rounds" in shown
    assert "objectives: Sharpe (higher), Max drawdown (lower)" in shown
    got = charts(at)
    assert set(got) >= {"Search progress", "Pareto"}  # the Search tab opens first

    option, (points, steps) = got["Search progress"]
    assert sorted(points["trial"]) == list(range(40))  # no trial ruined here: all drawn
    got_sharpe = points.sort_values("trial")["sharpe"]
    np.testing.assert_allclose(got_sharpe, trials["sharpe"], rtol=1e-3)  # 4 digits drawn
    # the running best: at every trial, the max Sharpe of trials 0..k (computed here)
    expected = trials["sharpe"].cummax().to_numpy()
    drawn = np.interp(np.arange(40), steps["trial"], steps["best_sharpe"])  # a step line
    for k in steps["trial"][:-1]:
        assert drawn[int(k)] == pytest.approx(expected[int(k)], rel=1e-3)
    assert steps["best_sharpe"].iloc[-1] == pytest.approx(trials["sharpe"].max(), rel=1e-3)
    marks = option["series"][1]["markLine"]["data"]
    assert [m["xAxis"] for m in marks] == [15.5, 31.5]  # between rounds 0|1 and 1|2

    option, (others, front) = got["Pareto"]
    want = set(trials["combo_id"][brute_front(trials, TWO)])
    assert set(front["trial"]) == want and want  # the front, as computed independently
    assert set(others["trial"]) == set(range(40)) - want
    table = next(d.value for d in at.dataframe if "max_drawdown" in d.value.columns
                 and "trial" in d.value.columns)  # fmt: skip
    assert set(table["trial"]) == want
    assert list(table["sharpe"]) == sorted(table["sharpe"], reverse=True)  # best Sharpe first

    first = trials[trials["combo_id"] == table["trial"].iloc[0]].iloc[0]
    label = f"fast={first['fast']}, slow={first['slow']}"
    query = links(at)[f"Run {label} again (New run, prefilled)"]
    assert query["p_fast"] == [str(first["fast"])] and query["p_slow"] == [str(first["slow"])]
    assert query["file"] == [SEARCH_FILE] and query["strategy"] == ["sma_cross"]

    rounds = next(d.value for d in at.dataframe if "evaluated" in d.value.columns)
    assert list(rounds["evaluated"]) == [16, 16, 8]
    assert list(rounds["trials"]) == ["0–15", "16–31", "32–39"]
    for r in range(3):
        upto = trials[trials["combo_id"] < 16 * (r + 1)]["sharpe"].max()
        assert rounds["best sharpe so far"].iloc[r] == pytest.approx(upto)
        assert rounds["collect's best after round"].iloc[r] == pytest.approx(upto)

    next(s for s in at.selectbox if s.label == "Objective").set_value("Max drawdown (lower)").run()
    assert at.query_params["objective"] == "Max drawdown (lower)"
    _, (_, steps) = charts(at)["Search progress"]
    assert steps["best_max_drawdown"].iloc[-1] == pytest.approx(
        trials["max_drawdown"].min(), rel=1e-3
    )


def test_front_pick_changes_the_link(root: Path) -> None:
    trials = write_search(root, "tpe2", objectives=TWO)
    at = app_test(PAGE, sweep="tpe2")
    front = trials[brute_front(trials, TWO)].sort_values("sharpe", ascending=False)
    if len(front) < 2:
        pytest.fail("the fixture's front has one trial; change its seed")
    at.selectbox(key="search_front_pick").set_value(1).run()
    second = front.iloc[1]
    label = f"fast={second['fast']}, slow={second['slow']}"
    assert f"Front trial {int(second['combo_id'])}" in texts(at)
    assert links(at)[f"Run {label} again (New run, prefilled)"]["p_slow"] == [str(second["slow"])]


def test_single_objective_search_has_no_front_and_the_objective_is_lower_better(
    root: Path,
) -> None:
    trials = write_search(root, "tpe1", objectives=("max_drawdown",), budget=24, round_size=8)
    at = app_test(PAGE, sweep="tpe1", tab="Search")
    assert not at.exception
    got = charts(at)
    assert "Pareto" not in got and "Pareto front" not in texts(at)
    assert not [s for s in at.selectbox if s.label == "Objective"]  # one objective: no choice
    _, (_, steps) = got["Search progress"]
    best = trials["max_drawdown"].min()
    assert steps["best_max_drawdown"].iloc[-1] == pytest.approx(best, rel=1e-3)
    assert "objective: Max drawdown (lower)" in texts(at)


def test_unfinished_search_shows_rounds_so_far_and_no_front_yet(root: Path) -> None:
    write_search(root, "tpe-run", objectives=TWO, budget=40, round_size=16, done=(0, 1, 2))
    at = app_test(PAGE, sweep="tpe-run", tab="Search")
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "24 of 40 trials evaluated so far" in shown
    assert "marked once the search is collected" in shown
    state = " ".join(i.value for i in at.info)
    assert "Search running" in state and "24/40 trials evaluated" in state, state
    rounds = next(d.value for d in at.dataframe if "evaluated" in d.value.columns)
    assert list(rounds["evaluated"]) == [16, 8, 0]  # rounds from the layout (no round column)
    _, (others, front) = charts(at)["Pareto"]
    assert len(front) == 0 and len(others) == 24


def test_other_tabs_of_a_search_treat_round_and_pareto_as_no_parameters(root: Path) -> None:
    write_search(root, "tpe2", objectives=TWO)
    at = app_test(PAGE, sweep="tpe2", tab="Heatmap")
    assert not at.exception
    x_axis = next(s for s in at.selectbox if s.label == "X axis")
    assert set(x_axis.options) == {"fast", "slow"}
    assert not [s for s in at.selectbox if s.label.startswith("Fix ")]
    at = app_test(PAGE, sweep="tpe2", tab="Robustness")
    assert "the statistics count every trial it tried (40 trials counted" in texts(at)


def test_damaged_search_block_is_one_line(root: Path) -> None:
    write_search(root, "tpe-bad", objectives=TWO)
    from engine.store.objects import LocalStore

    store = LocalStore(root)
    key = "sweeps/tpe-bad/spec.json"
    spec = json.loads(store.get_bytes("backtest-results", key))
    spec["search"] = {"round_size": 0, "objectives": ["sharpe"]}
    store.put_bytes("backtest-results", key, json.dumps(spec).encode())
    at = app_test(PAGE, sweep="tpe-bad", tab="Search")
    assert not at.exception
    assert any("round_size" in e.value for e in at.error), texts(at)


PAGES = sorted(
    p.relative_to(REPO).as_posix() for p in (REPO / "views").glob("*.py")
    if not p.name.startswith("_")
)  # fmt: skip


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_a_search_in_the_store(page: str, root: Path) -> None:
    write_search(root, "tpe2", objectives=TWO)
    write_search(root, "tpe-run", objectives=("sharpe",), done=(0,))
    at = app_test(page, sweep="tpe2")
    assert not at.exception, [e.value for e in at.exception]
    assert at.title


def test_summary_without_its_objective_is_one_line(root: Path) -> None:
    write_search(root, "tpe-cal", objectives=TWO)
    from engine.store.objects import LocalStore

    store = LocalStore(root)
    key = "sweeps/tpe-cal/spec.json"
    spec = json.loads(store.get_bytes("backtest-results", key))
    spec["search"]["objectives"] = ["calmar", "max_drawdown"]  # then calmar is dropped below
    store.put_bytes("backtest-results", key, json.dumps(spec).encode())
    summary_key = "sweeps/tpe-cal/summary.parquet"
    from engine.store.runs import frame_to_parquet, parquet_to_frame

    frame = parquet_to_frame(store.get_bytes("backtest-results", summary_key))
    store.put_bytes("backtest-results", summary_key, frame_to_parquet(frame.drop(columns="calmar")))
    at = app_test(PAGE, sweep="tpe-cal", tab="Search")
    assert not at.exception, [e.value for e in at.exception]
    assert "the search's summary has no column 'calmar' (its objective)" in texts(at)
