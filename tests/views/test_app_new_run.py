"""New run page: the text shown is what is checked and submitted; anything wrong disables Submit
with the reason beside it; the confirmation echoes what the jobs layer recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

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
CRASH = "samples/crash_and_recovery_daily.csv"


def _block_the_slot() -> None:
    """Keep the single local slot busy so submitted runs stay queued (no engine work)."""
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")


def _bars(root: Path, key: str) -> int:
    """Bars in a seeded sample, counted by pandas (not by the code under test)."""
    return len(pd.read_csv(root / INPUT / key))


def _submit(at: Any) -> Any:
    return at.button(key="nr_submit")


def _run_jobs() -> list[Any]:
    return list(app_context().executor.list(name_prefix="run-"))


def test_form_is_generated_from_the_schema(app_root: Path) -> None:
    at = app_test(PAGE)
    at.selectbox(key="nr_strategy").set_value("rsi_reversion").run()
    period = at.text_input(key="nr_p_rsi_reversion_period")
    lower = at.text_input(key="nr_p_rsi_reversion_lower")
    assert (period.label, period.value) == ("period (int 2..10000)", "14")
    assert (lower.label, lower.value) == ("lower (float 0..100)", "30")
    assert lower.help == "oversold level: go long below it"
    assert at.selectbox(key="nr_o_fill").options == ["next_open", "close"]
    assert at.checkbox(key="nr_o_allow_short").value is False
    assert "Rules: lower must be < upper" in texts(at, ("caption",))


def test_commission_shows_every_digit_it_has(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND)
    commission = at.text_input(key="nr_o_commission")
    assert commission.value == "0.001"  # the default, not "0.00"
    assert "commission 0.001 (0.1% of each fill)" in texts(at, ("caption",))
    commission.input("0.0005").run()
    assert at.text_input(key="nr_o_commission").value == "0.0005"
    assert "commission 0.0005 (0.05% of each fill)" in texts(at, ("caption",))
    at.text_input(key="nr_o_slippage_bps").input("2.5").run()
    assert "slippage 2.5 bps (0.025% of each fill price)" in texts(at, ("caption",))


def test_submit_runs_one_job_per_file_and_echoes_what_was_recorded(app_root: Path) -> None:
    _block_the_slot()
    at = app_test(PAGE)
    at.multiselect(key="nr_files").set_value([TREND, CHOPPY])
    at.text_input(key="nr_p_sma_cross_fast").input("5")
    at.text_input(key="nr_p_sma_cross_slow").input("30")
    at.text_input(key="nr_o_commission").input("0.0005")
    at.text_input(key="nr_o_stop_loss").input("5")
    at.selectbox(key="nr_o_fill").set_value("close")
    at.checkbox(key="nr_o_allow_short").check().run()
    assert _submit(at).label == "Submit 2 runs"
    _submit(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Submitted 2 runs as 2 local jobs." in texts(at)

    jobs = _run_jobs()
    specs = {j.spec["source_key"]: j.spec for j in jobs}
    assert set(specs) == {TREND, CHOPPY}
    expected = SimOptions(commission=0.0005, stop_loss=5.0, fill="close", allow_short=True)
    for spec in specs.values():
        assert spec["source_bucket"] == INPUT and spec["result_bucket"] == RESULTS
        assert spec["strategy"] == "sma_cross"
        assert spec["params"] == {"fast": 5, "slow": 30}
        assert spec["options"] == expected.__dict__
        assert spec["user"]  # the jobs layer records who submitted
    shown = texts(at, ("text",))
    assert f"{TREND}: sma_cross(fast=5, slow=30)" in shown
    assert f"{CHOPPY}: sma_cross(fast=5, slow=30)" in shown
    options = texts(at, ("caption",))
    for part in (
        "commission 0.0005 (0.05% of each fill)",
        "stop loss 5% from entry",
        "take profit off",
        "fill close",
        "allow short yes",
        "cash 100000",
    ):
        assert part in options
    links = {link.value: link.proto.query_string for link in at.page_link}
    for job in jobs:
        assert links[f"Job {job.name}"] == f"job={job.id}"
        assert links[f"Results of {job.spec['run_id']}"] == f"run={job.spec['run_id']}"


def test_an_out_of_range_value_disables_submit_until_it_is_fixed(app_root: Path) -> None:
    _block_the_slot()
    at = app_test(PAGE, file=TREND)
    at.text_input(key="nr_p_sma_cross_fast").input("99999").run()
    reason = "fast: 99999 is out of range; allowed int 1..10000"
    assert reason in texts(at, ("error",))
    assert "Submit is disabled until this is fixed" in texts(at, ("error",))
    assert _submit(at).disabled
    assert at.text_input(key="nr_p_sma_cross_fast").value == "99999"  # shown as typed
    assert _run_jobs() == []

    at.text_input(key="nr_p_sma_cross_fast").input("20").run()
    assert not at.error and not _submit(at).disabled
    assert _submit(at).label == "Submit 1 run"
    _submit(at).click().run()
    (job,) = _run_jobs()
    assert job.spec["params"] == {"fast": 20, "slow": 50}
    assert f"{TREND}: sma_cross(fast=20, slow=50)" in texts(at, ("text",))


def test_a_value_typed_as_submit_is_clicked_is_checked_first(app_root: Path) -> None:
    # the browser sends the new text and the click in one rerun, while the button still shows
    # enabled from the last render: the new text is checked before anything is submitted
    at = app_test(PAGE, file=TREND)
    assert not _submit(at).disabled
    at.text_input(key="nr_p_sma_cross_fast").input("99999")
    _submit(at).click().run()
    assert _run_jobs() == []
    assert _submit(at).disabled
    assert "fast: 99999 is out of range" in texts(at, ("error",))
    assert "Submitted" not in texts(at)


def test_text_that_is_not_the_parameters_kind_is_refused(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND)
    for typed, reason in (
        ("10.5", "fast: 10.5 is not a whole number; allowed int 1..10000"),
        ("abc", "fast: abc is not a whole number; allowed int 1..10000"),
        ("", "fast: enter a value (int 1..10000)"),
    ):
        at.text_input(key="nr_p_sma_cross_fast").input(typed).run()
        assert reason in texts(at, ("error",)), typed
        assert _submit(at).disabled
    at.text_input(key="nr_p_sma_cross_fast").input("10").run()
    at.text_input(key="nr_o_commission").input("0.9").run()
    assert "option commission must be <= 0.5, got 0.9" in texts(at, ("error",))
    assert _submit(at).disabled
    assert _run_jobs() == []


def test_constraint_violation_is_refused_with_the_strategys_message(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND)
    at.text_input(key="nr_p_sma_cross_fast").input("60")
    at.text_input(key="nr_p_sma_cross_slow").input("50").run()
    assert "sma_cross: fast must be < slow (got fast=60, slow=50)" in texts(at, ("error",))
    assert _submit(at).disabled
    assert app_context().executor.list() == []


def test_a_run_longer_than_the_file_is_refused_before_submit(app_root: Path) -> None:
    bars = _bars(app_root, TREND)
    at = app_test(PAGE, file=TREND)
    at.text_input(key="nr_p_sma_cross_slow").input(str(bars + 1)).run()  # needs bars + 1
    assert _submit(at).disabled
    assert (
        f"{TREND} has {bars:,} bars; sma_cross(fast=10, slow={bars + 1}) needs at least "
        f"{bars + 1:,} (a warm-up of {bars:,} bars plus one)"
    ) in texts(at, ("error",))
    # SMA(bars) is defined on the last bar, so the rule acts there: exactly enough
    at.text_input(key="nr_p_sma_cross_slow").input(str(bars)).run()
    assert not at.error and not _submit(at).disabled


def test_warm_up_is_checked_against_each_chosen_file(app_root: Path) -> None:
    short = _bars(app_root, CHOPPY)
    assert short < _bars(app_root, TREND)
    at = app_test(PAGE, file=f"{TREND},{CHOPPY}")
    at.text_input(key="nr_p_sma_cross_slow").input(str(short + 1)).run()
    errors = texts(at, ("error",))
    assert f"{CHOPPY} has {short:,} bars" in errors and f"{TREND} has" not in errors
    assert _submit(at).disabled


def test_query_params_prefill_the_form(app_root: Path) -> None:
    at = app_test(
        PAGE,
        file=CHOPPY,
        strategy="ema_cross",
        params=json.dumps({"slow": 40}),
        p_fast="7",
        options=json.dumps({"commission": 0.0003, "fill": "close"}),
    )
    assert not at.exception
    assert at.multiselect(key="nr_files").value == [CHOPPY]
    assert at.selectbox(key="nr_strategy").value == "ema_cross"
    assert at.text_input(key="nr_p_ema_cross_fast").value == "7"
    assert at.text_input(key="nr_p_ema_cross_slow").value == "40"
    assert at.text_input(key="nr_o_commission").value == "0.0003"
    assert at.selectbox(key="nr_o_fill").value == "close"


def test_bad_query_params_are_reported_not_fatal(app_root: Path) -> None:
    at = app_test(PAGE, file="missing.csv", strategy="nope", p_fast="abc", params="{not json")
    assert not at.exception
    shown = texts(at)
    assert "unknown strategy 'nope'" in shown
    assert "params is not valid JSON" in shown
    assert "Not in the input bucket: missing.csv" in shown
    assert at.selectbox(key="nr_strategy").value == "sma_cross"
    assert at.text_input(key="nr_p_sma_cross_fast").value == "10"
    assert "Submit is disabled until you pick at least one input file." in texts(at, ("info",))
    assert _submit(at).disabled


def _set_range(at: Any, name: str, start: str, stop: str, step: str) -> Any:
    prefix = f"nr_s_sma_cross_{name}"
    at.segmented_control(key=f"{prefix}_mode").set_value("range").run()
    at.text_input(key=f"{prefix}_start").input(start)
    at.text_input(key=f"{prefix}_stop").input(stop)
    return at.text_input(key=f"{prefix}_step").input(step).run()


def test_sweep_step_has_its_own_bounds(app_root: Path) -> None:
    _block_the_slot()
    at = app_test(PAGE, file=TREND, space=json.dumps({"fast": "5,10"}))
    # slow is 2..10000, but its step may be 1
    _set_range(at, "slow", "40", "60", "1")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, ("error",))
    assert "slow: 40..60 step 1 (21 values)" in texts(at, ("caption",))
    assert (
        "not bound by the parameter's range" in at.text_input(key="nr_s_sma_cross_slow_step").help
    )
    cards = {m.label: m.value for m in at.metric}
    assert cards["Combinations"] == "42"  # 2 x 21, every fast < slow
    assert _submit(at).label == "Submit sweep of 42 combinations"
    # the count follows every change (it is cached per content, never per sweep id)
    at.text_input(key="nr_s_sma_cross_slow_step").input("2").run()
    assert {m.label: m.value for m in at.metric}["Combinations"] == "22"  # 2 x 40,42,..,60
    at.text_input(key="nr_s_sma_cross_slow_step").input("1").run()
    assert _submit(at).label == "Submit sweep of 42 combinations"
    _submit(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    (sweep_dir,) = (app_root / RESULTS / "sweeps").iterdir()
    record = json.loads((sweep_dir / "spec.json").read_bytes())
    assert record["n_combinations"] == 42
    assert {"name": "slow", "start": 40, "stop": 60, "step": 1} in record["space"]
    shown = texts(at, ("text",))
    assert "42 combinations x 1 file = 42 backtests of sma_cross (grid)" in shown
    assert "slow: 40..60 step 1 (21 values)" in shown
    assert "fast: 5, 10 (2 values)" in shown
    assert "commission 0.001 (0.1% of each fill)" in texts(at, ("caption",))


def test_bad_sweep_inputs_disable_submit_with_the_reason(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND, space=json.dumps({"fast": "5,10"}))
    for step, reason in (
        ("0", "slow step: must be a positive whole number, got 0"),
        ("1.5", "slow step: 1.5 is not a positive whole number"),
        ("", "slow step: enter a step (a positive number)"),
    ):
        _set_range(at, "slow", "40", "60", step)
        assert reason in texts(at, ("error",)), step
        assert _submit(at).disabled
    _set_range(at, "slow", "60", "40", "1")
    assert "slow: stop 40 is below start 60" in texts(at, ("error",))
    _set_range(at, "slow", "1", "40", "1")
    assert "slow start: 1 is out of range; allowed int 2..10000" in texts(at, ("error",))
    at.segmented_control(key="nr_s_sma_cross_slow_mode").set_value("fixed").run()
    at.text_input(key="nr_s_sma_cross_fast_text").input("5,x").run()
    assert "fast='x' is not a valid int; allowed int 1..10000" in texts(at, ("error",))
    at.text_input(key="nr_s_sma_cross_fast_text").input("5,5").run()
    assert "fast: duplicate values in" in texts(at, ("error",))
    assert _submit(at).disabled
    assert app_context().executor.list() == []


def test_sweep_whose_longest_warm_up_exceeds_the_file_is_refused(app_root: Path) -> None:
    bars = _bars(app_root, TREND)
    at = app_test(PAGE, file=TREND, space=json.dumps({"slow": f"50,{bars + 1}"}))
    assert _submit(at).disabled
    assert (
        f"{TREND} has {bars:,} bars; the combination with slow={bars + 1} needs at least "
        f"{bars + 1:,}"
    ) in texts(at, ("error",))


def test_sweep_shows_count_children_and_estimate(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND, space=json.dumps({"slow": "30,50"}))
    assert at.radio(key="nr_mode").value == "Sweep"
    _set_range(at, "fast", "10", "40", "10")
    assert not at.exception, [e.value for e in at.exception]
    cards = {m.label: m.value for m in at.metric}
    # fast 10,20,30,40 x slow 30,50 = 8 candidates; fast >= slow drops (30,30), (40,30)
    assert cards["Combinations"] == "6"
    assert cards["Children"] == "1"
    assert "Fargate cost" not in cards  # local backend
    _submit(at).click().run()
    assert not at.exception
    jobs = app_context().executor.list()
    # a sweep is two top-level jobs: the work (array or plain) and the collect that depends on it
    assert sorted(str(j.kind) for j in jobs)[0] == "collect" and len(jobs) == 2
    assert "Submitted sweep" in texts(at)
    work = next(j for j in jobs if str(j.kind) != "collect")
    collect = next(j for j in jobs if str(j.kind) == "collect")
    assert collect.depends_on == (work.id,) or work.id in collect.depends_on
    assert work.spec is not None


def test_sweep_over_several_files_says_so_on_the_button(app_root: Path) -> None:
    at = app_test(PAGE, file=f"{TREND},{CRASH}", space=json.dumps({"slow": "30,50,70"}))
    assert _submit(at).label == "Submit sweep of 3 combinations x 2 files"
    assert {m.label: m.value for m in at.metric}["Combinations"] == "6"


def test_sweep_children_shown_are_the_children_submitted(app_root: Path) -> None:
    # files of different lengths: the estimate counts each file's bars, as the submit does
    assert _bars(app_root, TREND) != _bars(app_root, CHOPPY)
    at = app_test(PAGE, file=f"{CHOPPY},{TREND}", space=json.dumps({"slow": "30,50,70"}))
    shown = {m.label: m.value for m in at.metric}["Children"]
    _submit(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    (sweep_dir,) = (app_root / RESULTS / "sweeps").iterdir()
    record = json.loads((sweep_dir / "spec.json").read_bytes())
    work = next(j for j in app_context().executor.list() if str(j.kind) != "collect")
    assert shown == f"{record['n_children']:,}" == f"{work.array_size or 1:,}"


def test_random_sweep_size_is_checked(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND, space=json.dumps({"slow": "30:90:1"}))
    at.selectbox(key="nr_sweep_kind").set_value("random").run()
    at.text_input(key="nr_sweep_n").input("0").run()
    assert "n (samples): 0 is out of range; allowed int 1..1000000" in texts(at, ("error",))
    assert _submit(at).disabled
    at.text_input(key="nr_sweep_n").input("7").run()
    assert not at.error and _submit(at).label == "Submit sweep of 7 combinations"
    at.text_input(key="nr_sweep_seed").input("3").run()
    _submit(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    (sweep_dir,) = (app_root / RESULTS / "sweeps").iterdir()
    record = json.loads((sweep_dir / "spec.json").read_bytes())
    assert (record["mode"], record["n"], record["seed"], record["n_combinations"]) == (
        "random",
        7,
        3,
        7,
    )
    assert "7 combinations x 1 file = 7 backtests of sma_cross (random: n=7, seed=3)" in texts(
        at, ("text",)
    )


def test_sweep_with_no_valid_combination_is_refused(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND, space=json.dumps({"fast": "60,70", "slow": "30,50"}))
    assert "no valid combination" in texts(at)
    assert _submit(at).disabled


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
