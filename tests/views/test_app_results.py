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


def _money(v: float) -> str:
    return f"{v:,.2f}" if abs(v) < 1e5 else f"{v:,.0f}"


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
    assert cards["Final equity"] == _money(metrics["final_equity"])
    assert cards["Longest DD (bars)"] == f"{metrics['max_drawdown_duration']:,.0f}"
    helps = {m.label: m.proto.help for m in at.metric}
    assert helps["Final equity"] == f"{metrics['final_equity']:,.2f}"
    assert at.query_params["run"] == run_id  # the URL can be shared
    assert not at.error  # no ruin, no warning


def test_header_names_the_strategy_and_every_non_default_option(lab: Lab) -> None:
    from engine.spec import SimOptions

    key = lab.add_file()
    sim = SimOptions(commission=0.0005, slippage_bps=5.0, fill="close", lot_size=10.0,
                     allow_short=True, stop_loss=5.0)  # fmt: skip
    lab.run("costly", key, sim=sim, fast=5, slow=30)
    at = app_test(PAGE, run="costly")
    assert not at.exception
    assert at.subheader[0].value == f"sma_cross(fast=5, slow=30) on {key}"
    assert (
        "Options (not the defaults): commission 0.05%, slippage 5 bps, fill at close, "
        "lots of 10, long/short, stop-loss 5%"
    ) in texts(at)
    lab.run("plain", key, fast=5, slow=30)
    plain = texts(app_test(PAGE, run="plain"))
    assert "Options: engine defaults (commission 0.1%, slippage 0 bps, fill at next open" in plain


def test_ruined_run_shows_a_red_warning_and_dashes_not_numbers(lab: Lab) -> None:
    from engine.spec import SimOptions

    key = lab.add_squeeze_file()
    lab.run("squeezed", key, sim=SimOptions(allow_short=True), fast=3, slow=10)
    metrics = lab.json("runs/squeezed/metrics.json")
    assert metrics["ruined_at"].startswith("2021-03-02")  # the gap bar: open 200 vs ~60
    at = app_test(PAGE, run="squeezed")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Ruined on 2021-03-02: equity reached zero; the run was closed and stayed flat. "
        "Sharpe, Sortino, volatility, Calmar and CAGR are not meaningful across a ruin and "
        "are not shown."
    ]
    cards = {m.label: m for m in at.metric}
    for label in ("Sharpe", "Sortino", "Volatility", "Calmar", "CAGR"):
        assert cards[label].value == "—", label
        assert "ruined on 2021-03-02" in cards[label].proto.help
    assert cards["Total return"].value == "-100.00%"
    assert cards["Final equity"].value == "0.00"


def test_report_metrics_read_exactly_as_the_cards_and_say_how_the_run_was_made(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    import html as html_lib
    import re

    from engine.spec import SimOptions

    key = lab.add_squeeze_file()
    lab.run("rep", key, sim=SimOptions(allow_short=True, commission=0.002), fast=3, slow=10)
    with captured_downloads(monkeypatch) as managers:
        at = app_test(PAGE, run="rep")
        button = next(b for b in at.download_button if b.label == "HTML report")
        report = download_bytes(managers, button).decode()
    cells = dict(re.findall(r'<tr><th class="k">([^<]*)</th><td[^>]*>([^<]*)</td></tr>', report))
    cards = {m.label: m.value for m in at.metric}
    assert {html_lib.unescape(k): html_lib.unescape(v) for k, v in cells.items()} == cards
    assert "Options (not the defaults): commission 0.2%, long/short" in report
    assert 'class="warning"' in report and "Ruined on 2021-03-02" in report
    assert 'title="Not meaningful: the run was ruined on 2021-03-02' in report


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
    assert picker.options[0].endswith("· newer") and len(picker.options) == 2
    metrics = lab.json("runs/newer/metrics.json")
    label = picker.options[0]
    assert f"· sma_cross · {key} · return {_pct(metrics['total_return'])} · " in label
    assert f"Sharpe {metrics['sharpe']:.2f} · newer" in label
    assert not at.metric
    picker.select_index(1).run()
    assert at.query_params["run"] == "older"
    assert {m.label for m in at.metric} >= {"Total return", "Sharpe"}


def test_picker_groups_a_sweeps_top_reruns_under_the_sweep(lab: Lab) -> None:
    from engine.sweep.collect import collect

    key = lab.add_file()
    lab.run("before", key, fast=5, slow=30)
    lab.sweep("sw1", key, done=(0, 1))
    collect(lab.store, "backtest-results", "sw1", top_n=3, env={})  # the real top-N reruns
    lab.run("after", key, fast=10, slow=40)
    at = app_test(PAGE)
    options = list(at.selectbox[0].options)
    assert [o.rsplit(" · ", 1)[-1] for o in options] == [
        "after", "sw1-top1", "sw1-top2", "sw1-top3", "before",
    ]  # fmt: skip
    assert [o.split(" · ")[0] for o in options[1:4]] == [
        "sweep sw1 › top 1", "sweep sw1 › top 2", "sweep sw1 › top 3",
    ]  # fmt: skip
    at.selectbox[0].select_index(1).run()
    assert at.query_params["run"] == "sw1-top1"
    assert "Top-1 rerun of sweep sw1" in texts(at)


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


def test_trades_table_shows_returns_in_percent_and_daily_dates_without_time(
    one_run: tuple[Lab, str],
) -> None:
    lab, run_id = one_run
    at = app_test(PAGE, run=run_id)
    table = at.dataframe[0]
    stored = lab.parquet(f"runs/{run_id}/trades.parquet")
    assert "return" not in table.value.columns
    assert table.value["return (%)"].to_numpy() == pytest.approx(stored["return"] * 100)
    config = json.loads(table.proto.columns)
    assert config["return (%)"]["type_config"]["format"] == "%.2f%%"
    for col in ("entry_time", "exit_time"):
        assert config[col]["type_config"]["format"] == "YYYY-MM-DD"


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
