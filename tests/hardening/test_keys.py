"""Keys, buckets and run ids that try to leave their bucket are refused: through the engine CLI,
both stores (a local root and S3 over moto) and the dashboard services and pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import data_service, results_service, sweep_service
from app.context import AppContext
from engine.backtest import main
from engine.errors import ParamError
from engine.store.objects import LocalStore, Store, open_store
from jobs.local import LocalExecutor
from jobs.settings import load_settings
from tests._app_helpers import (
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    app_test,
)
from tests.hardening.conftest import INPUT, RESULTS
from tests.hardening.corpus import valid_csv

HOSTILE_KEYS = [
    "../../etc/passwd",
    "a/./../../b",
    "/etc/passwd",
    "..",
    "a/../../../../tmp/x",
    "a\\..\\..\\b",
    "..\\..\\b",
    "a\x00b",
    "a\nb",
    "a//b",
    "",
    "x" * 1100,
]
HOSTILE_RUN_IDS = [
    "../../etc/passwd",
    "..",
    "a/b",
    "%2e%2e",
    "%2e%2e/x",
    "/abs",
    "a\\b",
    "a\x00b",
    ".hidden",
    "x" * 129,
]
HOSTILE_BUCKETS = ["..", "../x", "a/b", "/abs", "ab", "a\x00bc", "x" * 64]
STRATEGY = ["--param", "fast=2", "--param", "slow=5"]


def _files(top: Path) -> set[Path]:
    return {p for p in top.rglob("*")}


def _one_line_error(err: str, phrase: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert phrase in lines[0] and "Traceback" not in err


# -- engine CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_cli_refuses_hostile_source_keys(
    key: str, store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    before = _files(store_root.parent)
    assert main([INPUT, key, RESULTS, *STRATEGY, "--run-id", "r1"], env=env) == 2
    _one_line_error(capsys.readouterr().err, "invalid key")
    assert _files(store_root.parent) - before <= {
        store_root / RESULTS / "runs",
        store_root / RESULTS / "runs" / "r1",
        store_root / RESULTS / "runs" / "r1" / "error.json",
    }


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
def test_cli_refuses_hostile_run_ids_and_writes_nothing(
    run_id: str, store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    LocalStore(store_root).put_bytes(INPUT, "p.csv", valid_csv())
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    before = _files(store_root.parent)
    assert main([INPUT, "p.csv", RESULTS, *STRATEGY, "--run-id", run_id], env=env) == 2
    _one_line_error(capsys.readouterr().err, "invalid run id")
    assert _files(store_root.parent) == before


@pytest.mark.parametrize("bucket", HOSTILE_BUCKETS)
def test_cli_refuses_hostile_bucket_names(
    bucket: str, store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    before = _files(store_root.parent)
    assert main([INPUT, "p.csv", bucket, *STRATEGY, "--run-id", "r2"], env=env) == 2
    _one_line_error(capsys.readouterr().err, "invalid bucket name")
    assert _files(store_root.parent) == before


# -- stores ------------------------------------------------------------------------------------


def _store_refuses_everything(store: Store, bucket: str) -> None:
    for key in HOSTILE_KEYS:
        for call in (
            lambda k: store.get_bytes(bucket, k),
            lambda k: store.put_bytes(bucket, k, b"x"),
            lambda k: store.head(bucket, k),
            lambda k: store.delete(bucket, k),
            lambda k: store.exists(bucket, k),
        ):
            with pytest.raises(ParamError):
                call(key)
    for prefix in ("../", "/abs/", "a/../", "a\\b/", "a\x00/"):
        with pytest.raises(ParamError):
            store.list(bucket, prefix)
        with pytest.raises(ParamError):
            store.list_dirs(bucket, prefix)
    for name in HOSTILE_BUCKETS:
        with pytest.raises(ParamError):
            store.put_bytes(name, "k", b"x")
        with pytest.raises(ParamError):
            store.create_bucket(name)


def test_local_store_refuses_hostile_keys_and_writes_nothing(store_root: Path) -> None:
    before = _files(store_root.parent)
    _store_refuses_everything(LocalStore(store_root), INPUT)
    assert _files(store_root.parent) == before


def test_local_store_keeps_percent_encoding_literal(store_root: Path) -> None:
    store = LocalStore(store_root)
    store.put_bytes(INPUT, "%2e%2e/x", b"kept")
    assert (store_root / INPUT / "%2e%2e" / "x").read_bytes() == b"kept"


def test_local_store_refuses_symlinks_out_of_the_root(store_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(b"secret")
    (store_root / INPUT / "link").symlink_to(outside)
    store = LocalStore(store_root)
    with pytest.raises(ParamError, match="resolves outside"):
        store.get_bytes(INPUT, "link/secret.csv")
    with pytest.raises(ParamError, match="resolves outside"):
        store.put_bytes(INPUT, "link/new.csv", b"x")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]


def test_s3_store_refuses_hostile_keys(aws_env: str) -> None:
    import os

    store = open_store(dict(os.environ))
    store.create_bucket("hardening-keys")
    _store_refuses_everything(store, "hardening-keys")
    assert store.list("hardening-keys") == []


# -- dashboard services and pages -----------------------------------------------------------


@pytest.fixture
def ctx(store_root: Path, tmp_path: Path) -> Iterator[AppContext]:
    settings = load_settings(
        {
            "BACKTEST_STORAGE_ROOT": str(store_root),
            "BACKTEST_CONFIG": str(tmp_path / "none.toml"),
            "BACKTEST_INPUT_BUCKET": INPUT,
            "BACKTEST_RESULT_BUCKET": RESULTS,
        }
    )
    executor = LocalExecutor(settings, worker="none")
    yield AppContext(settings, LocalStore(store_root), executor)
    executor.close()


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
def test_services_refuse_hostile_run_and_sweep_ids(run_id: str, ctx: AppContext) -> None:
    with pytest.raises(ParamError, match="invalid run id"):
        results_service.load_run(ctx, run_id)
    with pytest.raises(ParamError, match="invalid run id"):
        sweep_service.read_sweep(ctx, run_id)


@pytest.mark.parametrize("key", [k for k in HOSTILE_KEYS if k])
def test_data_services_refuse_hostile_keys(key: str, ctx: AppContext, store_root: Path) -> None:
    before = _files(store_root.parent)
    with pytest.raises(ParamError):
        data_service.preview_file(ctx, INPUT, key)
    with pytest.raises(ParamError):
        data_service.delete_file(ctx, INPUT, key)
    with pytest.raises(ParamError):
        data_service.list_objects(ctx, INPUT, key.rstrip("/") + "/")
    assert _files(store_root.parent) == before


def test_pages_show_one_error_for_hostile_ids_in_the_url(app_root: Path) -> None:
    at = app_test("views/run_results.py", run="../../etc/passwd")
    assert not at.exception
    assert [e.value for e in at.error][-1].startswith("invalid run id '../../etc/passwd'")
    at = app_test("views/sweep_results.py", sweep="%2e%2e/x")
    assert not at.exception
    assert any(str(e.value).startswith("invalid run id") for e in at.error)
    at = app_test("views/data.py")
    at.text_input(key="data_prefix").set_value("../../etc/").run()
    assert not at.exception
    assert any("invalid key" in str(e.value) for e in at.error)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://results/../../etc/passwd",
        "s3://results/sweeps/../../x/spec.json",
        "s3://../x/spec.json",
        "file:///etc/passwd",
    ],
)
def test_cli_refuses_hostile_sweep_uris(
    uri: str, store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files(store_root.parent)
    assert main(["--sweep", uri], env={"BACKTEST_STORAGE_ROOT": str(store_root)}) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert _files(store_root.parent) == before
