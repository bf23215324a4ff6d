"""New run page: the form becomes the submitted spec; constraints refuse; links prefill."""

from __future__ import annotations

import json
from pathlib import Path

from engine.spec import SimOptions
from tests._app_helpers import (
    INPUT,
    RESULTS,
    TREND,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    point_env,
    sleep_command,
    texts,
)

PAGE = "views/new_run.py"
CHOPPY = "samples/choppy_range_daily.csv"


def _block_the_slot() -> None:
    """Keep the single local slot busy so submitted runs stay queued (no engine work)."""
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")


def test_form_is_generated_from_the_schema(app_root: Path) -> None:
    at = app_test(PAGE)
    at.selectbox(key="nr_strategy").set_value("rsi_reversion").run()
    period = at.number_input(key="nr_p_rsi_reversion_period")
    lower = at.number_input(key="nr_p_rsi_reversion_lower")
    assert (period.value, period.min, period.max) == (14, 2, 10_000)
    assert (lower.value, lower.min, lower.max) == (30.0, 0.0, 100.0)
    assert lower.help == "oversold level: go long below it"
    assert at.selectbox(key="nr_o_fill").options == ["next_open", "close"]
    assert at.checkbox(key="nr_o_allow_short").value is False
    assert "Rules: lower must be < upper" in texts(at, ("caption",))


def test_submit_runs_one_job_per_file_with_the_entered_spec(app_root: Path) -> None:
    _block_the_slot()
    at = app_test(PAGE)
    at.multiselect(key="nr_files").set_value([TREND, CHOPPY])
    at.number_input(key="nr_p_sma_cross_fast").set_value(5)
    at.number_input(key="nr_p_sma_cross_slow").set_value(30)
    at.number_input(key="nr_o_commission").set_value(0.002)
    at.number_input(key="nr_o_stop_loss").set_value(5.0)
    at.selectbox(key="nr_o_fill").set_value("close")
    at.checkbox(key="nr_o_allow_short").check().run()
    at.button(key="nr_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Submitted 2 run(s)" in texts(at)

    jobs = [j for j in app_context().executor.list(name_prefix="run-")]
    assert len(jobs) == 2
    specs = {j.spec["source_key"]: j.spec for j in jobs}
    assert set(specs) == {TREND, CHOPPY}
    expected = SimOptions(commission=0.002, stop_loss=5.0, fill="close", allow_short=True).__dict__
    for key, spec in specs.items():
        assert spec["source_bucket"] == INPUT and spec["result_bucket"] == RESULTS
        assert spec["strategy"] == "sma_cross"
        assert spec["params"] == {"fast": 5, "slow": 30}
        assert spec["options"] == expected
        assert spec["user"]  # the jobs layer records who submitted
    links = {link.value: link.proto.query_string for link in at.page_link}
    for job in jobs:
        assert links[f"Job {job.name}"] == f"job={job.id}"
        assert links[f"Results of {job.spec['run_id']}"] == f"run={job.spec['run_id']}"


def test_constraint_violation_is_refused_with_the_strategys_message(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND)
    at.number_input(key="nr_p_sma_cross_fast").set_value(60)
    at.number_input(key="nr_p_sma_cross_slow").set_value(50).run()
    assert [e.value for e in at.error] == ["sma_cross: fast must be < slow (got fast=60, slow=50)"]
    assert at.button(key="nr_submit").disabled
    assert app_context().executor.list() == []


def test_query_params_prefill_the_form(app_root: Path) -> None:
    at = app_test(
        PAGE,
        file=CHOPPY,
        strategy="ema_cross",
        params=json.dumps({"slow": 40}),
        p_fast="7",
        options=json.dumps({"commission": 0.003, "fill": "close"}),
    )
    assert not at.exception
    assert at.multiselect(key="nr_files").value == [CHOPPY]
    assert at.selectbox(key="nr_strategy").value == "ema_cross"
    assert at.number_input(key="nr_p_ema_cross_fast").value == 7
    assert at.number_input(key="nr_p_ema_cross_slow").value == 40
    assert at.number_input(key="nr_o_commission").value == 0.003
    assert at.selectbox(key="nr_o_fill").value == "close"


def test_bad_query_params_are_reported_not_fatal(app_root: Path) -> None:
    at = app_test(PAGE, file="missing.csv", strategy="nope", p_fast="abc", params="{not json")
    assert not at.exception
    shown = texts(at)
    assert "unknown strategy 'nope'" in shown
    assert "params is not valid JSON" in shown
    assert "Not in the input bucket: missing.csv" in shown
    assert at.selectbox(key="nr_strategy").value == "sma_cross"
    assert at.number_input(key="nr_p_sma_cross_fast").value == 10


def test_sweep_shows_count_children_and_estimate(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND, space=json.dumps({"slow": "30,50"}))
    assert at.radio(key="nr_mode").value == "Sweep"
    at.segmented_control(key="nr_s_sma_cross_fast_mode").set_value("range").run()
    at.number_input(key="nr_s_sma_cross_fast_start").set_value(10)
    at.number_input(key="nr_s_sma_cross_fast_stop").set_value(40)
    at.number_input(key="nr_s_sma_cross_fast_step").set_value(10).run()
    assert not at.exception, [e.value for e in at.exception]
    cards = {m.label: m.value for m in at.metric}
    # fast 10,20,30,40 x slow 30,50 = 8 candidates; fast >= slow drops (30,30), (40,30)
    assert cards["Combinations"] == "6"
    assert cards["Children"] == "1"
    assert "Fargate cost" not in cards  # local backend
    at.button(key="nr_submit").click().run()
    assert not at.exception
    jobs = app_context().executor.list()
    # a sweep is two top-level jobs: the work (array or plain) and the collect that depends on it
    assert sorted(str(j.kind) for j in jobs)[0] == "collect" and len(jobs) == 2
    assert "Submitted sweep" in texts(at)
    work = next(j for j in jobs if str(j.kind) != "collect")
    collect = next(j for j in jobs if str(j.kind) == "collect")
    assert collect.depends_on == (work.id,) or work.id in collect.depends_on
    assert work.spec is not None


def test_sweep_with_no_valid_combination_is_refused(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND, space=json.dumps({"fast": "60,70", "slow": "30,50"}))
    assert "no valid combination" in texts(at)
    assert at.button(key="nr_submit").disabled


def test_sweep_on_aws_shows_a_fargate_estimate(app_root: Path, aws_env: str, monkeypatch) -> None:
    # the aws backend against the local moto server; storage stays the local root
    point_env(monkeypatch, app_root, backend="aws", job_queue="q", job_definition="jd")
    monkeypatch.setenv("BACKTEST_FARGATE_VCPU_HOUR", "36")  # 0.01 USD per vCPU-second
    monkeypatch.setenv("BACKTEST_FARGATE_GB_HOUR", "0")
    at = app_test(PAGE, file=TREND, space=json.dumps({"fast": "5,10"}))
    assert not at.exception, [e.value for e in at.exception]
    cards = {m.label: m.value for m in at.metric}
    # 2 combinations x 2520 bars take well under a minute: one child billed 60 s x 1 vCPU
    assert cards["Fargate cost"] == "$0.60"
