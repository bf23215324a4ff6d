"""Compare page (AppTest on the router) over real engine runs."""

from __future__ import annotations

import json

import pytest

from tests._results_helpers import Lab, app_test, lab_fixture, texts  # noqa: F401

PAGE = "views/compare.py"


@pytest.fixture
def two_runs(lab: Lab) -> Lab:
    key = lab.add_file()
    lab.run("fast-one", key, fast=5, slow=30)
    lab.run("slow-one", key, fast=20, slow=80)
    return lab


def _figure(at, title: str) -> dict:
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if spec["layout"]["title"]["text"].startswith(title):
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def test_compare_tells_runs_apart_by_what_differs(two_runs: Lab) -> None:
    at = app_test(PAGE, runs="fast-one,slow-one")
    assert not at.exception
    labels = ["fast=5, slow=30", "fast=20, slow=80"]
    for title in ("Equity", "Drawdown"):
        names = [t["name"] for t in _figure(at, title)["data"]]
        assert names == labels
    table = at.dataframe[0].value
    assert list(table.columns) == labels
    assert list(table.index[:3]) == ["run", "fast", "slow"]
    assert list(table.loc["run"]) == ["fast-one", "slow-one"]
    for run_id, label in zip(("fast-one", "slow-one"), labels, strict=True):
        metrics = two_runs.json(f"runs/{run_id}/metrics.json")
        assert table.loc["Total return", label] == f"{metrics['total_return'] * 100:.2f}%"
    assert (
        "Same in every run: strategy sma_cross, file samples/walk.csv, "
        "other options at the engine defaults"
    ) in texts(at)


def test_runs_differing_in_options_are_labelled_by_the_option(lab: Lab) -> None:
    from engine.spec import SimOptions

    key = lab.add_file()
    lab.run("cheap", key, fast=5, slow=30)
    lab.run("dear", key, sim=SimOptions(commission=0.01), fast=5, slow=30)
    at = app_test(PAGE, runs="cheap,dear")
    table = at.dataframe[0].value
    assert list(table.columns) == ["commission 0.1%", "commission 1%"]
    assert list(table.loc["commission"]) == ["0.1%", "1%"]


def test_choice_goes_to_the_url(two_runs: Lab) -> None:
    at = app_test(PAGE)
    assert not at.exception
    assert "Pick runs" in texts(at)
    picker = at.multiselect[0]
    ids = [o.rsplit(" · ", 1)[-1] for o in picker.options]
    assert ids == ["slow-one", "fast-one"]  # newest first
    assert all(" · sma_cross · samples/walk.csv · return " in o for o in picker.options)
    picker.select(picker.options[0]).select(picker.options[1]).run()
    assert at.query_params["runs"] == "slow-one,fast-one"
    assert list(at.dataframe[0].value.loc["run"]) == ["slow-one", "fast-one"]


def test_unusable_run_is_named_and_others_still_compare(two_runs: Lab) -> None:
    two_runs.failed_run("broken", "samples/missing.csv")
    at = app_test(PAGE, runs="fast-one,broken,ghost")
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("broken: failed") for w in warnings)
    assert any(w.startswith("ghost:") and "no run 'ghost'" in w for w in warnings)
    assert list(at.dataframe[0].value.loc["run"]) == ["fast-one"]


def test_a_ruined_run_is_flagged_in_red(lab: Lab) -> None:
    from engine.spec import SimOptions

    key = lab.add_squeeze_file()
    lab.run("long", key, fast=3, slow=10)
    lab.run("short", key, sim=SimOptions(allow_short=True), fast=3, slow=10)
    at = app_test(PAGE, runs="long,short")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("long/short: Ruined on 2021-03-02")
    assert at.dataframe[0].value.loc["Sharpe", "long/short"] == "—"


def test_empty_store(lab: Lab) -> None:
    at = app_test(PAGE)
    assert not at.exception
    assert "No finished runs yet" in texts(at)
