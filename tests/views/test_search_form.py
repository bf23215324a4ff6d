"""New run's TPE search kind (AppTest on the router over a seeded store): its fields and their
one-line errors, what it cannot be combined with, the estimate (rounds x array size) against the
layout the submit records, and the read-back of the submitted search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests._app_helpers import (
    RESULTS,
    TREND,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    sleep_command,
    texts,
)

PAGE = "views/new_run.py"
CHOPPY = "samples/choppy_range_daily.csv"
SPACE = json.dumps({"fast": "5:30:1", "slow": "40:120:5"})  # 26 x 17 = 442 points


def _submit(at: Any) -> Any:
    return at.button(key="nr_submit")


def _search(at: Any, **fields: str) -> Any:
    at.selectbox(key="nr_sweep_kind").set_value("tpe").run()
    for name, value in fields.items():
        at.text_input(key=f"nr_search_{name}").input(value).run()
    return at


def _block_the_slot() -> None:
    """Keep the single local slot busy so the submitted jobs stay queued (no engine work)."""
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")


def test_search_fields_show_what_will_be_submitted(app_root: Path) -> None:
    at = _search(app_test(PAGE, file=TREND, space=SPACE), budget="100", round="32", seed="5")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, ("error",))
    objectives = at.multiselect(key="nr_search_objectives")
    assert objectives.value == ["Sharpe (higher)"]
    assert "Max drawdown (lower)" in objectives.options
    assert "Sharpe (higher)" in objectives.options
    captions = texts(at, ("caption",))
    assert "4 rounds of up to 32 trials (100 in all); seed 5; optimising Sharpe (higher)." in (
        captions
    )
    cards = {m.label: m.value for m in at.metric}
    assert cards["Trials"] == "100" and cards["Rounds"] == "4"
    assert "Combinations" not in cards  # a search has trials, not an expanded grid
    assert _submit(at).label == "Submit TPE search of 100 trials (4 rounds)"
    assert not _submit(at).disabled


def test_bad_search_values_are_one_line_each_and_disable_submit(app_root: Path) -> None:
    at = _search(app_test(PAGE, file=TREND, space=SPACE), budget="0")
    assert "budget (trials): 0 is out of range; allowed int 1..1000000" in texts(at, ("error",))
    assert _submit(at).disabled
    at.text_input(key="nr_search_budget").input("50").run()
    at.text_input(key="nr_search_round").input("ten").run()
    assert "trials per round: ten is not a whole number; allowed int 1..10000" in texts(
        at, ("error",)
    )
    assert _submit(at).disabled
    at.text_input(key="nr_search_round").input("10").run()
    at.multiselect(key="nr_search_objectives").set_value([]).run()
    assert "objectives: pick one or two metrics to optimise" in texts(at, ("error",))
    assert _submit(at).disabled
    at.multiselect(key="nr_search_objectives").set_value(["Max drawdown (lower)"]).run()
    assert not at.exception and not _submit(at).disabled
    # a budget above the space (442 points, all valid): what will run is said, not refused
    at.text_input(key="nr_search_budget").input("443").run()
    assert "asked 443; the space has only 442 valid combinations" in texts(at, ("warning",))
    assert {m.label: m.value for m in at.metric}["Trials"] == "442"
    assert not _submit(at).disabled


def test_several_files_and_walk_forward_are_refused_before_submit(app_root: Path) -> None:
    at = _search(app_test(PAGE, file=f"{TREND},{CHOPPY}", space=SPACE))
    errors = texts(at, ("error",))
    assert "a TPE search runs on one input file, 2 are picked" in errors
    assert _submit(at).disabled
    at.multiselect(key="nr_files").set_value([TREND]).run()
    assert not _submit(at).disabled
    at.toggle(key="nr_wf_on").set_value(True).run()
    assert "a TPE search cannot be walk-forward: turn off walk-forward" in texts(at, ("error",))
    assert _submit(at).disabled


def test_submitted_search_matches_the_estimate_and_is_read_back(app_root: Path) -> None:
    _block_the_slot()
    at = _search(app_test(PAGE, file=TREND, space=SPACE), budget="70", round="16", seed="9")
    at.multiselect(key="nr_search_objectives").set_value(
        ["Sharpe (higher)", "Max drawdown (lower)"]
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    array_text = next(c for c in texts(at, ("caption",)).splitlines() if "Array jobs:" in c)
    _submit(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Submitted sweep" in texts(at), texts(at)
    (sweep_dir,) = (app_root / RESULTS / "sweeps").iterdir()
    record = json.loads((sweep_dir / "spec.json").read_bytes())
    assert record["mode"] == "tpe" and record["n"] == 70 and record["seed"] == 9
    assert record["search"] == {"round_size": 16, "objectives": ["sharpe", "max_drawdown"]}
    # the estimate said what was submitted: rounds x children of chunk_size trials
    rounds = -(-70 // 16)
    per_round = 16 // record["chunk_size"]
    last = -(-(70 - 16 * (rounds - 1)) // record["chunk_size"])
    assert record["n_children"] == (rounds - 1) * per_round + last

    def kids(n: int) -> str:
        return f"{n} {'child' if n == 1 else 'children'}"

    last_text = "" if last == per_round else f" (last round {last})"
    assert (
        f"{rounds} rounds x {kids(per_round)}{last_text} = {kids(record['n_children'])} "
        f"of {record['chunk_size']} trials"
    ) in array_text
    shown = texts(at, ("text",))
    assert "TPE search (Optuna's TPE sampler, ask-and-tell), seed 9" in shown
    assert "objectives: Sharpe (higher), Max drawdown (lower)" in shown


def test_budget_above_the_valid_combinations_says_what_will_run(app_root: Path) -> None:
    _block_the_slot()
    space = json.dumps({"fast": "5:30:1", "slow": "20:40:1"})  # 546 points, fast < slow fewer
    valid = sum(1 for f in range(5, 31) for s in range(20, 41) if f < s)  # counted here
    at = _search(app_test(PAGE, file=TREND, space=space), budget="540", round="100")
    assert not at.exception, [e.value for e in at.exception]
    cards = {m.label: m.value for m in at.metric}
    assert cards["Trials"] == f"{valid}" and cards["Rounds"] == f"{-(-valid // 100)}"
    assert f"asked 540; the space has only {valid} valid combinations" in texts(at, ("warning",))
    assert _submit(at).label == f"Submit TPE search of {valid} trials ({-(-valid // 100)} rounds)"
    _submit(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    (sweep_dir,) = (app_root / RESULTS / "sweeps").iterdir()
    assert json.loads((sweep_dir / "spec.json").read_bytes())["n"] == valid


def test_run_this_search_again_opens_new_run_with_its_settings(app_root: Path) -> None:
    from urllib.parse import parse_qsl

    from tests._search_ui_helpers import SEARCH_FILE, write_search

    write_search(app_root, "tpe-again", objectives=("sharpe", "max_drawdown"), budget=40,
                 round_size=16, seed=7)  # fmt: skip
    page = app_test("views/sweep_results.py", sweep="tpe-again", tab="Search")
    link = next(p.proto for p in page.get("page_link") if p.proto.label.startswith("Run this"))
    at = app_test(PAGE, **dict(parse_qsl(link.query_string)))
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="nr_mode").value == "Sweep"
    assert at.multiselect(key="nr_files").value == [SEARCH_FILE]
    assert at.selectbox(key="nr_sweep_kind").value == "tpe"
    assert at.text_input(key="nr_search_budget").value == "40"
    assert at.text_input(key="nr_search_round").value == "16"
    assert at.text_input(key="nr_search_seed").value == "7"
    assert at.multiselect(key="nr_search_objectives").value == [
        "Sharpe (higher)", "Max drawdown (lower)"
    ]  # fmt: skip
    assert _submit(at).label == "Submit TPE search of 40 trials (3 rounds)"
    assert not _submit(at).disabled, texts(at, ("error",))
    # a later edit is kept: the link is applied once
    at.text_input(key="nr_search_seed").input("8").run()
    assert at.text_input(key="nr_search_seed").value == "8"
    assert "seed 8" in texts(at, ("caption",))


def test_damaged_search_link_is_one_line(app_root: Path) -> None:
    at = app_test(PAGE, file=TREND, space=SPACE, search='{"n": 5}')
    assert not at.exception, [e.value for e in at.exception]
    assert "Link: the link's search settings are damaged" in texts(at, ("warning",))
    assert at.selectbox(key="nr_sweep_kind").value == "grid"  # nothing applied
    assert not _submit(at).disabled  # the grid sweep the link describes can be submitted
