"""Strategies page and New run with a stored strategy (AppTest on the router): the list, the
source, Validate's one-line refusal or parsed schema, Save (replacing asks), Delete (asks), Try
(an ordinary queued run), hosted mode recording the signed-in user; New run's form generated
from the stored PARAMS with the rules checked before Submit."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from app import strategy_service
from tests._app_helpers import (
    INPUT,
    TREND,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    sleep_command,
    texts,
)
from tests._strategy_files import close_above_sma, short_output

PAGE = "views/strategies.py"
NAME = "page_close_above_sma"
GOOD = close_above_sma(NAME)
SHA = hashlib.sha256(GOOD.encode()).hexdigest()


def stored_path(root: Path, name: str = NAME) -> Path:
    return root / INPUT / "strategies" / f"{name}.py"


def sidecar(root: Path, name: str = NAME) -> dict[str, Any]:
    data = json.loads((root / INPUT / "strategies" / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


_EVENTS = itertools.count(1)


def paste(at: Any, text: str) -> Any:
    """What the code editor reports when ``text`` is typed or pasted into it: a new event with
    the text (AppTest cannot drive the component; tests/e2e/test_strategy_editor_e2e.py types
    into the real one)."""
    key = at.session_state["sg_editor"].key
    at.session_state[key] = {"id": f"ev{next(_EVENTS)}", "type": "change", "text": text}
    return at.run()


def click(at: Any, key: str) -> Any:
    return at.button(key=key).click().run()


def test_builtins_are_listed_with_their_parameters(app_root: Path) -> None:
    at = app_test(PAGE)
    assert not at.exception
    table = at.dataframe[0].value
    assert {"sma_cross", "buy_and_hold"} <= set(table["name"])
    row = table[table["name"] == "sma_cross"].iloc[0]
    assert row["kind"] == "built-in" and "fast=10 (int 1..10000)" in row["parameters"]
    assert row["rules"] == "fast must be < slow"
    at.selectbox(key="sg_selected").set_value("sma_cross").run()
    assert "Built-in" in texts(at, ("caption",))
    (code,) = [c.value for c in at.code]  # its module, the same contract as a team's file
    assert 'NAME = "sma_cross"' in code and "def signal(" in code
    assert not [b for b in at.button if b.key == "sg_delete"]  # a built-in cannot be deleted


def test_validate_shows_the_schema_or_the_one_line_refusal(app_root: Path) -> None:
    at = paste(app_test(PAGE), GOOD)
    click(at, "sg_validate")
    assert not at.exception
    assert f"Valid: {NAME}" in texts(at, ("success",))
    params = at.dataframe[-1].value  # the parsed schema, below the result
    assert list(params["parameter"]) == ["window"] and list(params["type"]) == ["int 2..500"]
    assert "Rules: window above 3" in texts(at, ("caption",))
    paste(at, short_output(NAME))
    assert "Valid:" not in texts(at)  # the result shown is for the text shown
    click(at, "sg_validate")
    (refusal,) = [e.value for e in at.error]
    assert refusal.startswith("Refused: ") and "\n" not in refusal
    assert not stored_path(app_root).exists()


def test_save_lists_it_with_who_when_and_sha_and_shows_the_source(app_root: Path) -> None:
    at = paste(app_test(PAGE), GOOD)
    click(at, "sg_save")
    assert not at.exception
    assert stored_path(app_root).read_bytes() == GOOD.encode()
    assert f"Saved strategies/{NAME}.py" in texts(at, ("success",))
    table = at.dataframe[0].value
    row = table[table["name"] == NAME].iloc[0]
    assert row["kind"] == "stored" and row["sha256"] == SHA[:12]
    assert row["added by"] == sidecar(app_root)["added_by"] and row["added at"]
    assert at.selectbox(key="sg_selected").value == NAME
    assert [c.value.rstrip("\n") for c in at.code] == [GOOD.rstrip("\n")]  # st.code trims
    assert f"sha256 {SHA}" in texts(at, ("caption",))


def test_replacing_asks_first_and_keeping_writes_nothing(app_root: Path) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    changed = GOOD.replace("Long while", "Long only while")
    at = paste(app_test(PAGE), changed)
    click(at, "sg_save")
    assert f"strategies/{NAME}.py exists" in texts(at, ("warning",))
    assert stored_path(app_root).read_text() == GOOD
    click(at, "sg_replace_no")
    assert stored_path(app_root).read_text() == GOOD
    assert "exists" not in texts(at, ("warning",))
    click(at, "sg_save")
    click(at, "sg_replace_yes")
    assert not at.exception
    assert stored_path(app_root).read_text() == changed


def test_delete_asks_then_removes(app_root: Path) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    at = app_test(PAGE, strategy=NAME)
    assert at.selectbox(key="sg_selected").value == NAME
    click(at, "sg_delete")
    assert f"Delete strategies/{NAME}.py" in texts(at, ("warning",))
    click(at, "sg_delete_no")
    assert stored_path(app_root).exists()
    click(at, "sg_delete")
    click(at, "sg_delete_yes")
    assert not at.exception
    assert not stored_path(app_root).exists()
    assert NAME not in set(at.dataframe[0].value["name"])


def test_try_submits_one_ordinary_run_and_links_to_its_job(app_root: Path) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")
    at = app_test(PAGE, strategy=NAME)
    at.selectbox(key="sg_try_file").set_value(TREND).run()
    click(at, "sg_try")
    assert not at.exception
    (job,) = app_context().executor.list(name_prefix="run-")
    assert job.spec["strategy"] == NAME and job.spec["source_key"] == TREND
    assert job.spec["params"] == {"window": 15}
    links = {link.label: link.proto.query_string for link in at.page_link}
    assert links[f"Job {job.name}"] == f"job={job.id}"


def test_hosted_mode_records_the_signed_in_user(
    app_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from tests._app_helpers import APP, TIMEOUT

    monkeypatch.setenv("BACKTEST_AUTH", "oidc")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.user = {"is_logged_in": True, "email": "eve@example.com"}
    at.run()
    at.switch_page(PAGE).run()
    paste(at, GOOD)
    click(at, "sg_save")
    assert not at.exception
    assert sidecar(app_root)["added_by"] == "eve@example.com"
    assert sidecar(app_root)["sha256"] == SHA
    assert "added by eve@example.com" in texts(at, ("caption",))


# -- New run with a stored strategy ------------------------------------------------------------


def test_new_run_offers_the_stored_strategy_with_fields_from_its_params(app_root: Path) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")
    at = app_test("views/new_run.py", file=TREND)
    assert f"{NAME} (stored)" in at.selectbox(key="nr_strategy").options  # labels, marked
    at.selectbox(key="nr_strategy").set_value(NAME).run()
    window = at.text_input(key=f"nr_p_{NAME}_window")
    assert (window.label, window.value, window.help) == (
        "window (int 2..500)",
        "15",
        "SMA window, bars",
    )
    assert "Rules: window above 3" in texts(at, ("caption",))
    window.input("3").run()
    assert at.button(key="nr_submit").disabled
    assert "rule 'window above 3' does not hold" in texts(at, ("error",))
    at.text_input(key=f"nr_p_{NAME}_window").input("501").run()
    assert at.button(key="nr_submit").disabled and "int 2..500" in texts(at, ("error",))
    at.text_input(key=f"nr_p_{NAME}_window").input("20").run()
    at.button(key="nr_submit").click().run()
    assert not at.exception
    (job,) = app_context().executor.list(name_prefix="run-")
    assert job.spec["strategy"] == NAME and job.spec["params"] == {"window": 20}
    assert f"{TREND}: {NAME}(window=20)" in texts(at, ("text",))


def test_new_run_sweeps_a_stored_strategy_pinned_to_the_bytes_counted(app_root: Path) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")
    at = app_test(
        "views/new_run.py", file=TREND, strategy=NAME, space=json.dumps({"window": "2:20:3"})
    )
    assert not at.exception
    assert at.radio(key="nr_mode").value == "Sweep"
    assert "window: 2..20 step 3 (7 values)" in texts(at, ("caption",))
    # counted with the file's rule (window above 3 drops window=2) in a subprocess
    assert {m.label: m.value for m in at.metric}["Combinations"] == "6"
    submit = at.button(key="nr_submit")
    assert not submit.disabled and submit.label == "Submit sweep of 6 combinations"
    submit.click().run()
    assert not at.exception and "Submitted sweep" in texts(at, ("success",))
    (sweep_dir,) = (app_root / "backtest-results" / "sweeps").iterdir()
    record = json.loads((sweep_dir / "spec.json").read_bytes())
    assert record["n_combinations"] == 6  # what was shown is what runs
    assert (sweep_dir / "strategy.py").read_bytes() == GOOD.encode()  # pinned once
    pinned = f"s3://backtest-results/sweeps/{sweep_dir.name}/strategy.py"
    assert record["base"]["strategy_source"] == pinned
    assert record["base"]["strategy_sha256"] == SHA
    (job,) = app_context().executor.list(name_prefix="sweep-")
    assert job.spec["base"]["strategy_source"] == pinned  # the children load that copy
    # the dashboard process never imported the file (its module is keyed by the sha256)
    loaded = [m for m in list(sys.modules.values()) if getattr(m, "__backtest_sha256__", "") == SHA]
    assert loaded == [] and not any(SHA[:16] in key for key in sys.modules)


def test_new_run_tpe_search_of_a_stored_strategy_counts_with_its_rule_and_pins_it(
    app_root: Path,
) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")
    at = app_test(
        "views/new_run.py", file=TREND, strategy=NAME, space=json.dumps({"window": "2:20:3"})
    )
    at.selectbox(key="nr_sweep_kind").set_value("tpe").run()
    at.text_input(key="nr_search_budget").input("50").run()
    assert not at.exception and not at.error, texts(at, ("error",))
    # 7 values, the file's rule (window above 3) drops window=2: counted in the sandbox
    assert "asked 50; the space has only 6 valid combinations" in texts(at, ("warning",))
    submit = at.button(key="nr_submit")
    assert not submit.disabled and submit.label == "Submit TPE search of 6 trials (1 round)"
    submit.click().run()
    assert not at.exception and "Submitted sweep" in texts(at, ("success",))
    (sweep_dir,) = (app_root / "backtest-results" / "sweeps").iterdir()
    record = json.loads((sweep_dir / "spec.json").read_bytes())
    assert record["mode"] == "tpe" and record["n"] == 6  # what was shown is what runs
    assert (sweep_dir / "strategy.py").read_bytes() == GOOD.encode()  # pinned once
    assert record["base"]["strategy_sha256"] == SHA
    assert not (sweep_dir / "search" / "round-0.json").exists()  # asked by the first step job
    loaded = [m for m in list(sys.modules.values()) if getattr(m, "__backtest_sha256__", "") == SHA]
    assert loaded == [] and not any(SHA[:16] in key for key in sys.modules)


def test_new_run_sweep_of_a_stored_strategy_with_no_valid_combination_is_refused(
    app_root: Path,
) -> None:
    strategy_service.save(app_context(), GOOD, user="alice")
    at = app_test(
        "views/new_run.py", file=TREND, strategy=NAME, space=json.dumps({"window": "2:3:1"})
    )
    assert not at.exception
    assert at.button(key="nr_submit").disabled
    assert "window above 3" in texts(at, ("error",))
    assert not (app_root / "backtest-results" / "sweeps").exists()
