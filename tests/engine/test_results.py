"""engine.store.runs: the run layout, _SUCCESS last, stale markers, provenance, read-back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import engine
from engine.errors import NotFoundError, ParamError
from engine.spec import RunSpec, SimOptions
from engine.store.objects import LocalStore, ObjectInfo, Store
from engine.store.runs import (
    InputFile,
    RunFiles,
    RunStatus,
    UnfinishedRunError,
    list_runs,
    make_spec_record,
    read_error,
    read_run,
    read_run_records,
    run_status,
    spec_from_record,
    write_error,
    write_run,
)
from tests._store_wrappers import PassThroughStore

BUCKET = "res-bkt"


@dataclass
class FakeResult:
    """Just the three attributes write_run reads from a BacktestResult."""

    metrics: dict[str, Any]
    equity: pd.DataFrame
    trades: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _result() -> FakeResult:
    idx = pd.DatetimeIndex(pd.date_range("2024-01-01", periods=4, freq="D"), name="timestamp")
    equity = pd.DataFrame(
        {
            "equity": [100.0, 110.0, 99.0, 120.0],
            "drawdown": [0.0, 0.0, 0.1, 0.0],
            "position": [0.0, 1.0, 1.0, 0.0],
            "benchmark": [100.0, 105.0, 101.0, 108.0],
        },
        index=idx,
    )
    trades = pd.DataFrame(
        {
            "entry_time": [idx[1]],
            "exit_time": [idx[3]],
            "side": ["long"],
            "units": [1.5],
            "entry_price": [10.0],
            "exit_price": [12.0],
            "pnl": [3.0],
            "return": [0.2],
            "bars_held": [2],
            "exit_reason": ["signal"],
        }
    )
    metrics = {
        "total_return": 0.2,
        "sharpe": float("nan"),
        "profit_factor": float("inf"),
        "n_trades": np.int64(1),
        "final_equity": np.float64(120.0),
    }
    return FakeResult(metrics, equity, trades)


class RecordingStore(PassThroughStore):
    """Wraps a real store and records every write and delete, in order."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.ops: list[tuple[str, str]] = []

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.ops.append(("put", key))
        self.inner.put_bytes(bucket, key, data)

    def delete(self, bucket: str, key: str) -> None:
        self.ops.append(("delete", key))
        self.inner.delete(bucket, key)


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    inner = LocalStore(tmp_path / "root")
    inner.create_bucket(BUCKET)
    return RecordingStore(inner)


def _keys(store: Store, run_id: str) -> list[str]:
    return [o.key for o in store.list(BUCKET, f"runs/{run_id}/")]


def test_layout_and_success_written_last(store: RecordingStore) -> None:
    prefix = write_run(store, BUCKET, "r1", RunFiles({"strategy": "sma_cross"}, _result()))
    assert prefix == "runs/r1/"
    assert _keys(store, "r1") == [
        "runs/r1/_SUCCESS",
        "runs/r1/equity.parquet",
        "runs/r1/metrics.json",
        "runs/r1/spec.json",
        "runs/r1/trades.parquet",
    ]
    puts = [k for op, k in store.ops if op == "put"]
    assert puts[-1] == "runs/r1/_SUCCESS"
    assert len(puts) == 5
    # stale markers are removed before anything is written
    first_put = store.ops.index(("put", puts[0]))
    deleted_first = {k for op, k in store.ops[:first_put] if op == "delete"}
    assert deleted_first == {"runs/r1/_SUCCESS", "runs/r1/error.json"}


def test_files_contents(store: RecordingStore, tmp_path: Path) -> None:
    write_run(store, BUCKET, "r2", RunFiles({"strategy": "sma_cross", "x": 1}, _result()))
    metrics = json.loads(store.get_bytes(BUCKET, "runs/r2/metrics.json"))
    assert metrics == {
        "total_return": 0.2,
        "sharpe": None,
        "profit_factor": None,
        "n_trades": 1,
        "final_equity": 120.0,
    }
    assert json.loads(store.get_bytes(BUCKET, "runs/r2/spec.json")) == {
        "strategy": "sma_cross",
        "x": 1,
    }
    folder = tmp_path / "root" / BUCKET / "runs" / "r2"
    given = _result()
    equity = pq.read_table(folder / "equity.parquet").to_pandas()
    assert equity.columns[0] == "timestamp"  # the index becomes the first column
    assert equity["timestamp"].iloc[0] == pd.Timestamp("2024-01-01")
    pd.testing.assert_frame_equal(equity.set_index("timestamp"), given.equity, check_freq=False)
    trades = pq.read_table(folder / "trades.parquet").to_pandas()
    pd.testing.assert_frame_equal(trades, given.trades)  # as given, columns in their order
    assert store.get_bytes(BUCKET, "runs/r2/_SUCCESS") == b""


def test_rerun_clears_stale_error_and_failure_clears_success(store: RecordingStore) -> None:
    write_error(store, BUCKET, "r3", ParamError("fast must be < slow"))
    assert run_status(store, BUCKET, "r3") == "failed"
    assert read_error(store, BUCKET, "r3")["error"] == "fast must be < slow"

    write_run(store, BUCKET, "r3", RunFiles({}, _result()))
    assert run_status(store, BUCKET, "r3") == "succeeded"
    assert "runs/r3/error.json" not in _keys(store, "r3")

    record = write_error(store, BUCKET, "r3", RuntimeError("boom\nsecond line"), "internal")
    assert record["error"] == "boom second line"
    assert _keys(store, "r3") == ["runs/r3/error.json"]  # no stale results either
    assert run_status(store, BUCKET, "r3") == "failed"


def test_list_runs_reads_each_state_from_one_listing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    assert list_runs(store, BUCKET) == []  # no result bucket yet
    store.create_bucket(BUCKET)
    write_run(store, BUCKET, "done", RunFiles({"run_id": "done"}, _result()))
    write_error(store, BUCKET, "broke", ParamError("fast must be < slow"))
    store.put_bytes(BUCKET, "runs/halfway/spec.json", b"{}")  # started, no marker yet
    store.put_bytes(BUCKET, "runs/deep/a/b.json", b"{}")  # not a run file: ignored
    listed = {r.run_id: r.status for r in list_runs(store, BUCKET)}
    assert listed == {
        "done": RunStatus.SUCCEEDED,
        "broke": RunStatus.FAILED,
        "halfway": RunStatus.UNFINISHED,
    }
    for run_id, status in listed.items():
        assert run_status(store, BUCKET, run_id) is status
    assert run_status(store, BUCKET, "nope") is RunStatus.MISSING
    assert RunStatus.FAILED == "failed"  # a str: JSON and frames hold the plain value
    spec, metrics = read_run_records(store, BUCKET, "done")
    assert spec == {"run_id": "done"} and isinstance(metrics, dict)
    store.put_bytes(BUCKET, "runs/halfway/metrics.json", b"{not json")
    with pytest.raises(ParamError, match="not valid JSON"):
        read_run_records(store, BUCKET, "halfway")
    with pytest.raises(NotFoundError):
        read_run_records(store, BUCKET, "broke")


def test_error_json_fields(store: RecordingStore) -> None:
    write_error(store, BUCKET, "r4", NotFoundError("no key 'x.csv' in bucket 'in-bkt'"))
    err = json.loads(store.get_bytes(BUCKET, "runs/r4/error.json"))
    assert set(err) == {"error", "kind", "run_id", "at"}
    assert err["kind"] == "not_found"
    assert err["run_id"] == "r4"
    assert err["at"].endswith("Z")


def test_read_run_roundtrip_and_unfinished(store: RecordingStore) -> None:
    write_run(store, BUCKET, "r5", RunFiles({"strategy": "sma_cross"}, _result()))
    spec, metrics, equity, trades = read_run(store, BUCKET, "r5")
    assert spec == {"strategy": "sma_cross"}
    assert metrics["sharpe"] is None
    assert equity.index.name == "timestamp"
    pd.testing.assert_frame_equal(equity, _result().equity, check_freq=False)
    pd.testing.assert_frame_equal(trades, _result().trades)

    store.delete(BUCKET, "runs/r5/_SUCCESS")
    with pytest.raises(UnfinishedRunError, match="not finished"):
        read_run(store, BUCKET, "r5")
    write_error(store, BUCKET, "r5", ParamError("bad"))
    with pytest.raises(UnfinishedRunError, match="failed") as info:
        read_run(store, BUCKET, "r5")
    assert info.value.error is not None and info.value.error["error"] == "bad"
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        read_run(store, BUCKET, "nope")
    assert run_status(store, BUCKET, "nope") == "missing"


@pytest.mark.parametrize("run_id", ["../x", "a/b", "..", "/etc/passwd", "a/../../b", ""])
def test_bad_run_ids_write_nothing(store: RecordingStore, run_id: str) -> None:
    with pytest.raises(ParamError, match="invalid run id"):
        write_run(store, BUCKET, run_id, RunFiles({}, _result()))
    with pytest.raises(ParamError, match="invalid run id"):
        write_error(store, BUCKET, run_id, ParamError("x"))
    assert store.ops == []
    assert store.list(BUCKET) == []


def test_spec_record_provenance() -> None:
    data = b"timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n"
    prices = pd.DataFrame(
        {"open": [1.0, 2.0], "high": [1.0, 2.0], "low": [1.0, 2.0], "close": [1.0, 2.0]},
        index=pd.DatetimeIndex(["2024-01-01", "2024-03-01"], name="timestamp"),
    )
    prices.attrs["warnings"] = ["rows were not sorted; sorted by date"]
    spec = RunSpec(
        "in-bkt",
        "prices/a.csv",
        "res-bkt",
        "sma_cross",
        {"fast": "5"},
        SimOptions(fill="close"),
        run_id="r6",
    )
    info = ObjectInfo("in-bkt", "prices/a.csv", len(data), None, "abc123")
    record = make_spec_record(
        spec,
        params={"fast": 5, "slow": 50},
        input_file=InputFile(data, info),
        prices=prices,
        env={"BACKTEST_IMAGE_DIGEST": "sha256:feed"},
    )
    prov = record["provenance"]
    assert prov["input"] == {
        "uri": "s3://in-bkt/prices/a.csv",
        "etag": "abc123",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "modified": None,
    }
    assert prov["data"]["bars"] == 2
    assert prov["data"]["first"].startswith("2024-01-01")
    assert prov["data"]["last"].startswith("2024-03-01")
    assert prov["data"]["warnings"] == ["rows were not sorted; sorted by date"]
    assert prov["engine_version"] == engine.__version__
    assert prov["image_digest"] == "sha256:feed"
    assert prov["requested_params"] == {"fast": "5"}
    assert set(prov["versions"]) >= {"numba", "numpy", "pandas"}
    assert record["params"] == {"fast": 5, "slow": 50}
    assert record["options"]["fill"] == "close"
    assert set(record["options"]) == set(SimOptions.__dataclass_fields__)
    # the record is JSON-able and the RunSpec inside it reproduces the run
    again = spec_from_record(json.loads(json.dumps(record)))
    assert again.params == {"fast": 5, "slow": 50}
    assert again.options == spec.options
    assert again.run_id == "r6"
