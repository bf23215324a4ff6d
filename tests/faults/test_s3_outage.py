"""The S3 endpoint stops in the middle of an engine run, then comes back.

The test owns its moto server (never the shared fixture's) so it can stop it. The engine CLI
runs in-process (``engine.backtest.main``) on the real S3 store, wrapped so that the server is
stopped at a chosen point of the run: after the input is read, or after the first result file
is written. Moto keeps its state in this process, so a new server on the same port sees the
same buckets, as S3 would after an outage.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

import engine.backtest as cli
from engine.sim.synthetic import random_walk
from engine.store.objects import Store, open_store
from engine.store.runs import read_run
from tests._store_wrappers import PassThroughStore

RUN_FILES = ["_SUCCESS", "equity.parquet", "metrics.json", "spec.json", "trades.parquet"]


class Endpoint:
    """A moto server this test can stop and start again on the same port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        """Serve on the port (state lives in this process, so it survives a restart)."""
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket: new connections are refused."""
        if self.server is not None:
            self.server.stop()
            self.server._server.server_close()  # type: ignore[union-attr]
            self.server = None


class StopsServer(PassThroughStore):
    """The real store; the endpoint stops right after the first call of ``op`` returns."""

    def __init__(self, inner: Store, endpoint: Endpoint, op: str) -> None:
        super().__init__(inner)
        self.endpoint, self.op = endpoint, op
        self.calls: list[str] = []

    def _did(self, op: str) -> None:
        self.calls.append(op)
        if op == self.op and self.calls.count(op) == 1:
            self.endpoint.stop()

    def get_bytes(self, bucket: str, key: str) -> bytes:
        out = self.inner.get_bytes(bucket, key)
        self._did("get_bytes")
        return out

    def head(self, bucket: str, key: str) -> Any:
        out = self.inner.head(bucket, key)
        self._did("head")
        return out

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.inner.put_bytes(bucket, key, data)
        self._did("put_bytes")

    def delete(self, bucket: str, key: str) -> None:
        self.inner.delete(bucket, key)
        self._did("delete")


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    point = Endpoint()
    point.start()
    yield point
    point.stop()


def s3_env(url: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "AWS_ENDPOINT_URL_S3": url,
    }


@pytest.mark.slow
@pytest.mark.parametrize("stop_after", ["head", "put_bytes"])  # input read | first result put
def test_s3_stops_mid_run_then_a_retry_rewrites_the_prefix(
    endpoint: Endpoint,
    stop_after: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = s3_env(endpoint.url)
    s3 = boto3.client("s3", endpoint_url=endpoint.url, **_creds())
    src, dst = f"in-{uuid.uuid4().hex[:10]}", f"out-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=dst)
    argv = [src, "prices.csv", dst, "--run-id", "r1"]
    # an earlier failed attempt of the same run id left an error.json
    assert cli.main(argv, env) == 2
    assert "error.json" in _keys(s3, dst, "runs/r1/")
    s3.put_object(Bucket=src, Key="prices.csv", Body=random_walk(3000, seed=4).to_csv().encode())
    capsys.readouterr()

    wrappers: list[StopsServer] = []

    def open_stopping(e: Any = None) -> Store:
        wrappers.append(StopsServer(open_store(e), endpoint, stop_after))
        return wrappers[-1]

    monkeypatch.setattr(cli, "open_store", open_stopping)
    assert cli.main(argv, env) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: cannot reach S3 at {endpoint.url}")
    assert wrappers[0].calls[:2] == ["get_bytes", "head"]  # the input had been read

    endpoint.start()  # the endpoint is back, with the objects it held
    s3 = boto3.client("s3", endpoint_url=endpoint.url, **_creds())
    left = _keys(s3, dst, "runs/r1/")
    assert "_SUCCESS" not in left
    if stop_after == "put_bytes":  # half-written, and no reader takes it for finished
        assert left == ["spec.json"]
    else:
        assert left == ["error.json"]  # the stale error of the earlier attempt

    monkeypatch.setattr(cli, "open_store", open_store)
    assert cli.main(argv, env) == 0
    assert capsys.readouterr().out.strip() == f"s3://{dst}/runs/r1/"
    assert _keys(s3, dst, "runs/r1/") == RUN_FILES
    spec, metrics, equity, _ = read_run(open_store(env), dst, "r1")
    assert spec["run_id"] == "r1" and len(equity) == 3000 and metrics["final_equity"] > 0


def _creds() -> dict[str, str]:
    return {
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    out = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"][len(prefix) :] for o in out)
