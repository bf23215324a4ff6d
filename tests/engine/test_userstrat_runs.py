"""A stored strategy file through the engine CLI, reruns and sweeps (issue 12 points 1, 2, 5):
the run stores the exact source and its sha256, reruns use the recorded copy, a sweep pins one
copy for every child and the collect."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.api import run_backtest, run_sweep
from engine.backtest import main as engine_main
from engine.cli_args import args_from_spec
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec, SimOptions
from engine.store.objects import LocalStore, Store
from engine.store.runs import spec_from_record, to_json_bytes
from engine.sweep.collect import collect
from engine.sweep.plan import ChunkPlan
from engine.sweep.results import spec_record
from engine.sweep.spec import SweepSpec
from engine.userstrat import put_strategy
from engine.userstrat.pin import pin_sweep_strategy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
IN, OUT = "input", "results"
NAME = "close_above_sma"


def source() -> str:
    return (EXAMPLES / f"{NAME}.py").read_text()


def flat_source() -> str:  # the same NAME, another rule: never in the market
    return source().replace(
        "return np.where(bars.close > average, 1.0, 0.0)", "return np.zeros(len(bars.close))"
    )


@pytest.fixture
def world(tmp_path: Path) -> tuple[LocalStore, dict[str, str], pd.DataFrame]:
    root = tmp_path / "store"
    (root / IN).mkdir(parents=True)
    (root / OUT).mkdir()
    store = LocalStore(root)
    prices = random_walk(1_500, seed=11)
    store.put_bytes(IN, "p.csv", prices.to_csv().encode())
    put_strategy(store, IN, source(), user="ana")
    return store, {"BACKTEST_STORAGE_ROOT": str(root)}, prices


def read_json(store: Store, key: str) -> dict:
    return json.loads(store.get_bytes(OUT, key))


def test_a_run_stores_the_source_and_its_sha256_and_a_rerun_uses_that_copy(world, capsys):
    store, env, prices = world
    args = [IN, "p.csv", OUT, "--strategy", NAME, "--param", "window=20", "--run-id", "r1"]
    assert engine_main(args, env) == 0
    assert capsys.readouterr().out.strip() == f"s3://{OUT}/runs/r1/"
    assert store.get_bytes(OUT, "runs/r1/strategy.py").decode() == source()
    record = read_json(store, "runs/r1/spec.json")
    sha = hashlib.sha256(source().encode()).hexdigest()
    assert record["strategy_sha256"] == sha
    assert record["strategy_source"] == f"s3://{OUT}/runs/r1/strategy.py"
    assert record["provenance"]["strategy"] == {
        "name": NAME,
        "sha256": sha,
        "loaded_from": f"s3://{IN}/strategies/{NAME}.py",
    }
    metrics = read_json(store, "runs/r1/metrics.json")
    builtin = run_backtest(prices, "sma_cross", {"fast": 1, "slow": 20})
    assert metrics["total_return"] == pytest.approx(builtin.metrics["total_return"], abs=1e-12)
    assert metrics["n_trades"] == builtin.metrics["n_trades"] > 0

    # the team changes the file, then removes it: the recorded spec still runs the old bytes
    put_strategy(store, IN, flat_source(), user="bob", overwrite=True)
    store.delete(IN, f"strategies/{NAME}.json")
    rerun = RunSpec.from_dict({**spec_from_record(record).to_dict(), "run_id": "r2"})
    assert engine_main(args_from_spec(rerun), env) == 0
    assert read_json(store, "runs/r2/metrics.json") == metrics  # not the flat rule's
    again = read_json(store, "runs/r2/spec.json")
    assert again["strategy_sha256"] == sha
    assert again["provenance"]["strategy"]["loaded_from"] == f"s3://{OUT}/runs/r1/strategy.py"


def test_a_tampered_copy_is_refused_in_one_line(world, capsys):
    store, env, _ = world
    assert engine_main([IN, "p.csv", OUT, "--strategy", NAME, "--run-id", "r1"], env) == 0
    record = read_json(store, "runs/r1/spec.json")
    store.put_bytes(OUT, "runs/r1/strategy.py", flat_source().encode())
    rerun = RunSpec.from_dict({**spec_from_record(record).to_dict(), "run_id": "r3"})
    capsys.readouterr()
    assert engine_main(args_from_spec(rerun), env) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: s3://results/runs/r1/strategy.py does not have the recorded")
    assert "\n" not in err
    assert read_json(store, "runs/r3/error.json")["kind"] == "bad_strategy"


def test_built_ins_come_first_and_an_unknown_name_is_one_line(world, capsys):
    store, env, _ = world
    assert engine_main([IN, "p.csv", OUT, "--run-id", "b1"], env) == 0
    record = read_json(store, "runs/b1/spec.json")
    assert "strategy_sha256" not in record and not store.exists(OUT, "runs/b1/strategy.py")
    assert engine_main([IN, "p.csv", OUT, "--strategy", "nope", "--run-id", "n1"], env) == 2
    err = capsys.readouterr().err
    assert "error: unknown strategy 'nope': not a built-in (bollinger_reversion, " in err
    assert "no strategy file s3://input/strategies/nope.py" in err
    assert read_json(store, "runs/n1/error.json")["kind"] == "bad_parameters"


def test_help_and_list_show_the_stored_files_parameters(world, capsys):
    _, env, _ = world
    assert engine_main([IN, "--help"], env) == 0
    out = capsys.readouterr().out
    assert "strategy files in s3://input/strategies/:" in out
    assert "close_above_sma: Long while close > SMA(close, window)" in out
    assert "window=15  [int 2..500]  SMA window, bars" in out
    assert engine_main(["--list-strategies", IN], env) == 0
    assert "window=15  [int 2..500]" in capsys.readouterr().out
    assert engine_main(["--list-strategies"], env) == 0
    assert "give SOURCE_BUCKET before --help to list them" in capsys.readouterr().out


def test_pinned_fields_round_trip_through_the_command_line():
    spec = RunSpec(
        IN, "p.csv", OUT, NAME, {"window": 9}, SimOptions(), "x1",
        strategy_source="s3://results/runs/r1/strategy.py", strategy_sha256="a" * 64,
    )  # fmt: skip
    from engine.cli_args import build_parser, spec_from_args

    assert spec_from_args(build_parser().parse_args(args_from_spec(spec))) == spec
    assert RunSpec.from_json(spec.to_json()) == spec
    with pytest.raises(Exception, match="go together"):
        RunSpec.from_dict({**spec.to_dict(), "strategy_sha256": None})


def test_a_sweep_pins_one_copy_for_every_child_and_the_collect(world):
    store, env, prices = world
    base = RunSpec(IN, "p.csv", OUT, NAME)
    spec = SweepSpec(sweep_id="sw1", base=base, space={"window": "10:40:10"}, top_n=2)
    pinned = pin_sweep_strategy(store, spec)
    assert store.get_bytes(OUT, "sweeps/sw1/strategy.py").decode() == source()
    key = "sweeps/sw1/spec.json"
    record = spec_record(pinned, 4, ChunkPlan(2, 2), "2024-01-01T00:00:00Z", "ana")
    store.put_bytes(OUT, key, to_json_bytes(record))
    uri = f"s3://{OUT}/{key}"
    assert engine_main(["--sweep", uri], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": "0"}) == 0
    # the file is edited mid-sweep: the next child and the collect still run the pinned copy
    put_strategy(store, IN, flat_source(), user="bob", overwrite=True)
    assert engine_main(["--sweep", uri], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": "1"}) == 0
    report = collect(store, OUT, "sw1", env=env)
    summary = pd.read_parquet(store.root / OUT / "sweeps/sw1/summary.parquet")
    want = run_sweep(prices, "sma_cross", {"fast": [1], "slow": [10, 20, 30, 40]})
    np.testing.assert_allclose(summary["sharpe"], want["sharpe"], rtol=1e-12)
    assert summary["window"].tolist() == [10, 20, 30, 40]
    assert report["best"]["params"] == {"window": int(want.iloc[want["sharpe"].idxmax()]["slow"])}
    top = read_json(store, "runs/sw1-top1/spec.json")
    assert top["strategy_sha256"] == hashlib.sha256(source().encode()).hexdigest()
    assert top["provenance"]["strategy"]["loaded_from"] == f"s3://{OUT}/sweeps/sw1/strategy.py"
    assert store.get_bytes(OUT, "runs/sw1-top1/strategy.py").decode() == source()


def test_an_unpinned_sweep_of_a_file_is_refused(world, capsys):
    store, env, _ = world
    spec = SweepSpec(sweep_id="sw2", base=RunSpec(IN, "p.csv", OUT, NAME), space={"window": [5]})
    record = spec_record(spec, 1, ChunkPlan(1, 1), "2024-01-01T00:00:00Z", "ana")
    store.put_bytes(OUT, "sweeps/sw2/spec.json", to_json_bytes(record))
    assert engine_main(["--sweep", f"s3://{OUT}/sweeps/sw2/spec.json"], env) == 2
    assert "without a pinned copy (sweeps/sw2/strategy.py)" in capsys.readouterr().err
