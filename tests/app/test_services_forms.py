"""app.forms: schema -> widget specs, form values -> typed values, URL prefill round trip."""

from __future__ import annotations

import json

import pytest

from app import form_checks, forms
from app.form_checks import AxisInput
from app.new_run_link import rerun_query
from engine.errors import ParamError
from engine.sim.strategies import get_strategy
from engine.spec import SimOptions
from engine.sweep.spec import ParamSpace


def test_param_fields_follow_the_registry() -> None:
    fast, slow = forms.param_fields(get_strategy("sma_cross"))
    assert (fast.name, fast.widget, fast.kind, fast.default) == ("fast", "number", "int", 10)
    assert (fast.min_value, fast.max_value, fast.step) == (1, 10_000, 1)
    assert slow.min_value == 2 and slow.help == "slow moving-average window, bars"
    k = forms.param_fields(get_strategy("bollinger_reversion"))[1]
    assert (k.kind, k.default, k.min_value, k.max_value) == ("float", 2.0, 0.1, 10.0)
    assert all(isinstance(v, float) for v in (k.default, k.min_value, k.max_value, k.step))
    assert forms.param_fields(get_strategy("buy_and_hold")) == []


def test_option_fields_carry_simoptions_help() -> None:
    by_name = {f.name: f for f in forms.option_fields()}
    assert list(by_name) == list(forms.FORM_OPTIONS)
    assert by_name["fill"].widget == "select" and by_name["fill"].options == ("next_open", "close")
    assert by_name["allow_short"].widget == "checkbox"
    assert by_name["commission"].help == "commission rate per fill (0.001 = 0.1%)"
    assert by_name["stop_loss"].help.endswith("(empty or 0 = off)")


def test_parse_params_applies_bounds_and_constraints() -> None:
    assert form_checks.parse_params("sma_cross", {"fast": 5, "slow": 20}) == {"fast": 5, "slow": 20}
    with pytest.raises(ParamError, match="fast must be < slow"):
        form_checks.parse_params("sma_cross", {"fast": 20, "slow": 20})
    with pytest.raises(ParamError, match="out of range"):
        form_checks.parse_params("sma_cross", {"fast": 0})


def test_parse_options_turns_zero_stops_off_and_validates() -> None:
    opts = form_checks.parse_options(
        {"cash": 5000, "commission": 0.002, "stop_loss": 0.0, "take_profit": 12.0, "fill": "close"}
    )
    assert opts == SimOptions(cash=5000.0, commission=0.002, take_profit=12.0, fill="close")
    with pytest.raises(ParamError, match="commission"):
        form_checks.parse_options({"commission": 0.9})


def test_build_space_from_fixed_list_and_range() -> None:
    fixed, space = form_checks.build_space(
        "rsi_reversion",
        {
            "period": AxisInput("range", start=10, stop=20, step=5),
            "lower": AxisInput("list", text="20, 30"),
            "upper": AxisInput("fixed", value=75),
        },
    )
    assert fixed == {"upper": 75.0}
    assert space["period"].expand() == (10, 15, 20)
    assert space["lower"].expand() == (20.0, 30.0)


def test_build_space_errors_name_the_parameter() -> None:
    with pytest.raises(ParamError, match="at least one parameter"):
        form_checks.build_space("sma_cross", {"fast": AxisInput("fixed", value=5)})
    with pytest.raises(ParamError, match="fast step: must be a positive whole number, got 0"):
        form_checks.build_space("sma_cross", {"fast": AxisInput("range", start=5, stop=9, step=0)})
    with pytest.raises(ParamError, match="slow"):
        form_checks.build_space("sma_cross", {"slow": AxisInput("list", text="1,50")})


def test_prefill_from_query() -> None:
    pre = forms.prefill_from_query(
        {
            "file": "a.csv,b.csv",
            "strategy": "ema_cross",
            "params": json.dumps({"fast": 4, "bogus": 1}),
            "p_slow": "30",
            "options": json.dumps({"commission": 0, "fill": "sideways", "cash": "9"}),
            "space": json.dumps({"fast": "2:8:2", "nope": "1"}),
        }
    )
    assert pre.files == ["a.csv", "b.csv"]
    assert pre.strategy == "ema_cross"
    assert pre.params == {"fast": 4, "slow": 30}
    assert pre.options == {"commission": 0.0, "cash": 9.0}
    assert pre.space == {"fast": "2:8:2"}
    assert any("bogus" in p for p in pre.problems)
    assert any("fill must be one of" in p for p in pre.problems)


def test_prefill_drops_bad_values_with_a_note() -> None:
    pre = forms.prefill_from_query({"strategy": "nope", "p_fast": "x", "params": "[1]"})
    assert pre.strategy is None and pre.params == {}
    assert len(pre.problems) == 3


def test_rerun_query_round_trips_a_run_spec() -> None:
    spec = {
        "source_bucket": "in",
        "source_key": "k.csv",
        "result_bucket": "out",
        "strategy": "sma_cross",
        "params": {"fast": 3, "slow": 9},
        "options": {**SimOptions().__dict__, "slippage_bps": 5.0},
        "run_id": "r1",
    }
    query = rerun_query(spec)
    assert query == {
        "file": "k.csv",
        "strategy": "sma_cross",
        "p_fast": "3",
        "p_slow": "9",
        "options": '{"slippage_bps": 5.0}',
    }
    pre = forms.prefill_from_query(query)
    assert (pre.files, pre.params, pre.options) == (
        ["k.csv"],
        {"fast": 3, "slow": 9},
        {"slippage_bps": 5.0},
    )


def test_rerun_query_of_a_sweep_spec_keeps_files_and_space() -> None:
    sweep = {
        "sweep_id": "s1",
        "base": {"source_key": "a.csv", "strategy": "sma_cross", "params": {}, "options": {}},
        "extra_keys": ["b.csv"],
        "space": [{"name": "fast", **ParamSpace.parse("5:50:5").to_dict()}],
    }
    query = rerun_query(sweep)
    assert query["file"] == "a.csv,b.csv"
    assert json.loads(query["space"]) == {"fast": "5:50:5"}
    assert rerun_query(None) == {}


def test_range_defaults_stay_in_bounds() -> None:
    fast = forms.param_fields(get_strategy("sma_cross"))[0]
    assert forms.range_defaults(fast) == (10, 18, 2)
    lower = forms.param_fields(get_strategy("rsi_reversion"))[1]
    start, stop, step = forms.range_defaults(lower)
    assert start == 30.0 and start < stop <= 100.0 and step > 0


# --- app.form_checks: typed text -> checked values ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10, "10"),
        (100_000.0, "100000"),
        (0.001, "0.001"),
        (0.0005, "0.0005"),
        (1e-7, "0.0000001"),
        (0.1 + 0.2, "0.30000000000000004"),
        (2.5, "2.5"),
        (None, ""),
    ],
)
def test_format_number_shows_every_digit_and_reads_back_exactly(value, text) -> None:
    assert form_checks.format_number(value) == text
    if value is not None:
        assert float(text) == value


def test_no_non_zero_rate_is_shown_as_zero() -> None:
    for rate in (0.001, 0.0005, 0.00001, 1e-9, 0.123456789):
        shown = form_checks.describe_option("commission", rate)
        number, percent = shown.removeprefix("commission ").split(" (")
        assert float(number) == rate
        assert float(percent.split("%")[0]) == pytest.approx(rate * 100, rel=1e-12)
    assert form_checks.format_percent(0.001) == "0.1%"
    assert form_checks.describe_option("stop_loss", None) == "stop loss off"


def test_check_value_names_the_field_and_what_is_allowed() -> None:
    fast = get_strategy("sma_cross").param("fast")
    assert form_checks.check_value(fast, " 12 ") == 12
    for text, reason in (
        ("99999", "fast: 99999 is out of range; allowed int 1..10000"),
        ("0", "fast: 0 is out of range; allowed int 1..10000"),
        ("10.5", "fast: 10.5 is not a whole number"),
        ("", "fast: enter a value (int 1..10000)"),
        ("9" * 5000, "fast: " + "9" * 37 + "... is not a whole number"),
    ):
        with pytest.raises(ParamError) as caught:
            form_checks.check_value(fast, text)
        assert str(caught.value).startswith(reason)


def test_a_step_is_positive_not_bounded_by_the_parameter() -> None:
    slow = get_strategy("sma_cross").param("slow")  # 2..10000
    assert form_checks.check_step(slow, "1") == 1
    k = get_strategy("bollinger_reversion").param("k")  # 0.1..10
    assert form_checks.check_step(k, "0.05") == 0.05
    for param, text in ((slow, "0"), (slow, "-2"), (slow, "1.5"), (k, "0"), (k, "x")):
        with pytest.raises(ParamError, match="step"):
            form_checks.check_step(param, text)


def test_check_axis_range_of_step_one_on_slow() -> None:
    slow = get_strategy("sma_cross").param("slow")
    space = form_checks.check_axis(slow, AxisInput("range", start="2", stop="10000", step="1"))
    assert space.size() == 9_999 and space.value_at(0) == 2 and space.value_at(9_998) == 10_000
    assert form_checks.describe_space(space) == "2..10000 step 1 (9,999 values)"
    with pytest.raises(ParamError, match="slow stop: 10001 is out of range"):
        form_checks.check_axis(slow, AxisInput("range", start="2", stop="10001", step="1"))


def test_options_from_text() -> None:
    opts = form_checks.parse_options(
        {"cash": "5000", "commission": "0.0005", "stop_loss": "", "take_profit": "0", "fee": "1"}
    )
    assert opts == SimOptions(cash=5000.0, commission=0.0005, fee=1.0)
    with pytest.raises(ParamError, match="commission: 1%"):
        form_checks.parse_options({"commission": "1%"})
    with pytest.raises(ParamError, match="cash: inf is not a finite number"):
        form_checks.parse_options({"cash": "inf"})


def test_sweep_warmup_is_the_longest_over_the_space() -> None:
    sma = get_strategy("sma_cross")
    warmup, corner = form_checks.sweep_warmup(
        sma, {"fast": 5}, {"slow": ParamSpace(start=20, stop=95, step=25)}
    )
    assert (warmup, corner) == (94, {"slow": 95})  # SMA(95) is defined from bar 94
    donchian = get_strategy("donchian_breakout")  # warm-up is max(entry, exit)
    warmup, corner = form_checks.sweep_warmup(
        donchian,
        {},
        {"entry": ParamSpace(values=(30, 10, 20)), "exit": ParamSpace(values=(5, 40))},
    )
    assert warmup == 40 and corner["exit"] == 40


def test_bar_problems_need_warmup_plus_one_bar() -> None:
    assert form_checks.bar_problems({"a.csv": 51}, 50, "x") == []
    (line,) = form_checks.bar_problems({"a.csv": 50, "b.csv": 2000}, 50, "sma(slow=50)")
    assert (
        line == "a.csv has 50 bars; sma(slow=50) needs at least 51 (a warm-up of 50 bars plus one)"
    )
    (line,) = form_checks.bar_problems({"bad.csv": 0}, 5, "x")
    assert "bad.csv does not validate" in line


def test_submit_labels_pluralise() -> None:
    assert form_checks.submit_label("Single run", 1) == "Submit 1 run"
    assert form_checks.submit_label("Single run", 3) == "Submit 3 runs"
    assert form_checks.submit_label("Sweep", 1, 1) == "Submit sweep of 1 combination"
    assert (
        form_checks.submit_label("Sweep", 1, 1_000_000) == "Submit sweep of 1,000,000 combinations"
    )
    assert form_checks.submit_label("Sweep", 2, 42) == "Submit sweep of 42 combinations x 2 files"
