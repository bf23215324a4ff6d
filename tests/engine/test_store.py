"""engine.store.objects: the same behaviour on a local root and on S3 (moto server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from engine.errors import InfraError, NotFoundError, ParamError
from engine.store.objects import (
    LocalStore,
    StorageUnreachable,
    Store,
    open_store,
    validate_bucket,
    validate_key,
)
from engine.store.s3 import S3Store

BAD_KEYS = ["../x", "/etc/passwd", "a/../../b", "a//b", "", "a/./b", "..", "a\\..\\b", "x\x00y"]
BAD_BUCKETS = ["..", "a/b", "../etc", "", "x", "-bad", "a..b"]


def _s3_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_MAX_ATTEMPTS": "1",
    }


@pytest.fixture(params=["local", "s3"])
def store_bucket(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Store, str]:
    """(store, an existing empty bucket) for each backend."""
    bucket = f"bkt-{uuid.uuid4().hex[:12]}"
    if request.param == "local":
        store: Store = LocalStore(tmp_path / "root")
    else:
        endpoint = request.getfixturevalue("moto_server")
        store = open_store(_s3_env(endpoint))
        assert isinstance(store, S3Store)
    store.create_bucket(bucket)
    return store, bucket


def test_put_get_head_list_delete_roundtrip(store_bucket: tuple[Store, str]) -> None:
    store, bucket = store_bucket
    store.put_bytes(bucket, "runs/r1/metrics.json", b'{"a": 1}')
    store.put_bytes(bucket, "runs/r1/_SUCCESS", b"")
    store.put_bytes(bucket, "runs/r2/spec.json", b"spec")
    store.put_bytes(bucket, "top.csv", b"x,y\n")

    assert store.get_bytes(bucket, "runs/r1/metrics.json") == b'{"a": 1}'
    info = store.head(bucket, "runs/r2/spec.json")
    assert (info.bucket, info.key, info.size) == (bucket, "runs/r2/spec.json", 4)
    assert info.modified is not None
    assert store.exists(bucket, "top.csv")
    assert not store.exists(bucket, "runs/r3/spec.json")
    assert not store.exists(bucket, "runs")  # a prefix is not an object

    keys = [o.key for o in store.list(bucket)]
    assert keys == ["runs/r1/_SUCCESS", "runs/r1/metrics.json", "runs/r2/spec.json", "top.csv"]
    assert [o.key for o in store.list(bucket, "runs/r1/")] == [
        "runs/r1/_SUCCESS",
        "runs/r1/metrics.json",
    ]
    assert [o.key for o in store.list(bucket, "runs/r")] == keys[:3]
    assert [o.key for o in store.list(bucket, "", delimiter="/")] == ["top.csv"]
    assert store.list_dirs(bucket) == ["runs/"]
    assert store.list_dirs(bucket, "runs/") == ["runs/r1/", "runs/r2/"]
    assert store.list(bucket, "nothing/") == []

    store.put_bytes(bucket, "top.csv", b"replaced")
    assert store.get_bytes(bucket, "top.csv") == b"replaced"
    store.delete(bucket, "top.csv")
    store.delete(bucket, "top.csv")  # missing key: no error, as on S3
    assert not store.exists(bucket, "top.csv")
    with pytest.raises(NotFoundError, match=f"no key 'top.csv' in bucket '{bucket}'"):
        store.get_bytes(bucket, "top.csv")


def test_head_etag(store_bucket: tuple[Store, str]) -> None:
    store, bucket = store_bucket
    data = b"open,high,low,close\n1,2,0.5,1.5\n"
    store.put_bytes(bucket, "p.csv", data)
    etag = store.head(bucket, "p.csv").etag
    if isinstance(store, LocalStore):
        assert etag == hashlib.sha256(data).hexdigest()
    else:  # single-part PUT: S3's ETag is the MD5 of the bytes
        assert etag == hashlib.md5(data).hexdigest()


def test_missing_bucket_and_key(store_bucket: tuple[Store, str]) -> None:
    store, bucket = store_bucket
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket' does not exist"):
        store.get_bytes("no-such-bucket", "k.csv")
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket' does not exist"):
        store.head("no-such-bucket", "k.csv")
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket' does not exist"):
        store.put_bytes("no-such-bucket", "k.csv", b"x")
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket' does not exist"):
        store.list("no-such-bucket")
    with pytest.raises(NotFoundError, match=f"no key 'missing.csv' in bucket '{bucket}'"):
        store.get_bytes(bucket, "missing.csv")
    with pytest.raises(NotFoundError, match=f"no key 'missing.csv' in bucket '{bucket}'"):
        store.head(bucket, "missing.csv")
    assert not store.exists("no-such-bucket", "k.csv")
    assert not store.bucket_exists("no-such-bucket")
    assert store.bucket_exists(bucket)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_that_leave_the_bucket_are_refused(store_bucket: tuple[Store, str], key: str) -> None:
    store, bucket = store_bucket
    with pytest.raises(ParamError, match="invalid key"):
        store.put_bytes(bucket, key, b"x")
    with pytest.raises(ParamError, match="invalid key"):
        store.get_bytes(bucket, key)
    with pytest.raises(ParamError, match="invalid key"):
        store.delete(bucket, key)
    assert store.list(bucket) == []


@pytest.mark.parametrize("bucket", BAD_BUCKETS)
def test_bad_bucket_names_are_refused(tmp_path: Path, bucket: str) -> None:
    store = LocalStore(tmp_path / "root")
    with pytest.raises(ParamError, match="invalid bucket name"):
        store.put_bytes(bucket, "k", b"x")
    with pytest.raises(ParamError, match="invalid bucket name"):
        store.create_bucket(bucket)
    assert not (tmp_path / "root").exists() or list((tmp_path / "root").iterdir()) == []


def test_validators_accept_normal_names() -> None:
    assert validate_bucket("backtest-results") == "backtest-results"
    assert validate_key("runs/2026-01-01T000000-sma_cross-abc123/spec.json")
    assert validate_key("", prefix=True) == ""
    assert validate_key("runs/", prefix=True) == "runs/"
    with pytest.raises(ParamError):
        validate_key("runs/../", prefix=True)


def test_local_symlinks_cannot_escape_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    store = LocalStore(tmp_path / "root")
    store.create_bucket("data-bkt")
    bucket_dir = tmp_path / "root" / "data-bkt"
    (bucket_dir / "link").symlink_to(outside, target_is_directory=True)
    (bucket_dir / "file-link.txt").symlink_to(outside / "secret.txt")
    (tmp_path / "root" / "evil-bkt").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ParamError, match="outside"):
        store.get_bytes("data-bkt", "link/secret.txt")
    with pytest.raises(ParamError, match="outside"):
        store.put_bytes("data-bkt", "link/new.txt", b"x")
    with pytest.raises(ParamError, match="outside"):
        store.get_bytes("data-bkt", "file-link.txt")
    with pytest.raises(ParamError, match="outside"):
        store.get_bytes("evil-bkt", "secret.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert [o.key for o in store.list("data-bkt")] == []  # listing never follows the links


def test_local_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    store.create_bucket("res-bkt")
    for i in range(3):
        store.put_bytes("res-bkt", "runs/a/metrics.json", f"v{i}".encode())
    folder = tmp_path / "root" / "res-bkt" / "runs" / "a"
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json"]
    assert store.get_bytes("res-bkt", "runs/a/metrics.json") == b"v2"

    # a write that fails half-way keeps the old object and leaves no temp file behind
    with pytest.raises(TypeError):
        store.put_bytes("res-bkt", "runs/a/metrics.json", 12345)  # type: ignore[arg-type]
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json"]
    assert store.get_bytes("res-bkt", "runs/a/metrics.json") == b"v2"


def test_local_put_into_a_folder_key_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    store.create_bucket("res-bkt")
    store.put_bytes("res-bkt", "runs/a/x.json", b"1")
    with pytest.raises(ParamError, match="folder"):
        store.put_bytes("res-bkt", "runs/a", b"2")


def test_open_store_picks_the_backend(tmp_path: Path, moto_server: str) -> None:
    local = open_store({"BACKTEST_STORAGE_ROOT": str(tmp_path / "data")})
    assert isinstance(local, LocalStore)
    assert str(tmp_path / "data") in local.describe()
    s3 = open_store(_s3_env(moto_server))
    assert isinstance(s3, S3Store)
    assert moto_server in s3.describe()


def test_s3_sees_objects_written_by_other_clients(moto_server: str) -> None:
    import boto3

    env = _s3_env(moto_server)
    store = open_store(env)
    bucket = f"fresh-{uuid.uuid4().hex[:10]}"
    store.create_bucket(bucket)
    assert store.list(bucket) == []
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.put_object(Bucket=bucket, Key="runs/x/_SUCCESS", Body=b"")
    assert [o.key for o in store.list(bucket, "runs/")] == ["runs/x/_SUCCESS"]
    assert store.exists(bucket, "runs/x/_SUCCESS")
    client.delete_object(Bucket=bucket, Key="runs/x/_SUCCESS")
    assert not store.exists(bucket, "runs/x/_SUCCESS")
    assert store.list(bucket, "runs/") == []


def test_s3_unreachable_endpoint_is_infra_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store(_s3_env(f"http://127.0.0.1:{port}"))
    with pytest.raises(StorageUnreachable, match=f"cannot reach S3 at http://127.0.0.1:{port}"):
        store.get_bytes("some-bucket", "k.csv")
    with pytest.raises(InfraError, match="cannot reach S3"):
        store.put_bytes("some-bucket", "k.csv", b"x")


def test_local_objects_are_readable_by_the_team(tmp_path: Path) -> None:
    # atomic writes go through mkstemp (mode 0600); the stored object must not stay private
    store = LocalStore(tmp_path)
    store.create_bucket("results")
    store.put_bytes("results", "runs/r1/metrics.json", b"{}")
    mode = (tmp_path / "results" / "runs" / "r1" / "metrics.json").stat().st_mode & 0o777
    assert mode == 0o644
