"""The engine CLI as a subprocess: S3 on a moto server on 127.0.0.1, and a local storage root.

Subprocesses are slow (numba import), so each one checks several things: exit code, the
single stderr line, the printed prefix and the files written.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pandas as pd
import pytest

from engine.backtest import main
from engine.sim.synthetic import random_walk

REPO = Path(__file__).resolve().parents[2]
IN_BUCKET, OUT_BUCKET = "cli-input", "cli-results"
METRIC_KEYS = {
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration",
    "calmar",
    "n_trades",
    "win_rate",
    "profit_factor",
    "avg_trade_return",
    "exposure",
    "final_equity",
    "buy_hold_return",
    "periods_per_year",
    "ruined",
    "ruined_at",  # the ruin contract (engine/api.py, H2)
}
RUN_FILES = ["_SUCCESS", "equity.parquet", "metrics.json", "spec.json", "trades.parquet"]
GOOD_CSV = random_walk(300, seed=3).to_csv().encode()
BAD_CSV = b"timestamp,open,high,low,close\n2024-01-01,1,2,0.5,abc\n2024-01-02,1,2,0.5,1\n"


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKTEST_", "AWS_"))}
    env["PYTHONPATH"] = ""
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_CONFIG_FILE"] = os.devnull
    return env


def _s3_env(endpoint: str) -> dict[str, str]:
    return _base_env() | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_MAX_ATTEMPTS": "1",
        "BACKTEST_S3_CONNECT_TIMEOUT": "2",
    }


def _run(
    args: list[str], env: dict[str, str], *, file_form: bool = False, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    entry = [str(REPO / "engine" / "backtest.py")] if file_form else ["-m", "engine.backtest"]
    return subprocess.run(
        [sys.executable, *entry, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=False,
        text=True,
        timeout=180,
    )


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert text in lines[0]
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def s3(moto_server: str) -> boto3.client:
    """A boto3 client on moto with the input (a good and a bad CSV) and result buckets."""
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for bucket in (IN_BUCKET, OUT_BUCKET):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=IN_BUCKET, Key="prices/good.csv", Body=GOOD_CSV)
    client.put_object(Bucket=IN_BUCKET, Key="prices/bad.csv", Body=BAD_CSV)
    return client


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    """A storage root with an input bucket (good and bad CSV) and an empty result bucket."""
    root = tmp_path / "data"
    (root / IN_BUCKET / "prices").mkdir(parents=True)
    (root / OUT_BUCKET).mkdir()
    (root / IN_BUCKET / "prices" / "good.csv").write_bytes(GOOD_CSV)
    (root / IN_BUCKET / "prices" / "bad.csv").write_bytes(BAD_CSV)
    return root


def _local_env(root: Path) -> dict[str, str]:
    return _base_env() | {"BACKTEST_STORAGE_ROOT": str(root)}


def _s3_json(client: boto3.client, key: str) -> dict:
    return json.loads(client.get_object(Bucket=OUT_BUCKET, Key=key)["Body"].read())


def _s3_parquet(client: boto3.client, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(client.get_object(Bucket=OUT_BUCKET, Key=key)["Body"].read()))


def test_s3_run_writes_the_result_layout(s3: boto3.client, moto_server: str) -> None:
    args = [IN_BUCKET, "prices/good.csv", OUT_BUCKET, "--run-id", "s3-ok", "--fill", "close"]
    args += ["--param", "fast=5", "--param", "slow=20", "--commission", "0.002"]
    proc = _run(args, _s3_env(moto_server))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"s3://{OUT_BUCKET}/runs/s3-ok/"

    listed = s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="runs/s3-ok/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listed) == RUN_FILES
    metrics = _s3_json(s3, "runs/s3-ok/metrics.json")
    assert set(metrics) == METRIC_KEYS
    assert metrics["final_equity"] > 0
    spec = _s3_json(s3, "runs/s3-ok/spec.json")
    assert spec["strategy"] == "sma_cross"
    assert spec["params"] == {"fast": 5, "slow": 20}
    assert spec["options"]["fill"] == "close"
    assert spec["options"]["commission"] == 0.002
    assert spec["run_id"] == "s3-ok"
    prov = spec["provenance"]
    assert prov["input"]["etag"] == s3.head_object(Bucket=IN_BUCKET, Key="prices/good.csv")[
        "ETag"
    ].strip('"')
    assert prov["input"]["size"] == len(GOOD_CSV)
    assert prov["data"]["bars"] == 300
    equity = _s3_parquet(s3, "runs/s3-ok/equity.parquet")
    assert list(equity.columns)[:5] == ["timestamp", "equity", "drawdown", "position", "benchmark"]
    assert len(equity) == 300
    assert equity["equity"].iloc[-1] == pytest.approx(metrics["final_equity"])
    trades = _s3_parquet(s3, "runs/s3-ok/trades.parquet")
    assert len(trades) == metrics["n_trades"]


def test_seed_compatible_three_arguments_file_form(local_root: Path, tmp_path: Path) -> None:
    # `python /abs/path/engine/backtest.py SRC KEY DST` from an unrelated working directory
    proc = _run(
        [IN_BUCKET, "prices/good.csv", OUT_BUCKET],
        _local_env(local_root),
        file_form=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    m = re.fullmatch(rf"s3://{OUT_BUCKET}/runs/(\d{{8}}T\d{{6}}-sma_cross-[0-9a-f]{{6}})/", last)
    assert m, last
    folder = local_root / OUT_BUCKET / "runs" / m.group(1)
    assert sorted(p.name for p in folder.iterdir()) == RUN_FILES
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["params"] == {"fast": 10, "slow": 50}
    assert spec["options"]["fill"] == "next_open"
    assert set(json.loads((folder / "metrics.json").read_text())) == METRIC_KEYS


def test_run_from_inside_the_engine_folder(local_root: Path) -> None:
    args = [IN_BUCKET, "prices/good.csv", OUT_BUCKET, "--strategy", "buy_and_hold"]
    args += ["--run-id", "bh", "--cash", "5000", "--lot-size", "10"]
    proc = subprocess.run(
        [sys.executable, "backtest.py", *args],
        env=_local_env(local_root),
        cwd=REPO / "engine",
        capture_output=True,
        check=False,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    folder = local_root / OUT_BUCKET / "runs" / "bh"
    assert (folder / "_SUCCESS").exists()
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["strategy"] == "buy_and_hold"
    assert spec["options"]["cash"] == 5000
    assert spec["options"]["lot_size"] == 10


def test_missing_source_bucket_and_key_on_s3(s3: boto3.client, moto_server: str) -> None:
    env = _s3_env(moto_server)
    proc = _run(["no-such-bucket", "prices/good.csv", OUT_BUCKET, "--run-id", "nb"], env)
    _assert_one_line_error(proc, 2, "bucket 'no-such-bucket' does not exist")
    err = _s3_json(s3, "runs/nb/error.json")
    assert err["kind"] == "not_found" and err["run_id"] == "nb"
    assert "does not exist" in err["error"]

    proc = _run([IN_BUCKET, "prices/missing.csv", OUT_BUCKET, "--run-id", "nk"], env)
    _assert_one_line_error(proc, 2, f"no key 'prices/missing.csv' in bucket '{IN_BUCKET}'")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="runs/nk/")["Contents"]]
    assert keys == ["runs/nk/error.json"]  # never a _SUCCESS for a failed run


def test_unreachable_endpoint_exits_1() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _run([IN_BUCKET, "prices/good.csv", OUT_BUCKET], _s3_env(f"http://127.0.0.1:{port}"))
    _assert_one_line_error(proc, 1, f"cannot reach S3 at http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("extra", "kind", "text"),
    [
        (["--strategy", "nope"], "bad_parameters", "nope"),
        (["--param", "speed=3"], "bad_parameters", "speed"),
        (["--param", "fast=100000"], "bad_parameters", "fast"),
        (["--param", "fast=60", "--param", "slow=20"], "bad_parameters", "slow"),
        (["--cash", "-5"], "bad_parameters", "cash"),
    ],
)
def test_bad_parameters_exit_2_and_write_error_json(
    local_root: Path, extra: list[str], kind: str, text: str
) -> None:
    proc = _run(
        [IN_BUCKET, "prices/good.csv", OUT_BUCKET, "--run-id", "bad", *extra],
        _local_env(local_root),
    )
    _assert_one_line_error(proc, 2, text)
    folder = local_root / OUT_BUCKET / "runs" / "bad"
    assert sorted(p.name for p in folder.iterdir()) == ["error.json"]
    assert json.loads((folder / "error.json").read_text())["kind"] == kind


def test_malformed_csv_exit_2(local_root: Path) -> None:
    proc = _run(
        [IN_BUCKET, "prices/bad.csv", OUT_BUCKET, "--run-id", "badcsv"], _local_env(local_root)
    )
    _assert_one_line_error(proc, 2, "bad.csv")
    err = json.loads((local_root / OUT_BUCKET / "runs" / "badcsv" / "error.json").read_text())
    assert err["kind"] == "bad_data"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ([IN_BUCKET, "prices/good.csv", OUT_BUCKET, "--fill", "sometime"], "--fill"),
        ([IN_BUCKET, "prices/good.csv", OUT_BUCKET, "--run-id", "../../etc"], "invalid run id"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    local_root: Path, args: list[str], text: str
) -> None:
    proc = _run(args, _local_env(local_root))
    _assert_one_line_error(proc, 2, text)
    assert list((local_root / OUT_BUCKET).iterdir()) == []
    assert not (local_root.parent / "etc").exists()


def test_key_leaving_the_bucket_is_refused(local_root: Path) -> None:
    (local_root / "outside.csv").write_bytes(GOOD_CSV)  # would be reachable via ../
    proc = _run(
        [IN_BUCKET, "../outside.csv", OUT_BUCKET, "--run-id", "esc"], _local_env(local_root)
    )
    _assert_one_line_error(proc, 2, "invalid key '../outside.csv'")
    folder = local_root / OUT_BUCKET / "runs" / "esc"
    assert sorted(p.name for p in folder.iterdir()) == ["error.json"]
    assert json.loads((folder / "error.json").read_text())["kind"] == "bad_parameters"


def test_help_lists_strategies_and_options() -> None:
    proc = _run(["--help"], _base_env())
    assert proc.returncode == 0, proc.stderr
    from engine.sim.strategies import STRATEGIES

    for name, strategy in STRATEGIES.items():
        assert name in proc.stdout
        for p in strategy.params:
            assert p.name in proc.stdout
    for flag in (
        "--cash",
        "--commission",
        "--fee",
        "--slippage-bps",
        "--fill",
        "--lot-size",
        "--allow-short",
        "--stop-loss",
        "--take-profit",
        "--periods-per-year",
        "--risk-free",
        "--param",
        "--run-id",
        "--list-strategies",
        "--sweep",
    ):
        assert flag in proc.stdout


# In-process checks of the argument layer (no storage touched before these fail).


def test_list_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-strategies"]) == 0
    out = capsys.readouterr().out
    assert "sma_cross" in out and "fast=10" in out and "slow=50" in out


def test_missing_positional_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([IN_BUCKET]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: the following arguments are required: SOURCE_KEY, RESULT_BUCKET"]


def test_param_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([IN_BUCKET, "k.csv", OUT_BUCKET, "--param", "fast"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_a_sweep_child_without_its_spec_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = {"BACKTEST_STORAGE_ROOT": str(tmp_path)}
    code = main(["--sweep", "s3://res-bkt/sweeps/x/spec.json"], env)
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_result_bucket(local_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"BACKTEST_STORAGE_ROOT": str(local_root)}
    assert main([IN_BUCKET, "prices/good.csv", "no-results", "--run-id", "x1"], env) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: bucket 'no-results' does not exist")
    assert not (local_root / "no-results").exists()
