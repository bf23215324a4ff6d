"""app.submit_service without Streamlit: run specs, sweep counts, children and estimates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app import data_service
from app import submit_service as sub
from app.context import AppContext
from engine.errors import NotFoundError, ParamError
from engine.spec import SimOptions
from engine.store.objects import LocalStore
from engine.sweep.plan import COST_PER_BAR_COMBINATION_S
from engine.sweep.spec import ParamSpace
from jobs.local import LocalExecutor
from jobs.settings import load_settings
from tests._app_helpers import INPUT, RESULTS, csv_bytes


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    root = tmp_path / "store"
    settings = load_settings(
        {
            "BACKTEST_STORAGE_ROOT": str(root),
            "BACKTEST_CONFIG": str(tmp_path / "x.toml"),
            "BACKTEST_USER": "alice",
        }
    )
    store = LocalStore(root)
    store.create_bucket(INPUT)
    store.create_bucket(RESULTS)
    for key in ("a.csv", "b.csv"):
        store.put_bytes(INPUT, key, csv_bytes(200))
    executor = LocalExecutor(settings, worker="none")  # records only: nothing runs
    yield AppContext(settings, store, executor)
    executor.close()


def test_submit_runs_one_queued_job_per_file(ctx: AppContext) -> None:
    opts = SimOptions(commission=0.0, lot_size=100.0)
    records = sub.submit_runs(
        ctx, ["a.csv", "b.csv", "a.csv"], sub.RunChoice("sma_cross", {"fast": "4"}, opts)
    )
    assert [r.spec["source_key"] for r in records] == ["a.csv", "b.csv"]  # duplicates dropped
    for r in records:
        got = ctx.executor.get(r.id).spec
        assert got["params"] == {"fast": 4, "slow": 50}  # validated, defaults filled
        assert got["options"]["lot_size"] == 100.0 and got["options"]["commission"] == 0.0
        assert got["user"] == "alice" and got["run_id"]
        assert got["result_bucket"] == RESULTS


def test_nothing_is_submitted_when_anything_is_wrong(ctx: AppContext) -> None:
    with pytest.raises(ParamError, match="fast must be < slow"):
        sub.submit_runs(ctx, ["a.csv"], sub.RunChoice("sma_cross", {"fast": 60}, SimOptions()))
    with pytest.raises(NotFoundError, match=r"missing\.csv"):
        sub.submit_runs(ctx, ["a.csv", "missing.csv"], sub.RunChoice("sma_cross", {}, SimOptions()))
    with pytest.raises(ParamError, match="at least one input file"):
        sub.submit_runs(ctx, [], sub.RunChoice("sma_cross", {}, SimOptions()))
    with pytest.raises(ParamError, match="cash"):
        sub.submit_runs(ctx, ["a.csv"], sub.RunChoice("sma_cross", {}, SimOptions(cash=-1.0)))
    assert ctx.executor.list() == []


def _sweep(ctx: AppContext, files=("a.csv", "b.csv"), **kw):
    space = {"fast": ParamSpace(values=(5, 10, 15)), "slow": ParamSpace(values=(10, 20))}
    choice = sub.SweepChoice("sma_cross", {}, space, SimOptions(), **kw)
    return sub.sweep_for_files(ctx, list(files), choice)


def test_sweep_spec_uses_first_file_as_base_and_the_rest_as_extra(ctx: AppContext) -> None:
    spec = _sweep(ctx, sweep_id="sw-1")
    assert spec.sweep_id == "sw-1" and spec.base.source_key == "a.csv"
    assert spec.extra_keys == ("b.csv",) and spec.base.result_bucket == RESULTS


def test_estimate_counts_combinations_children_and_time(ctx: AppContext) -> None:
    spec = _sweep(ctx)
    # fast 5,10,15 x slow 10,20: (10,10), (15,10) break fast < slow -> 4 valid of 6
    small = sub.estimate_sweep(spec, [1000, 3000], cost_s=1e-6)
    assert (small.n_candidates, small.n_combinations, small.n_dropped) == (6, 4, 2)
    assert (small.n_files, small.n_backtests, small.n_children) == (2, 8, 1)
    assert small.compute_seconds == pytest.approx(4 * 4000 * 1e-6)
    assert small.fargate_usd is None  # local backend
    big = sub.estimate_sweep(
        spec, [1000, 3000], cost_s=0.1, pricing=sub.FargatePricing(vcpu_hour=0.04, gb_hour=0.004)
    )
    # 4 combinations x (1000 + 3000) bars x 0.1 s = 1600 s > 120 s per child -> 8 children of 1
    assert (big.n_children, big.chunk_size) == (8, 1)
    assert big.compute_seconds == pytest.approx(1600.0)
    assert big.fargate_usd == pytest.approx(8 * 200 / 3600 * (1 * 0.04 + 2 * 0.004))


def test_random_mode_counts_n(ctx: AppContext) -> None:
    spec = _sweep(ctx, files=("a.csv",), mode="random", n=3, seed=7)
    assert sub.estimate_sweep(spec, [500], cost_s=1e-6).n_combinations == 3


def test_fargate_cost_bills_a_minute_minimum() -> None:
    assert sub.fargate_cost(1.0, 1, vcpu_hour=3.6, gb_hour=0.0) == pytest.approx(0.06)
    assert sub.fargate_cost(7200.0, 2, vcpu_hour=1.0, gb_hour=0.5) == pytest.approx(2 * 2.0)


@pytest.mark.parametrize("lengths", [(100, 400, 1000), (1000, 100, 400), (400, 1000, 100)])
def test_the_estimate_shows_the_children_that_are_submitted(
    ctx: AppContext, lengths: tuple[int, int, int]
) -> None:
    files = [f"len{n}.csv" for n in lengths]
    for key, n in zip(files, lengths, strict=True):
        ctx.store.put_bytes(INPUT, key, csv_bytes(n))
    # 4 valid combinations x 1,500 bars of work = 2.4 targets -> 3 children of 4 backtests
    target = 2500 * COST_PER_BAR_COMBINATION_S
    spec = replace(_sweep(ctx, files=files), target_child_seconds=target)
    bars = [data_service.bar_count(ctx, INPUT, key) for key in spec.source_keys]  # as the page
    assert bars == list(lengths)
    estimate = sub.estimate_sweep(spec, bars)
    assert (estimate.n_backtests, estimate.n_children, estimate.chunk_size) == (12, 3, 4)
    record = sub.submit_sweep(ctx, spec)
    assert ctx.executor.get(record.id).array_size == estimate.n_children
    sent = sub.read_back_sweep(ctx, spec)
    assert (sent["n_children"], sent["chunk_size"]) == (estimate.n_children, estimate.chunk_size)


def test_format_duration() -> None:
    assert sub.format_duration(0.42) == "0.4 s"
    assert sub.format_duration(0.0042) == "4.2 ms"  # not "0.0 s"
    assert sub.format_duration(0) == "0.0 s"
    assert sub.format_duration(200) == "3 min 20 s"
    assert sub.format_duration(7500) == "2 h 05 min"


def test_read_back_runs_returns_the_recorded_specs(ctx: AppContext) -> None:
    opts = SimOptions(commission=0.0005)
    records = sub.submit_runs(
        ctx, ["a.csv", "b.csv"], sub.RunChoice("sma_cross", {"slow": 30}, opts)
    )
    sent = sub.read_back_runs(ctx, records)
    assert [s["source_key"] for s in sent] == ["a.csv", "b.csv"]
    for spec in sent:
        assert spec["params"] == {"fast": 10, "slow": 30}
        assert spec["options"]["commission"] == 0.0005
        assert spec["run_id"]


def test_read_back_sweep_reads_the_written_spec_json(ctx: AppContext) -> None:
    spec = _sweep(ctx, files=("a.csv",), sweep_id="sw-read")
    sub.submit_sweep(ctx, spec)
    record = sub.read_back_sweep(ctx, spec)
    assert record["sweep_id"] == "sw-read"
    assert record["n_combinations"] == 4  # fast 5,10,15 x slow 10,20 with fast < slow
    assert {item["name"] for item in record["space"]} == {"fast", "slow"}
    with pytest.raises(NotFoundError):
        sub.read_back_sweep(ctx, _sweep(ctx, files=("a.csv",), sweep_id="never-submitted"))


def test_format_usd_never_shows_a_cost_as_zero() -> None:
    assert sub.format_usd(0.6) == "$0.60"
    assert sub.format_usd(1234.5) == "$1,234.50"
    assert sub.format_usd(0.00082) == "$0.00082"  # a one-minute child at list prices
    assert sub.format_usd(0.0012345) == "$0.0012"
    assert sub.format_usd(0.0) == "$0.00"
