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


def test_compare_shows_both_runs(two_runs: Lab) -> None:
    at = app_test(PAGE, runs="fast-one,slow-one")
    assert not at.exception
    for title in ("Equity", "Drawdown"):
        names = [t["name"] for t in _figure(at, title)["data"]]
        assert names == ["fast-one", "slow-one"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["fast-one", "slow-one"]
    for run_id in ("fast-one", "slow-one"):
        metrics = two_runs.json(f"runs/{run_id}/metrics.json")
        assert table.loc["Total return", run_id] == f"{metrics['total_return'] * 100:.2f}%"
        assert table.loc["strategy", run_id].startswith("sma_cross(")


def test_choice_goes_to_the_url(two_runs: Lab) -> None:
    at = app_test(PAGE)
    assert not at.exception
    assert "Pick runs" in texts(at)
    picker = at.multiselect[0]
    assert set(picker.options) == {"fast-one", "slow-one"}
    picker.set_value(["slow-one", "fast-one"]).run()
    assert at.query_params["runs"] == "slow-one,fast-one"
    assert list(at.dataframe[0].value.columns) == ["slow-one", "fast-one"]


def test_unusable_run_is_named_and_others_still_compare(two_runs: Lab) -> None:
    two_runs.failed_run("broken", "samples/missing.csv")
    at = app_test(PAGE, runs="fast-one,broken,ghost")
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("broken: failed") for w in warnings)
    assert any(w.startswith("ghost:") and "no run 'ghost'" in w for w in warnings)
    assert list(at.dataframe[0].value.columns) == ["fast-one"]


def test_empty_store(lab: Lab) -> None:
    at = app_test(PAGE)
    assert not at.exception
    assert "No finished runs yet" in texts(at)
