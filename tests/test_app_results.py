"""Run results page (AppTest on the router) against real engine runs in a local store."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs

import pandas as pd
import pytest

from tests._results_helpers import (
    INPUT,
    Lab,
    app_test,
    captured_downloads,
    download_bytes,
    lab_fixture,  # noqa: F401 - the `lab` fixture
    texts,
)

PAGE = "views/run_results.py"


def _pct(v: float) -> str:
    return f"{v * 100:.2f}%"


@pytest.fixture
def one_run(lab: Lab) -> tuple[Lab, str]:
    key = lab.add_file()
    return lab, lab.run("run-a", key, fast=5, slow=30)


def test_metric_cards_show_metrics_json(one_run: tuple[Lab, str]) -> None:
    lab, run_id = one_run
    at = app_test(PAGE, run=run_id)
    assert not at.exception
    metrics = lab.json(f"runs/{run_id}/metrics.json")
    cards = {m.label: m.value for m in at.metric}
    assert cards["Total return"] == _pct(metrics["total_return"])
    assert cards["Max drawdown"] == _pct(metrics["max_drawdown"])
    assert cards["Buy & hold"] == _pct(metrics["buy_hold_return"])
    assert cards["Sharpe"] == f"{metrics['sharpe']:.2f}"
    assert cards["Trades"] == str(int(metrics["n_trades"]))
    assert cards["Final equity"] == f"{metrics['final_equity']:,.2f}"
    assert at.query_params["run"] == run_id  # the URL can be shared


def test_charts_include_equity_with_buy_and_hold_and_price_markers(
    one_run: tuple[Lab, str],
) -> None:
    _, run_id = one_run
    at = app_test(PAGE, run=run_id)
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    names = [[t.get("name") for t in s["data"]] for s in specs]
    assert ["Strategy", "Buy & hold"] in names
    price = next(n for n in names if "Price" in n)
    assert "long entry" in price and "long exit" in price


def test_downloads_hold_the_runs_files(
    one_run: tuple[Lab, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, run_id = one_run
    with captured_downloads(monkeypatch) as managers:
        at = app_test(PAGE, run=run_id)
        buttons = {b.label: b for b in at.download_button}
        trades_csv = download_bytes(managers, buttons["Trades CSV"])
        equity_csv = download_bytes(managers, buttons["Equity CSV"])
        metrics_json = download_bytes(managers, buttons["Metrics JSON"])
        report = download_bytes(managers, buttons["HTML report"]).decode()

    stored = lab.parquet(f"runs/{run_id}/trades.parquet")
    got = pd.read_csv(io.BytesIO(trades_csv), parse_dates=["entry_time", "exit_time"])
    assert len(got) == len(stored) > 0
    assert list(got.columns) == list(stored.columns)
    for col in ("units", "entry_price", "exit_price", "pnl", "return"):
        assert got[col].to_numpy() == pytest.approx(stored[col].to_numpy(), rel=1e-12)
    assert (got["entry_time"].to_numpy() == stored["entry_time"].to_numpy()).all()
    assert list(got["side"]) == list(stored["side"])

    equity = lab.parquet(f"runs/{run_id}/equity.parquet")
    got_eq = pd.read_csv(io.BytesIO(equity_csv), parse_dates=["timestamp"])
    assert got_eq["equity"].to_numpy() == pytest.approx(equity["equity"].to_numpy(), rel=1e-12)
    assert (got_eq["timestamp"].to_numpy() == equity["timestamp"].to_numpy()).all()

    assert json.loads(metrics_json) == lab.json(f"runs/{run_id}/metrics.json")
    assert report.startswith("<!DOCTYPE html>") and run_id in report
    assert "plotly" in report.lower() and "<script" in report  # charts inline, offline


def test_failed_run_shows_its_error_message(lab: Lab) -> None:
    lab.failed_run("run-bad", "samples/does-not-exist.csv")
    message = lab.json("runs/run-bad/error.json")["error"]
    at = app_test(PAGE, run="run-bad")
    assert not at.exception
    assert any(message in e.value for e in at.error)
    assert not at.metric


def test_unfinished_run_says_so(one_run: tuple[Lab, str]) -> None:
    lab, run_id = one_run
    lab.store.delete("backtest-results", f"runs/{run_id}/_SUCCESS")
    at = app_test(PAGE, run=run_id)
    assert not at.exception
    assert "not finished" in texts(at)
    assert not at.metric


@pytest.mark.parametrize(
    ("run_id", "expected"), [("nope", "no run 'nope'"), ("..", "invalid run id")]
)
def test_missing_or_bad_run_id_is_an_error_line(lab: Lab, run_id: str, expected: str) -> None:
    at = app_test(PAGE, run=run_id)
    assert not at.exception
    assert any(expected in e.value for e in at.error)


def test_picker_lists_finished_runs_newest_first_and_sets_the_url(lab: Lab) -> None:
    key = lab.add_file()
    lab.run("older", key, fast=5, slow=30)
    lab.run("newer", key, fast=10, slow=40)
    lab.failed_run("broken", "samples/missing.csv")
    at = app_test(PAGE)
    assert not at.exception
    picker = at.selectbox[0]
    assert list(picker.options) == ["newer", "older"]
    assert not at.metric
    picker.set_value("older").run()
    assert at.query_params["run"] == "older"
    assert {m.label for m in at.metric} >= {"Total return", "Sharpe"}


def test_empty_store_guides_to_new_run(lab: Lab) -> None:
    at = app_test(PAGE)
    assert not at.exception
    assert "No run chosen" in texts(at)


def test_rerun_link_opens_new_run_with_the_spec(lab: Lab) -> None:
    key = lab.add_file()
    lab.run("run-r", key, fast=7, slow=40)
    at = app_test(PAGE, run="run-r")
    link = next(p for p in at.get("page_link") if p.proto.label == "Rerun with changes")
    assert link.proto.page.endswith("new")
    query = {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}
    assert query == {"file": key, "strategy": "sma_cross", "p_fast": "7", "p_slow": "40"}


def test_trades_table_sorts_by_the_chosen_column(one_run: tuple[Lab, str]) -> None:
    lab, run_id = one_run
    at = app_test(PAGE, run=run_id)
    sort = next(s for s in at.selectbox if s.label == "Sort by")
    sort.set_value("pnl").run()
    next(t for t in at.toggle if t.label == "Descending").set_value(True).run()
    shown = at.dataframe[0].value
    stored = lab.parquet(f"runs/{run_id}/trades.parquet")
    assert shown["pnl"].iloc[0] == pytest.approx(stored["pnl"].max())
    assert len(shown) == len(stored)


def test_missing_price_file_still_shows_the_rest(one_run: tuple[Lab, str]) -> None:
    lab, run_id = one_run
    spec = lab.json(f"runs/{run_id}/spec.json")
    lab.store.delete(INPUT, spec["source_key"])
    at = app_test(PAGE, run=run_id)
    assert not at.exception
    assert "No price chart" in texts(at)
    assert at.metric
    titles = [json.loads(el.proto.spec)["layout"]["title"]["text"] for el in at.get("plotly_chart")]
    assert "Equity" in titles and not any(t.startswith("Price") for t in titles)
