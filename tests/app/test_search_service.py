"""app/search_service.py: a TPE search's settings, trials with the running best, rounds, front
and New run's estimate (checked against the layout the jobs layer submits with)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import search_service as search
from engine.errors import ParamError
from engine.spec import RunSpec
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import SweepSpec


def settings(objectives: tuple[str, ...] = ("sharpe",), budget: int = 10, round_size: int = 4):
    return search.SearchSettings(budget, 3, SearchSpec(round_size, objectives))


def summary(values: dict[str, list[float]], ruined: list[bool] | None = None) -> pd.DataFrame:
    n = len(next(iter(values.values())))
    frame = pd.DataFrame({"combo_id": list(range(n))[::-1], "fast": list(range(n))[::-1]})
    for k, v in values.items():
        frame[k] = v[::-1]  # written in reverse: the frame must come back in trial order
    frame["ruined"] = (ruined or [False] * n)[::-1]
    return frame


def test_objective_labels_say_which_way_is_better() -> None:
    assert search.objective_label("sharpe") == "Sharpe (higher)"
    assert search.objective_label("max_drawdown") == "Max drawdown (lower)"
    choices = search.objective_choices()
    assert choices["Max drawdown (lower)"] == "max_drawdown"
    assert "Trades" not in " ".join(choices)  # no direction, no objective
    with pytest.raises(ParamError, match="not a search objective"):
        search.objective_label("n_trades")


def test_settings_from_spec_json() -> None:
    assert search.search_settings({"mode": "grid"}) is None
    got = search.search_settings(
        {"mode": "tpe", "n": 100, "seed": 4,
         "search": {"round_size": 32, "objectives": ["sharpe", "max_drawdown"]}}
    )  # fmt: skip
    assert got is not None and got.n_rounds == 4 and got.directions == ("maximize", "minimize")
    assert got.lines()[0].endswith("seed 4")
    assert "budget 100 trials in rounds of 32 (4 rounds" in got.lines()[1]
    with pytest.raises(ParamError, match="round_size"):
        search.search_settings({"mode": "tpe", "n": 5, "search": {"round_size": 0}})
    with pytest.raises(ParamError, match="n \\(budget\\)"):
        search.search_settings({"mode": "tpe", "n": "many"})


def test_running_best_skips_ruined_and_missing_values_in_each_direction() -> None:
    values = np.array([np.nan, 0.5, 2.0, 1.0, 9.0, 3.0])
    usable = np.array([True, True, True, True, False, True])  # 9.0 is ruined
    np.testing.assert_array_equal(
        search.running_best(values, "maximize", usable), [np.nan, 0.5, 2.0, 2.0, 2.0, 3.0]
    )
    np.testing.assert_array_equal(
        search.running_best(values, "minimize", usable), [np.nan, 0.5, 0.5, 0.5, 0.5, 0.5]
    )


def test_trials_in_order_with_layout_rounds_and_round_table() -> None:
    sharpe = [0.1, 0.4, 0.2, np.nan, 0.3, 0.9, 0.5, 0.6, 0.7]
    rows = summary({"sharpe": sharpe}, ruined=[False] * 5 + [True] + [False] * 3)
    trials = search.trials_frame(rows, settings(), ["fast"])
    assert list(trials["trial"]) == list(range(9))
    assert list(trials["round"]) == [0, 0, 0, 0, 1, 1, 1, 1, 2]  # trial // 4, no round column
    assert list(trials["best_sharpe"]) == [0.1, 0.4, 0.4, 0.4, 0.4, 0.4, 0.5, 0.6, 0.7]
    table = search.round_table(trials, settings(), {"best_by_round": [0.4, 0.6]})
    assert list(table["evaluated"]) == [4, 4, 1]  # the budget is 10: round 2 holds 8..9
    assert list(table["trials"]) == ["0–3", "4–7", "8–9"]
    assert list(table["ruined"]) == [0, 1, 0]
    assert list(table["round's best sharpe"]) == [0.4, 0.6, 0.7]  # 0.9 is ruined
    assert list(table["best sharpe so far"]) == [0.4, 0.6, 0.7]
    assert table["collect's best after round"].tolist()[:2] == [0.4, 0.6]
    assert pd.isna(table["collect's best after round"].iloc[2])


def test_collect_round_column_wins_and_front_needs_the_pareto_column() -> None:
    two = settings(("sharpe", "max_drawdown"), budget=4, round_size=2)
    rows = summary({"sharpe": [1.0, 2.0, 0.5, 2.0], "max_drawdown": [0.1, 0.3, 0.05, 0.2]})
    assert search.pareto_front(search.trials_frame(rows, two, ["fast"]), two) is None
    rows["round"] = [7, 7, 7, 7]
    rows["pareto"] = [True, True, False, True]  # trials 3, 2, 0 (the frame is reversed)
    trials = search.trials_frame(rows, two, ["fast"])
    assert set(trials["round"]) == {7}
    front = search.pareto_front(trials, two)
    assert front is not None and list(front["trial"]) == [3, 0, 2]  # by Sharpe, best first
    with pytest.raises(ParamError, match="no column 'calmar'"):
        search.trials_frame(rows, settings(("calmar",)), ["fast"])


def test_round_and_pareto_are_not_parameters_of_a_search_unless_swept() -> None:
    params = ["fast", "round", "pareto"]
    assert search.without_search_columns(params, {"mode": "grid"}) == params
    spec = {"mode": "tpe", "space": [{"name": "fast"}, {"name": "round"}]}
    assert search.without_search_columns(params, spec) == ["fast", "round"]


def test_estimate_uses_the_layout_the_submit_uses(tmp_path: Path) -> None:
    from engine.sim.synthetic import random_walk
    from engine.store.objects import LocalStore
    from jobs.search_jobs import prepare_search

    spec = SweepSpec(
        "est", RunSpec("inputs", "a.csv", "outputs"), {"fast": "2:40:1", "slow": "50:200:1"},
        mode="tpe", n=500, seed=1, search=SearchSpec(round_size=60),
        target_child_seconds=0.01,
    ).validate()  # fmt: skip
    bars = 20_000
    est = search.estimate_search(spec, [bars])
    store = LocalStore(tmp_path)
    store.create_bucket("inputs")
    store.create_bucket("outputs")
    frame = random_walk(bars, seed=1)
    store.put_bytes("inputs", "a.csv", frame.to_csv(index_label="date").encode())
    _, layout, _ = prepare_search(store, spec)
    assert (est.chunk_size, est.n_children, est.n_rounds) == (
        layout.chunk_size, layout.n_children, layout.n_rounds,
    )  # fmt: skip
    assert est.first_children == layout.children(0) > 1  # several children per round here
    assert est.last_children == layout.children(layout.n_rounds - 1)
    assert 60 % est.chunk_size == 0
    assert est.rounds_text().startswith(f"9 rounds x {layout.children(0)} children")
