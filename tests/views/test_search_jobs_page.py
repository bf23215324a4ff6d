"""Jobs page of a TPE search (AppTest on the router, real local executor and engine): the
selected round's job shows the search's rounds and state as they are now, never a Resume, and
keeps showing the search's progress after that job ended while later rounds ran."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app import jobs_service, submit_service
from engine.spec import SimOptions
from engine.sweep.search_spec import SearchSpec
from engine.sweep.spec import ParamSpace
from jobs.search_progress import search_progress
from tests._app_helpers import (
    RESULTS,
    TREND,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
    sleep_command,
    texts,
)

PAGE = "views/jobs.py"
WAIT_S = 300  # generous: seven engine/optuna processes on a loaded 2-core machine


def _submit_search(budget: int = 6, round_size: int = 2) -> str:
    """A two-objective search of ``budget`` trials, submitted as New run submits it."""
    ctx = app_context()
    choice = submit_service.SweepChoice(
        "sma_cross", {}, {"fast": ParamSpace.parse("5:20:1", "fast"),
                          "slow": ParamSpace.parse("30:60:5", "slow")},
        SimOptions(), mode="tpe", n=budget, seed=3,
        search=SearchSpec(round_size, ("sharpe", "max_drawdown")),
    )  # fmt: skip
    spec = submit_service.sweep_for_files(ctx, [TREND], choice)
    submit_service.submit_sweep(ctx, spec)
    return spec.sweep_id


@pytest.mark.slow  # a whole search: seven engine/optuna processes
def test_round_progress_is_the_search_now(app_root: Path) -> None:
    ctx = app_context()
    blocker = ctx.executor.submit_command(sleep_command(), name="blocker", kind="run")
    sweep_id = _submit_search()
    round0 = next(j for j in ctx.executor.list() if j.name.startswith("round-0-"))
    at = app_test(PAGE, job=round0.id)
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at, ("caption", "markdown", "text", "error", "info"))
    progress = " ".join(str(p.proto.text) for p in at.get("progress"))
    assert "Search running · round 1 of 3 asked · 0/6 trials evaluated" in progress, progress
    assert f"Sweep {sweep_id}" in shown
    assert not [b for b in at.button if str(b.label).startswith("Resume")]
    # "Rerun with changes" reopens New run with the search's settings too
    query = jobs_service.job_detail(ctx, round0.id).rerun_query
    assert json.loads(query["search"]) == {
        "n": 6, "seed": 3, "round_size": 2, "objectives": ["sharpe", "max_drawdown"]
    }  # fmt: skip
    assert query["strategy"] == "sma_cross" and query["file"] == TREND

    ctx.executor.terminate(blocker.id, reason="test: let the search run")
    deadline = time.monotonic() + WAIT_S
    state = search_progress(ctx.store, RESULTS, sweep_id, ctx.executor)
    while state.state not in ("done", "stopped") and time.monotonic() < deadline:
        time.sleep(1)
        state = search_progress(ctx.store, RESULTS, sweep_id, ctx.executor)
    assert state.state == "done", state.message
    at.run()  # the same selection: round 0's job ended long ago, the search went on
    assert not at.exception, [e.value for e in at.exception]
    progress = " ".join(str(p.proto.text) for p in at.get("progress"))
    assert "Search done · round 3 of 3 asked · 6/6 trials evaluated" in progress, progress
    assert not [b for b in at.button if str(b.label).startswith("Resume")]
    links = {p.proto.label: p.proto.query_string for p in at.get("page_link")}
    assert links.get("Sweep results") == f"sweep={sweep_id}"

    # the collected search on its Search tab: the front collect marked, as defined
    from engine.store.runs import parquet_to_frame
    from tests._search_ui_helpers import brute_front
    from tests.views.test_search_page import charts

    summary = parquet_to_frame(ctx.store.get_bytes(RESULTS, f"sweeps/{sweep_id}/summary.parquet"))
    want = set(summary["combo_id"][brute_front(summary, ("sharpe", "max_drawdown"))])
    page = app_test("views/sweep_results.py", sweep=sweep_id)
    assert not page.exception, [e.value for e in page.exception]
    _, (others, front) = charts(page)["Pareto"]
    assert set(front["trial"]) == want and len(front) + len(others) == 6 - summary.ruined.sum()
    rounds = next(d.value for d in page.dataframe if "evaluated" in d.value.columns)
    assert list(rounds["evaluated"]) == [2, 2, 2]
    best = [summary[summary["round"] <= r]["sharpe"].max() for r in range(3)]
    assert list(rounds["collect's best after round"]) == pytest.approx(best)
