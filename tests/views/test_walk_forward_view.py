"""The Walk-forward page and the New run form's walk-forward and holdout options (AppTest on
the router, real sweeps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import _app_helpers as ah
from tests._app_helpers import app_root_fixture  # noqa: F401 - the `app_root` fixture
from tests._results_helpers import INPUT, RESULTS, Lab, app_test, lab_fixture, texts  # noqa: F401
from tests._walk_forward_helpers import make_walk_forward_sweep

PAGE = "views/walk_forward.py"
NEW_RUN = "views/new_run.py"


def test_page_shows_windows_stitched_equity_efficiency_and_parameter_path(lab: Lab) -> None:
    a = lab.add_file("a.csv", n_bars=520)
    b = lab.add_file("b.csv", n_bars=430, seed=9)
    make_walk_forward_sweep(lab.root, INPUT, RESULTS, [a, b])
    at = app_test(PAGE, sweep="wf")
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "rolling windows: in-sample 200, out-of-sample 100, step 100 (bars)" in shown
    assert "Walk-forward efficiency" in shown and "out-of-sample sharpe" in shown
    summary, windows = (df.value for df in at.dataframe)
    assert list(summary.columns) == [
        "metric", "walk-forward (stitched out-of-sample)", "buy and hold (same bars)"
    ]  # fmt: skip
    assert len(windows) == 4  # a.csv: out-of-sample from bars 200, 300, 400 and 500
    assert windows["window"].tolist() == [0, 1, 2, 3]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [c["layout"]["title"]["text"] for c in charts] == [
        "Stitched out-of-sample equity (dotted: window starts)",
        "Chosen parameters per window",
    ]
    assert [t["name"] for t in charts[1]["data"]] == ["fast", "slow"]
    # the other file is one pick away, and the pick goes into the URL
    at.selectbox(key="wf_file").set_value("b.csv").run()
    assert len(at.dataframe[1].value) == 3 and at.query_params["file"] == "b.csv"


def test_a_plain_sweep_is_one_line_and_an_unfinished_one_says_it_is_not_collected(lab: Lab) -> None:
    a = lab.add_file("a.csv", n_bars=520)
    make_walk_forward_sweep(lab.root, INPUT, RESULTS, [a], sweep_id="pending", run=False)
    at = app_test(PAGE, sweep="pending")
    assert "Not collected yet" in texts(at) and not at.dataframe
    assert "still running" not in texts(at)  # it may have failed: the Jobs page says which
    assert "Live: checked" in texts(at)  # re-checked until the collect has written them
    lab.store.put_bytes(RESULTS, "sweeps/plain/spec.json", json.dumps({"base": {}}).encode())
    at = app_test(PAGE, sweep="plain")
    (error,) = at.error
    assert "is not a walk-forward sweep" in error.value and "\n" not in error.value


def _sweep_form(**query: str) -> Any:
    at = ah.app_test(NEW_RUN, file=ah.TREND, space=json.dumps({"fast": "10,20", "slow": "50,100"}))
    assert at.radio(key="nr_mode").value == "Sweep"
    return at


def _spec(root: Path) -> dict[str, Any]:
    (sweep_dir,) = (root / ah.RESULTS / "sweeps").iterdir()
    return json.loads((sweep_dir / "spec.json").read_bytes())


def test_form_submits_a_walk_forward_sweep(app_root: Path) -> None:
    at = _sweep_form()
    at.toggle(key="nr_wf_on").set_value(True).run()
    at.text_input(key="nr_wf_windows").input("500:250:300").run()
    at.checkbox(key="nr_wf_anchored").check().run()
    at.text_input(key="nr_wf_constraints").input("max_drawdown<0.5, n_trades>=2").run()
    assert not at.error, [e.value for e in at.error]
    assert "anchored 500:250:300" in ah.texts(at, ("caption",))
    at.button(key="nr_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    record = _spec(app_root)
    assert record["walk_forward"] == {
        "in_sample": 500, "out_of_sample": 250, "step": 300, "anchored": True,
        "metric": "sharpe", "constraints": ["max_drawdown<0.5", "n_trades>=2"],
    }  # fmt: skip
    assert record["split"] == {"kind": "train_test", "train_fraction": 0.7}
    work = next(j for j in ah.app_context().executor.list() if str(j.kind) != "collect")
    assert work.command[1:4] == ("-m", "engine.sweep.wf_jobs", "child")
    # 2,520 bars, anchored 500 + k x 300 in-sample: out-of-sample from 500, 800, ..., 2300
    assert work.array_size == record["n_children"] + 7


@pytest.mark.parametrize(
    ("text", "needle"),
    [("500", "IS:OOS[:STEP]"), ("500:250:100", "shorter than the out-of-sample")],
)
def test_form_refuses_bad_windows_with_one_line(app_root: Path, text: str, needle: str) -> None:
    at = _sweep_form()
    at.toggle(key="nr_wf_on").set_value(True).run()
    at.text_input(key="nr_wf_windows").input(text).run()
    assert any(needle in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="nr_submit").disabled


def test_form_holdout_is_on_by_default_and_can_be_turned_off(app_root: Path) -> None:
    at = _sweep_form()
    assert at.checkbox(key="nr_holdout").value is True
    at.checkbox(key="nr_holdout").uncheck().run()
    at.button(key="nr_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    record = _spec(app_root)
    assert record["split"] is None and "walk_forward" not in record
