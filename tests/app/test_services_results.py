"""results_service and sweep_service (no Streamlit) against real runs and sweep folders."""

from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import pytest

from app import results_service as rs
from app import run_format as rf
from app import sweep_service as ss
from app.context import AppContext
from engine.errors import NotFoundError, ParamError
from jobs.settings import Settings
from tests._results_helpers import RESULTS, Lab, lab_fixture  # noqa: F401


class _NoExecutor:
    backend = "local"


def ctx_for(lab: Lab) -> AppContext:
    settings = Settings(storage_root=str(lab.root))
    return AppContext(settings=settings, store=lab.store, executor=_NoExecutor())  # type: ignore[arg-type]


# -- runs -------------------------------------------------------------------------------------


def test_list_runs_classifies_and_orders(lab: Lab) -> None:
    key = lab.add_file()
    lab.run("first", key, fast=5, slow=30)
    lab.failed_run("failing", "samples/missing.csv")
    lab.run("second", key, fast=10, slow=40)
    lab.store.put_bytes(RESULTS, "runs/halfway/spec.json", b"{}")
    ctx = ctx_for(lab)
    everything = rs.list_runs(ctx, finished_only=False).set_index("run_id")["status"].to_dict()
    assert everything == {
        "first": "succeeded",
        "second": "succeeded",
        "failing": "failed",
        "halfway": "unfinished",
    }
    assert list(rs.list_runs(ctx)["run_id"]) == ["second", "first"]


def test_list_runs_without_result_bucket_is_empty(tmp_path) -> None:
    from engine.store.objects import LocalStore

    lab = Lab.__new__(Lab)
    lab.root, lab.store = tmp_path, LocalStore(tmp_path)
    assert rs.list_runs(ctx_for(lab)).empty


def test_load_run_statuses(lab: Lab) -> None:
    key = lab.add_file()
    lab.run("ok", key)
    lab.failed_run("bad", "samples/missing.csv")
    ctx = ctx_for(lab)
    view = rs.load_run(ctx, "ok")
    assert view.finished and view.metrics == lab.json("runs/ok/metrics.json")
    assert len(view.equity) == 700 and view.equity.index.name == "timestamp"
    failed = rs.load_run(ctx, "bad")
    assert failed.status == "failed"
    assert failed.message == lab.json("runs/bad/error.json")["error"]
    lab.store.delete(RESULTS, "runs/ok/_SUCCESS")
    assert rs.load_run(ctx, "ok").status == "unfinished"
    with pytest.raises(NotFoundError, match="no run 'ghost'"):
        rs.load_run(ctx, "ghost")
    with pytest.raises(ParamError):
        rs.load_run(ctx, "../etc")


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("total_return", 0.12345, "12.35%"),
        ("total_return", -1.0, "-100.00%"),
        ("volatility", 23.1345, "2,313%"),
        ("volatility", 12345.0, "1.23M%"),
        ("max_drawdown", 0.5, "50.00%"),
        ("sharpe", 1.234, "1.23"),
        ("sharpe", 123456.0, "123,456"),
        ("n_trades", 17.0, "17"),
        ("max_drawdown_duration", 1854.0, "1,854"),
        ("final_equity", 240383.12, "240,383"),
        ("final_equity", 96136.783, "96,136.78"),
        ("final_equity", 12_345_678.9, "12.35M"),
        ("profit_factor", math.inf, "∞"),
        ("sharpe", None, "—"),
        ("calmar", math.nan, "—"),
        ("sharpe", "oops", "—"),
    ],
)
def test_format_metric(name: str, value: float | None, text: str) -> None:
    assert rs.format_metric(name, value) == text


def test_card_values_fit_a_card() -> None:
    """The issue's truncations ("240,38...", "1,854 b..."): every value stays short."""
    for size in (-1.234e17, -2404.0, 1_854.0, 240_383.12, 9.99e11, 3.2e13, 1.234e15):
        values = {name: size for name in rf.METRIC_FORMATS}
        for card in rf.metric_cards(values):
            assert len(card.value) <= 9, card
        assert len(rf.metric_cards(values)) == len(rf.METRIC_FORMATS)


def test_card_tooltips_carry_the_full_value() -> None:
    cards = {c.name: c for c in rf.metric_cards({"final_equity": 240383.126, "sharpe": 1.23456})}
    assert cards["final_equity"].value == "240,383"
    assert cards["final_equity"].help == "240,383.13"
    assert cards["sharpe"].help == "1.23456"


RUINED = {
    "total_return": -1.0,
    "final_equity": 0.0,
    "max_drawdown": 1.0,
    "sharpe": None,
    "sortino": math.nan,
    "volatility": 23.13,  # a stale number: still not shown once the run is ruined
    "calmar": None,
    "cagr": None,
    "n_trades": 3.0,
    "ruined": True,
    "ruined_at": "2021-03-04T00:00:00",
}


def test_ruined_metrics_show_a_dash_with_a_reason_never_a_number() -> None:
    cards = {c.name: c for c in rf.metric_cards(RUINED)}
    for name in ("sharpe", "sortino", "volatility", "calmar", "cagr"):
        assert cards[name].value == "—", name
        assert "ruined on 2021-03-04" in cards[name].help
    assert cards["total_return"].value == "-100.00%"
    assert cards["final_equity"].value == "0.00"
    assert rf.ruin_warning(RUINED) == (
        "Ruined on 2021-03-04: equity reached zero; the run was closed and stayed flat. "
        "Sharpe, Sortino, volatility, Calmar and CAGR are not meaningful across a ruin and "
        "are not shown."
    )
    assert rf.ruin_warning({"ruined": False, "ruined_at": None, "sharpe": 1.0}) is None
    assert rf.ruin_warning({"sharpe": 1.0}) is None  # an engine without the field
    intraday = dict(RUINED, ruined_at="2021-03-04T14:30:00")
    assert rf.ruin_warning(intraday).startswith("Ruined on 2021-03-04 14:30:")


def test_undefined_metric_tooltip_says_why() -> None:
    card = next(c for c in rf.metric_cards({"profit_factor": None}) if c.name == "profit_factor")
    assert card.value == "—" and card.help.startswith("Not defined for this run: no losing")


def test_options_are_compared_with_the_engines_defaults() -> None:
    from dataclasses import asdict

    from engine.spec import SimOptions

    defaults = asdict(SimOptions())
    spec = {"options": dict(defaults)}
    assert rf.non_default_options(spec) == {}
    assert rf.describe_options(spec) == (
        f"Options: engine defaults (commission {defaults['commission'] * 100:g}%, "
        "slippage 0 bps, fill at next open, fractional units, long only)"
    )
    spec["options"].update(
        commission=0.0005, slippage_bps=5.0, fill="close", lot_size=100.0, allow_short=True,
        stop_loss=5.0, take_profit=12.5, fee=1.0,
    )  # fmt: skip
    assert rf.describe_options(spec) == (
        "Options (not the defaults): commission 0.05%, fee per fill 1.00, slippage 5 bps, "
        "fill at close, lots of 100, long/short, stop-loss 5%, take-profit 12.5%"
    )


def test_small_rates_never_show_as_zero() -> None:
    assert rf.option_text("commission", 0.00001) == "commission 0.001%"
    assert rf.option_text("commission", 0.001) == "commission 0.1%"
    assert rf.option_text("cash", 250_000.0) == "cash 250,000"
    assert rf.option_text("cash", 1_000.5) == "cash 1,000.50"


def _spec(**changes: object) -> dict:
    from dataclasses import asdict

    from engine.spec import SimOptions

    base = {
        "strategy": "sma_cross",
        "source_key": "samples/a.csv",
        "params": {"fast": 10, "slow": 50},
        "options": asdict(SimOptions()),
    }
    params = changes.pop("params", None)
    options = changes.pop("options", None)
    out = dict(base, **changes)
    out["params"] = dict(base["params"], **(params or {}))  # type: ignore[arg-type]
    out["options"] = dict(base["options"], **(options or {}))  # type: ignore[arg-type]
    return out


def test_labels_come_from_what_differs() -> None:
    specs = {
        "r1": _spec(params={"fast": 5}),
        "r2": _spec(params={"fast": 20}, options={"commission": 0.002}),
        "r3": _spec(params={"fast": 20}, options={"commission": 0.002}),
    }
    assert rf.differing_fields(list(specs.values())) == ["fast", "commission"]
    assert rf.run_labels(specs) == {
        "r1": "fast=5, commission 0.1%",
        "r2": "fast=20, commission 0.2% (r2)",
        "r3": "fast=20, commission 0.2% (r3)",
    }
    assert rf.run_labels({"a": _spec(), "b": _spec()}) == {"a": "a", "b": "b"}
    assert rf.same_text(list(specs.values())) == (
        "strategy sma_cross, file samples/a.csv, slow=50, other options at the engine defaults"
    )
    costly = [
        _spec(options={"fill": "close"}),
        _spec(options={"fill": "close"}, params={"fast": 1}),
    ]
    assert rf.same_text(costly) == (
        "strategy sma_cross, file samples/a.csv, slow=50, fill at close, "
        "other options at the engine defaults"
    )
    mixed = {"s": _spec(), "r": {**_spec(strategy="rsi_reversion"), "params": {"period": 14}}}
    assert rf.run_labels(mixed) == {
        "s": "sma_cross, fast=10, slow=50",
        "r": "rsi_reversion, period=14",
    }
    other = {"x": _spec(), "y": _spec(source_key="samples/b.csv", options={"fill": "close"})}
    assert rf.run_labels(other) == {
        "x": "samples/a.csv, fill at next open",
        "y": "samples/b.csv, fill at close",
    }


def test_sort_and_page() -> None:
    frame = pd.DataFrame({"pnl": [3.0, math.nan, 1.0, 5.0, 2.0]})
    rows, pages = rs.sort_and_page(frame, sort_by="pnl", ascending=False, page=1, page_size=2)
    assert pages == 3 and list(rows["pnl"]) == [5.0, 3.0]
    last, _ = rs.sort_and_page(frame, sort_by="pnl", ascending=False, page=99, page_size=2)
    assert len(last) == 1 and math.isnan(last["pnl"].iloc[0])  # NaN last, page clamped
    _, none = rs.sort_and_page(frame.head(0), page_size=2)
    assert none == 1


def test_rerun_query_carries_params_and_changed_options_and_new_run_reads_it(lab: Lab) -> None:
    from app.forms import prefill_from_query
    from app.new_run_link import rerun_query

    spec = {
        "source_bucket": "backtest-input",
        "source_key": "samples/a.csv",
        "strategy": "sma_cross",
        "params": {"fast": 12, "slow": 60},
        "options": {"cash": 100000.0, "commission": 0.002, "fill": "close"},
    }
    query = rerun_query(spec)
    assert query["file"] == "samples/a.csv" and query["p_fast"] == "12"
    assert json.loads(query["options"]) == {"commission": 0.002, "fill": "close"}
    pre = prefill_from_query(query)  # the New run page's own parser
    assert pre.files == ["samples/a.csv"] and pre.strategy == "sma_cross"
    assert pre.params == {"fast": 12, "slow": 60} and not pre.problems


def test_compare_runs_reports_problems_and_keeps_good_runs(lab: Lab) -> None:
    key = lab.add_file()
    lab.run("a", key, fast=5, slow=30)
    lab.run("b", key, fast=10, slow=30)
    lab.failed_run("c", "samples/missing.csv")
    result = rs.compare_runs(ctx_for(lab), ["a", "b", "c", "zz", "a"])
    assert result.labels == {"a": "fast=5", "b": "fast=10"}
    assert list(result.equities) == ["fast=5", "fast=10"]
    assert list(result.metrics.columns) == ["fast=5", "fast=10"]
    assert list(result.metrics.index[:2]) == ["run", "fast"]
    assert list(result.metrics.loc["run"]) == ["a", "b"]
    assert list(result.metrics.loc["fast"]) == ["5", "10"]
    sharpe_b = lab.json("runs/b/metrics.json")["sharpe"]
    assert result.metrics.loc["Sharpe", "fast=10"] == f"{sharpe_b:.2f}"
    assert result.same == (
        f"strategy sma_cross, file {key}, slow=30, other options at the engine defaults"
    )
    assert [p.split(":")[0] for p in result.problems] == ["c", "zz"]


def test_report_trades_in_percent_with_plain_dates(lab: Lab) -> None:
    import re

    key = lab.add_file()
    lab.run("rt", key, fast=5, slow=30)
    view = rs.load_run(ctx_for(lab), "rt")
    doc = rs.report_html(view)
    trades = lab.parquet("runs/rt/trades.parquet")
    assert "<th>return (%)</th>" in doc and "<th>return</th>" not in doc
    first = trades.iloc[0]
    assert f"<td>{first['entry_time']:%Y-%m-%d}</td>" in doc
    assert f"<td>{first['return'] * 100:.6g}</td>" in doc
    assert not re.search(r"<td>\d{4}-\d\d-\d\d 00:00:00</td>", doc)
    assert "Options: engine defaults (commission 0.1%" in doc
    assert 'class="warning"' not in doc


def test_date_format_drops_midnight_only_when_every_value_is_midnight() -> None:
    daily = pd.Series(pd.date_range("2024-01-01", periods=3, freq="D"))
    assert rs.date_format(daily) == "YYYY-MM-DD"
    assert rs.date_format(daily + pd.Timedelta(hours=9, minutes=30)) == "YYYY-MM-DD HH:mm:ss"
    assert rs.date_format(pd.Series([], dtype="datetime64[ns]")) == "YYYY-MM-DD HH:mm:ss"


def test_report_html_escapes_user_text(lab: Lab) -> None:
    key = lab.add_file(key="samples/<b>x</b>.csv")
    lab.run("esc", key)
    view = rs.load_run(ctx_for(lab), "esc")
    html = rs.report_html(view)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# -- sweeps -----------------------------------------------------------------------------------


ROBUST = {
    "n_trials": 12,
    "deflated_sharpe": 0.42,
    "probabilistic_sharpe": 0.91,
    "pbo": None,
    "pbo_skipped_reason": "no per-period returns were saved",
    "plateau_score": 0.8,
    "oos": [{"params": {"fast": 5, "slow": 30}, "is_sharpe": 1.1, "oos_sharpe": 0.4}],
    "missing_chunks": [1],
    "failed_chunks": [],
    "top_runs": [
        {"run_id": "sw-top1", "combo_id": 3, "params": {"fast": 5}, "source_key": "k.csv"}
    ],
}


def test_read_sweep_finished(lab: Lab) -> None:
    key = lab.add_file()
    summary = lab.sweep("sw", key, robustness=ROBUST)
    view = ss.read_sweep(ctx_for(lab), "sw")
    assert view.finished and view.progress == 1.0
    assert view.params == ["fast", "slow"]
    assert "sharpe" in view.metrics and "combo_id" not in view.metrics
    assert len(view.summary) == len(summary) == 12
    assert ss.strategy_of(view) == "sma_cross"
    assert ss.chunk_problems(view.robustness or {}) == ["missing chunks: 1"]
    rows = ss.robustness_rows(view.robustness or {}).set_index("statistic")["value"]
    assert rows["Probability of backtest overfitting (PBO)"].endswith(
        "no per-period returns were saved"
    )
    assert rows["Deflated Sharpe ratio"] == "0.42"
    assert list(ss.oos_table(ROBUST)["out-of-sample sharpe"]) == [0.4]
    assert [t["run_id"] for t in ss.top_runs(view.robustness)] == ["sw-top1"]


def test_read_sweep_unfinished_merges_present_chunks(lab: Lab) -> None:
    key = lab.add_file()
    summary = lab.sweep("part", key, n_children=3, done=(0, 2))
    view = ss.read_sweep(ctx_for(lab), "part")
    assert not view.finished and view.robustness is None
    assert (view.chunks_done, view.n_children) == (2, 3)
    assert view.progress == pytest.approx(2 / 3)
    assert sorted(view.summary["combo_id"]) == [0, 1, 2, 3, 8, 9, 10, 11]
    assert len(summary) == 12


def test_read_sweep_missing(lab: Lab) -> None:
    with pytest.raises(NotFoundError, match="no sweep 'none'"):
        ss.read_sweep(ctx_for(lab), "none")


def test_list_sweeps(lab: Lab) -> None:
    key = lab.add_file()
    lab.sweep("s1", key)
    lab.sweep("s2", key, done=(0,))
    listed = ss.list_sweeps(ctx_for(lab)).set_index("sweep_id")["finished"].to_dict()
    assert listed == {"s1": True, "s2": False}


def test_top_table_orders_by_metric_direction() -> None:
    frame = pd.DataFrame(
        {
            "fast": [1, 2, 3, 4],
            "sharpe": [0.5, math.nan, 2.0, 1.0],
            "max_drawdown": [0.3, 0.1, 0.2, 0.4],
        }
    )
    assert list(ss.top_table(frame, "sharpe", 3)["fast"]) == [3, 4, 1]
    assert list(ss.top_table(frame, "max_drawdown", 2)["fast"]) == [2, 3]


def test_new_run_query_for_a_combination(lab: Lab) -> None:
    key = lab.add_file()
    lab.sweep("q", key)
    view = ss.read_sweep(ctx_for(lab), "q")
    row = ss.top_table(view.summary, "sharpe", 1).iloc[0].to_dict()
    query = ss.new_run_query_params(view, row)
    assert query == {
        "strategy": "sma_cross",
        "p_fast": str(int(row["fast"])),
        "p_slow": str(int(row["slow"])),
    }
    assert "file" not in query  # the user picks other files on New run


def test_a_combination_of_a_strategy_file_sweep_links_the_sweeps_copy(lab: Lab) -> None:
    key = lab.add_file()
    lab.sweep("q", key)
    view = ss.read_sweep(ctx_for(lab), "q")
    spec = {**view.spec, "base": {**view.spec["base"], "strategy": "close_above_sma"}}
    stored = dataclasses.replace(view, spec=spec)
    row = ss.top_table(view.summary, "sharpe", 1).iloc[0].to_dict()
    query = ss.new_run_query_params(stored, row)
    assert query["strategy"] == "close_above_sma"
    assert query["from_sweep"] == "q"  # New run reads sweeps/q/strategy.py, not the file now
    assert "from_sweep" not in ss.new_run_query_params(view, row)  # a built-in: no copy
