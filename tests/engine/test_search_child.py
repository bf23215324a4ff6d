"""A TPE round's array child: `--sweep URI --round R` evaluates its round's chunk from the
round file exactly like an ordinary chunk; bad rounds and round files are one line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.backtest import main as engine_main
from engine.spec import SimOptions
from engine.store.objects import LocalStore, Store, open_store
from engine.sweep.results import chunk_error_key, chunk_key, load_doc, returns_key
from engine.sweep.results import read_chunk as read_stored_chunk
from engine.sweep.search_results import read_trials
from tests._tpe_engine_helpers import put_prices, put_round, put_spec, run_round_child, tpe_sweep
from tests.engine.test_sweep_child import assert_rows_equal_single_runs, read_chunk

IN, OUT = "input", "results"
ROUND0 = [
    {"fast": 5, "slow": 30},
    {"fast": 10, "slow": 60},
    {"fast": 3, "slow": 22},
    {"fast": 40, "slow": 90},
]
ROUND1 = [
    {"fast": 7, "slow": 45},
    {"fast": 12, "slow": 33},
    {"fast": 20, "slow": 80},
    {"fast": 2, "slow": 21},
]
ROUND2 = [{"fast": 9, "slow": 50}, {"fast": 15, "slow": 70}]


@pytest.fixture
def local(tmp_path: Path) -> tuple[Store, dict[str, str]]:
    for b in (IN, OUT):
        (tmp_path / b).mkdir()
    return LocalStore(tmp_path), {"BACKTEST_STORAGE_ROOT": str(tmp_path)}


def test_round_children_write_their_global_chunks(local, capsys) -> None:
    store, env = local
    prices = put_prices(store, IN)
    spec = tpe_sweep(IN, OUT)  # 10 trials, rounds of 4, chunks of 2: rounds = chunks 0-1, 2-3, 4
    uri = put_spec(store, spec, chunk_size=2)
    put_round(store, spec, 0, ROUND0)
    put_round(store, spec, 1, ROUND1)
    put_round(store, spec, 2, ROUND2)
    assert run_round_child(uri, env, 1, 1) == 0  # round 1's child 1 = global chunk 3
    out = capsys.readouterr().out
    assert "chunk 3: 2 backtests -> " in out and out.rstrip().endswith("chunks/3.parquet")
    rows, matrix = read_chunk(store, spec.sweep_id, 3)
    assert rows["combo_id"].tolist() == [6, 7]
    assert rows[["fast", "slow"]].to_dict("records") == ROUND1[2:]
    assert matrix.shape[0] == 2 and matrix.dtype == np.float32
    assert_rows_equal_single_runs(rows, {"a.csv": prices}, "sma_cross", SimOptions())
    assert not store.exists(OUT, chunk_key(spec.sweep_id, 1))  # only its own chunk
    # round 2 has one chunk: a plain job (no array index) is its child 0 = global chunk 4
    assert run_round_child(uri, env, 2, None) == 0
    assert read_chunk(store, spec.sweep_id, 4)[0]["combo_id"].tolist() == [8, 9]
    for r, i in ((0, 0), (0, 1), (1, 0)):
        assert run_round_child(uri, env, r, i) == 0
    trials = read_trials(store, OUT, load_doc(store, OUT, uri.split("/", 3)[3]), 2)
    assert trials["combo_id"].tolist() == list(range(10))
    params = trials[["fast", "slow"]].to_dict("records")
    assert params == ROUND0 + ROUND1 + ROUND2
    assert trials["round"].tolist() == [0] * 4 + [1] * 4 + [2] * 2


def test_the_resume_form_without_round_takes_the_global_chunk(local) -> None:
    store, env = local
    prices = put_prices(store, IN)
    spec = tpe_sweep(IN, OUT)
    uri = put_spec(store, spec, chunk_size=2)
    put_round(store, spec, 0, ROUND0)
    put_round(store, spec, 1, ROUND1)
    assert engine_main(["--sweep", uri], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": "2"}) == 0
    rows = read_chunk(store, spec.sweep_id, 2)[0]
    assert rows["combo_id"].tolist() == [4, 5]
    assert rows[["fast", "slow"]].to_dict("records") == ROUND1[:2]
    assert_rows_equal_single_runs(rows, {"a.csv": prices}, "sma_cross", SimOptions())


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_bad_rounds_are_one_line_and_write_nothing(local, capsys) -> None:
    store, env = local
    put_prices(store, IN)
    spec = tpe_sweep(IN, OUT)
    uri = put_spec(store, spec, chunk_size=2)
    put_round(store, spec, 0, ROUND0)
    assert run_round_child(uri, env, 3, 0) == 2
    assert "--round 3 is outside this search's rounds 0..2" in one_error_line(capsys)
    assert run_round_child(uri, env, -1, 0) == 2
    assert "outside this search's rounds 0..2" in one_error_line(capsys)
    assert run_round_child(uri, env, 0, 2) == 2  # round 0 has 2 children
    assert "AWS_BATCH_JOB_ARRAY_INDEX=2 is out of range 0..1" in one_error_line(capsys)
    assert run_round_child(uri, env, 0, None) == 2
    assert "not set; round 0 of 2 chunks runs as an array job" in one_error_line(capsys)
    assert run_round_child(uri, env, 1, 0) == 2  # round 1 not asked yet
    line = one_error_line(capsys)
    assert "search/round-1.json does not exist: round 1 was not asked yet" in line
    assert f"python -m jobs search-step {uri} --round 0" in line
    assert engine_main(["--round", "1"], env) == 2
    assert "--round R goes with --sweep" in one_error_line(capsys)
    assert engine_main(["--sweep", uri, "--round", "x"], env) == 2
    assert "--round" in one_error_line(capsys)
    written = [p.name for p in (Path(env["BACKTEST_STORAGE_ROOT"]) / OUT).rglob("*")]
    assert not any(n.endswith((".parquet", ".npy")) or "error" in n for n in written)


def test_round_on_a_grid_sweep_is_refused(local, capsys) -> None:
    from engine.sweep.plan import ChunkPlan
    from tests.engine.test_sweep_child import sweep, write_spec

    store, env = local
    put_prices(store, IN)
    uri = write_spec(store, sweep({"fast": [5, 10], "slow": [20, 40]}), 4, ChunkPlan(2, 2))
    assert run_round_child(uri, env, 0, 0) == 2
    assert "--round applies to a TPE search; sweep sw is a grid sweep" in one_error_line(capsys)


def test_a_trial_breaking_a_rule_fails_its_chunk_only(local, capsys) -> None:
    store, env = local
    put_prices(store, IN)
    spec = tpe_sweep(IN, OUT)
    uri = put_spec(store, spec, chunk_size=2)
    bad = [*ROUND0[:2], {"fast": 30, "slow": 25}, ROUND0[3]]  # fast >= slow
    put_round(store, spec, 0, bad)
    assert run_round_child(uri, env, 0, 1) == 0  # an input error: recorded, exit 0
    assert "fast" in capsys.readouterr().err
    assert store.exists(OUT, chunk_error_key(spec.sweep_id, 1))
    assert not store.exists(OUT, returns_key(spec.sweep_id, 1))
    assert run_round_child(uri, env, 0, 0) == 0
    with pytest.raises(Exception, match=r"round 0 chunk 1 of sweep tpe1 failed: .*fast"):
        read_trials(store, OUT, load_doc(store, OUT, f"sweeps/{spec.sweep_id}/spec.json"), 0)


def test_a_value_off_the_space_or_a_foreign_round_file_is_refused(local, capsys) -> None:
    store, env = local
    put_prices(store, IN)
    spec = tpe_sweep(IN, OUT)
    uri = put_spec(store, spec, chunk_size=2)
    put_round(store, spec, 0, [*ROUND0[:3], {"fast": 41, "slow": 90}])
    assert run_round_child(uri, env, 0, 1) == 2
    assert "trial 3 has fast=41, outside 2:40:1" in one_error_line(capsys)
    put_round(store, spec, 1, [{"fast": 5}] * 4)
    assert run_round_child(uri, env, 1, 0) == 2
    assert "trial 4 sets ['fast'], not the searched parameters" in one_error_line(capsys)


def test_round_child_on_s3(aws_env: str, capsys) -> None:
    env = dict(os.environ)
    store = open_store(env)
    ins, outs = "tpe-child-in", "tpe-child-out"
    for b in (ins, outs):
        store.create_bucket(b)
    prices = put_prices(store, ins)
    spec = tpe_sweep(ins, outs, n=6, round_size=3, sweep_id="s3tpe")
    uri = put_spec(store, spec, chunk_size=3)  # one chunk per round: plain jobs
    put_round(store, spec, 0, ROUND0[:3])
    put_round(store, spec, 1, ROUND1[:3])
    assert run_round_child(uri, env, 1, None) == 0
    assert f"s3://{outs}/sweeps/s3tpe/chunks/1.parquet" in capsys.readouterr().out
    rows = read_stored_chunk(store, outs, "s3tpe", 1)
    assert rows["combo_id"].tolist() == [3, 4, 5]
    assert_rows_equal_single_runs(rows, {"a.csv": prices}, "sma_cross", SimOptions())
