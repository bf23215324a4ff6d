"""A rerun of an old run of a strategy file uses the source that run recorded (issue 12 point 2):
the link names the run, New run's service offers the recorded copy (checked against the sha256
in spec.json) or the current file, and what is submitted runs, and records, those bytes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import rerun_source as rr
from app import strategy_service as svc
from app import submit_service
from app.context import AppContext
from app.new_run_link import rerun_query
from engine.backtest import main as engine_main
from engine.cli_args import args_from_spec
from engine.errors import NotFoundError, ParamError
from engine.spec import RunSpec, SimOptions
from engine.store.objects import LocalStore
from engine.sweep.spec import ParamSpace
from jobs.local import LocalExecutor
from jobs.settings import load_settings
from tests._app_helpers import INPUT, RESULTS, csv_bytes
from tests._strategy_files import close_above_sma

NAME = "rr_close_above_sma"
OLD = close_above_sma(NAME, "The old rule.")
NEW = close_above_sma(NAME, "The new rule.").replace('"max": 500', '"max": 40')


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    root = tmp_path / "store"
    settings = load_settings(
        {"BACKTEST_STORAGE_ROOT": str(root), "BACKTEST_CONFIG": str(tmp_path / "x.toml")}
    )
    store = LocalStore(root)
    store.create_bucket(INPUT)
    store.create_bucket(RESULTS)
    store.put_bytes(INPUT, "a.csv", csv_bytes(400))
    executor = LocalExecutor(settings, worker="none")  # records only; the engine runs below
    yield AppContext(settings, store, executor)
    executor.close()


def run_engine(ctx: AppContext, spec: RunSpec) -> dict:
    """Run a submitted spec as its job would (the engine CLI), return its spec.json."""
    env = {"BACKTEST_STORAGE_ROOT": ctx.settings.storage_root}
    assert engine_main(args_from_spec(spec), env) == 0
    key = f"runs/{spec.run_id}/spec.json"
    return json.loads(ctx.store.get_bytes(RESULTS, key))


def submitted(ctx: AppContext, record_id: str) -> RunSpec:
    return RunSpec.from_dict(dict(ctx.executor.get(record_id).spec or {}))


@pytest.fixture
def old_run(ctx: AppContext) -> dict:
    """A finished run of the OLD file; the stored file is then replaced by NEW."""
    svc.save(ctx, OLD, user="ana")
    choice = submit_service.RunChoice(NAME, {"window": 60}, SimOptions())
    record = submit_service.submit_runs(ctx, ["a.csv"], choice)[0]
    spec = run_engine(ctx, submitted(ctx, record.id))
    svc.save(ctx, NEW, user="bo", replace_sha256=sha(OLD))
    return spec


def current_row(ctx: AppContext) -> svc.StrategyRow | None:
    return svc.existing(ctx, NAME)


def test_the_link_names_the_run_and_new_run_offers_its_recorded_copy(ctx, old_run) -> None:
    query = rerun_query(old_run)
    assert query["from_run"] == old_run["run_id"] and query["strategy"] == NAME
    assert query["p_window"] == "60"
    origin = rr.origin_of(query)
    assert origin == ("run", old_run["run_id"])
    found = rr.rerun_source(ctx, origin, NAME, current_row(ctx))
    assert found is not None and found.copy is not None and found.problem is None
    uri = f"s3://{RESULTS}/runs/{old_run['run_id']}/strategy.py"
    assert found.copy.uri == uri and found.copy.sha256 == sha(OLD) == old_run["strategy_sha256"]
    assert found.copy.row.description == "The old rule."  # the schema read from the copy
    assert [p.high for p in found.copy.row.params] == [500]
    assert (
        found.copy_label() == f"Recorded copy of run {old_run['run_id']} (sha256 {sha(OLD)[:12]})"
    )
    assert found.current_label() == f"Current file strategies/{NAME}.py (sha256 {sha(NEW)[:12]})"
    assert found.status() == (
        f"The stored file strategies/{NAME}.py has changed since run {old_run['run_id']}: now "
        f"sha256 {sha(NEW)[:12]}, recorded {sha(OLD)[:12]}."
    )
    assert (
        rerun_query({"strategy": "sma_cross", "run_id": "x", "params": {}}).get("from_run") is None
    )


def test_a_rerun_of_the_copy_runs_and_records_the_old_bytes(ctx, old_run) -> None:
    found = rr.rerun_source(ctx, ("run", old_run["run_id"]), NAME, current_row(ctx))
    assert found is not None and found.copy is not None
    # window=60 is beyond the current file's max (40) but within the copy's (500)
    choice = submit_service.RunChoice(NAME, {"window": 60}, SimOptions(), found.copy)
    record = submit_service.submit_runs(ctx, ["a.csv"], choice)[0]
    spec = submitted(ctx, record.id)
    assert spec.strategy_source == found.copy.uri and spec.strategy_sha256 == sha(OLD)
    ran = run_engine(ctx, spec)
    assert ran["strategy_sha256"] == sha(OLD)
    assert ran["strategy_source"] == f"s3://{RESULTS}/runs/{spec.run_id}/strategy.py"
    assert ctx.store.get_bytes(RESULTS, f"runs/{spec.run_id}/strategy.py").decode() == OLD
    assert ran["provenance"]["strategy"]["loaded_from"] == found.copy.uri
    # the current file is checked against its own schema: 60 is out of its bounds
    with pytest.raises(ParamError, match="window"):
        submit_service.submit_runs(
            ctx, ["a.csv"], submit_service.RunChoice(NAME, {"window": 60}, SimOptions())
        )


def test_a_sweep_from_the_link_is_counted_with_and_pinned_to_the_copy(ctx, old_run) -> None:
    found = rr.rerun_source(ctx, ("run", old_run["run_id"]), NAME, current_row(ctx))
    assert found is not None and found.copy is not None
    space = {"window": ParamSpace.parse("50:70:10")}  # beyond the current file's max
    choice = submit_service.SweepChoice(NAME, {}, space, SimOptions(), sweep_id="rr-sweep")
    sweep = submit_service.sweep_for_files(ctx, ["a.csv"], choice)
    sweep = svc.pinned_sweep(ctx, found.copy, sweep)
    assert svc.stored_sweep_stats(ctx, sweep).valid == 3
    submit_service.submit_sweep(ctx, sweep)
    sent = submit_service.read_back_sweep(ctx, sweep)
    assert sent["base"]["strategy_sha256"] == sha(OLD)
    assert sent["base"]["strategy_source"] == f"s3://{RESULTS}/sweeps/rr-sweep/strategy.py"
    assert ctx.store.get_bytes(RESULTS, "sweeps/rr-sweep/strategy.py").decode() == OLD
    # a later link from that sweep offers the sweep's copy
    query = rerun_query(sent)
    assert query["from_sweep"] == "rr-sweep"
    again = rr.rerun_source(ctx, rr.origin_of(query), NAME, current_row(ctx))
    assert again is not None and again.copy is not None and again.copy.sha256 == sha(OLD)


def test_a_missing_or_edited_copy_is_one_actionable_line(ctx, old_run) -> None:
    run_id = old_run["run_id"]
    key = f"runs/{run_id}/strategy.py"
    ctx.store.put_bytes(RESULTS, key, NEW.encode())  # edited by hand
    edited = rr.rerun_source(ctx, ("run", run_id), NAME, current_row(ctx))
    assert edited is not None and edited.copy is None
    assert edited.problem == (
        f"s3://{RESULTS}/{key} does not have the sha256 {sha(OLD)[:12]} that run {run_id} "
        "recorded (it was changed); rerun from the current strategy file instead"
    )
    ctx.store.delete(RESULTS, key)
    gone = rr.rerun_source(ctx, ("run", run_id), NAME, current_row(ctx))
    assert gone is not None and gone.copy is None
    assert gone.problem == (
        f"the recorded copy of run {run_id} is missing (s3://{RESULTS}/{key}); rerun from the "
        f"current strategy file strategies/{NAME}.py instead"
    )
    assert "\n" not in gone.problem
    svc.delete(ctx, NAME, user="bo")
    neither = rr.rerun_source(ctx, ("run", run_id), NAME, None)
    assert neither is not None and "python -m jobs strategy add FILE" in neither.status()
    nothing = rr.rerun_source(ctx, ("run", "no-such-run"), NAME, None)
    assert nothing is not None and "run no-such-run recorded no spec.json" in str(nothing.problem)


def test_a_pinned_copy_removed_before_submit_is_refused_in_one_line(ctx, old_run) -> None:
    found = rr.rerun_source(ctx, ("run", old_run["run_id"]), NAME, current_row(ctx))
    assert found is not None and found.copy is not None
    ctx.store.delete(RESULTS, f"runs/{old_run['run_id']}/strategy.py")
    choice = submit_service.RunChoice(NAME, {"window": 60}, SimOptions(), found.copy)
    with pytest.raises(NotFoundError, match=r"is missing; choose the current file"):
        submit_service.submit_runs(ctx, ["a.csv"], choice)
    assert ctx.executor.list() and len(ctx.executor.list()) == 1  # only the old run's job


def test_a_removed_file_can_still_be_rerun_from_its_copy(ctx, old_run) -> None:
    svc.delete(ctx, NAME, user="bo")
    found = rr.rerun_source(ctx, ("run", old_run["run_id"]), NAME, None)
    assert found is not None and found.copy is not None
    assert (
        found.status()
        == f"strategies/{NAME}.py is no longer stored; only the recorded copy can run."
    )
    choice = submit_service.RunChoice(NAME, {"window": 60}, SimOptions(), found.copy)
    spec = submitted(ctx, submit_service.submit_runs(ctx, ["a.csv"], choice)[0].id)
    assert run_engine(ctx, spec)["strategy_sha256"] == sha(OLD)
