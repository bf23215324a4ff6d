"""app.forms: schema -> widget specs, form values -> typed values, URL prefill round trip."""

from __future__ import annotations

import json

import pytest

from app import forms
from app.forms import AxisInput
from engine.errors import ParamError
from engine.spec import SimOptions
from engine.strategies import get_strategy
from engine.sweep_spec import ParamSpace


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
    assert by_name["stop_loss"].help.endswith("(0 = off)")


def test_parse_params_applies_bounds_and_constraints() -> None:
    assert forms.parse_params("sma_cross", {"fast": 5, "slow": 20}) == {"fast": 5, "slow": 20}
    with pytest.raises(ParamError, match="fast must be < slow"):
        forms.parse_params("sma_cross", {"fast": 20, "slow": 20})
    with pytest.raises(ParamError, match="out of range"):
        forms.parse_params("sma_cross", {"fast": 0})


def test_parse_options_turns_zero_stops_off_and_validates() -> None:
    opts = forms.parse_options(
        {"cash": 5000, "commission": 0.002, "stop_loss": 0.0, "take_profit": 12.0, "fill": "close"}
    )
    assert opts == SimOptions(cash=5000.0, commission=0.002, take_profit=12.0, fill="close")
    with pytest.raises(ParamError, match="commission"):
        forms.parse_options({"commission": 0.9})


def test_build_space_from_fixed_list_and_range() -> None:
    fixed, space = forms.build_space(
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
        forms.build_space("sma_cross", {"fast": AxisInput("fixed", value=5)})
    with pytest.raises(ParamError, match="fast: step must be > 0"):
        forms.build_space("sma_cross", {"fast": AxisInput("range", start=5, stop=9, step=0)})
    with pytest.raises(ParamError, match="slow"):
        forms.build_space("sma_cross", {"slow": AxisInput("list", text="1,50")})


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
    query = forms.rerun_query(spec)
    assert query == {
        "file": "k.csv",
        "strategy": "sma_cross",
        "params": '{"fast": 3, "slow": 9}',
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
    query = forms.rerun_query(sweep)
    assert query["file"] == "a.csv,b.csv"
    assert json.loads(query["space"]) == {"fast": "5:50:5"}
    assert forms.rerun_query(None) == {}


def test_range_defaults_stay_in_bounds() -> None:
    fast = forms.param_fields(get_strategy("sma_cross"))[0]
    assert forms.range_defaults(fast) == (10, 18, 2)
    lower = forms.param_fields(get_strategy("rsi_reversion"))[1]
    start, stop, step = forms.range_defaults(lower)
    assert start == 30.0 and start < stop <= 100.0 and step > 0
