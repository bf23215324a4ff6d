"""app.data_service without Streamlit: bucket listing, folders, filter, paging, upload rules."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app import data_service as ds
from app.context import AppContext
from engine.errors import DataError, ParamError
from engine.store.objects import LocalStore
from jobs.local import LocalExecutor
from jobs.settings import load_settings
from tests._app_helpers import INPUT, bad_csv_bytes, csv_bytes


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    root = tmp_path / "store"
    settings = load_settings(
        {"BACKTEST_STORAGE_ROOT": str(root), "BACKTEST_CONFIG": str(tmp_path / "x.toml")}
    )
    store = LocalStore(root)
    store.create_bucket(INPUT)
    executor = LocalExecutor(settings, worker="none")
    yield AppContext(settings, store, executor)
    executor.close()


def test_buckets_hide_underscore_and_hidden_folders(ctx: AppContext) -> None:
    root = Path(ctx.settings.storage_root)
    for name in ("_jobs", ".trash", "zeta", "alpha"):
        (root / name).mkdir(parents=True, exist_ok=True)
    assert ds.list_buckets(ctx) == [INPUT, "backtest-results", "alpha", "zeta"]


def test_listing_has_folders_and_direct_objects(ctx: AppContext) -> None:
    ctx.store.put_bytes(INPUT, "top.csv", b"x")
    ctx.store.put_bytes(INPUT, "a/one.csv", b"xy")
    ctx.store.put_bytes(INPUT, "a/deep/two.csv", b"xyz")
    top = ds.list_objects(ctx, INPUT)
    assert top.dirs == ["a/"] and list(top.objects["name"]) == ["top.csv"]
    inner = ds.list_objects(ctx, INPUT, "a")
    assert inner.prefix == "a/" and inner.dirs == ["a/deep/"]
    assert inner.objects.to_dict("records")[0]["size"] == 2
    assert ds.parent_prefix("a/deep/") == "a/" and ds.parent_prefix("a/") == ""
    assert not ds.list_objects(ctx, "no-such-bucket").exists
    with pytest.raises(ParamError):
        ds.list_objects(ctx, INPUT, "../outside")


def test_filter_is_plain_case_insensitive_text() -> None:
    frame = pd.DataFrame({"name": ["AAPL.csv", "msft.csv", "a.b.csv"]})
    assert list(ds.filter_objects(frame, "aapl")["name"]) == ["AAPL.csv"]
    assert list(ds.filter_objects(frame, ".b")["name"]) == ["a.b.csv"]  # not a regex
    assert len(ds.filter_objects(frame, "  ")) == 3


def test_paging() -> None:
    frame = pd.DataFrame({"name": [f"f{i}" for i in range(450)]})
    assert ds.page_count(450) == 3 and ds.page_count(0) == 1
    assert list(ds.page_slice(frame, 3)["name"])[:1] == ["f400"]
    assert len(ds.page_slice(frame, 3)) == 50
    assert len(ds.page_slice(frame, 99)) == 50  # clamped to the last page


def test_preview_verdicts(ctx: AppContext) -> None:
    ctx.store.put_bytes(INPUT, "good.csv", csv_bytes(100))
    ctx.store.put_bytes(INPUT, "bad.csv", bad_csv_bytes())
    unsorted = b"date,open,high,low,close\n2024-01-03,1,2,1,1\n2024-01-02,1,2,1,1\n"
    ctx.store.put_bytes(INPUT, "unsorted.csv", unsorted)
    good = ds.preview_file(ctx, INPUT, "good.csv")
    assert good.verdict == "ok" and good.summary["bars"] == 100 and len(good.head) == 20
    bad = ds.preview_file(ctx, INPUT, "bad.csv")
    assert bad.verdict == "error" and "bad.csv" in bad.messages[0] and bad.prices is None
    warn = ds.preview_file(ctx, INPUT, "unsorted.csv")
    assert warn.verdict == "warnings" and "sorted" in warn.messages[0]


def test_upload_validates_before_writing(ctx: AppContext) -> None:
    assert (
        ds.upload_file(ctx, "C:\\Users\\me\\prices.csv", csv_bytes(), "mine/") == "mine/prices.csv"
    )
    assert ctx.store.exists(INPUT, "mine/prices.csv")
    with pytest.raises(DataError, match="high"):
        ds.upload_file(ctx, "bad.csv", bad_csv_bytes())
    with pytest.raises(DataError, match=r"only \.csv, \.parquet, \.pq"):
        ds.upload_file(ctx, "notes.txt", csv_bytes())
    with pytest.raises(ParamError):
        ds.upload_file(ctx, "x.csv", csv_bytes(), "../escape")
    assert [i.key for i in ctx.store.list(INPUT)] == ["mine/prices.csv"]


def test_upload_size_cap() -> None:
    with pytest.raises(DataError, match="the upload limit is 0 MB"):
        ds.validate_upload("big.csv", csv_bytes(10), max_mb=0)
    assert len(ds.validate_upload("ok.csv", csv_bytes(10), max_mb=1)) == 10


def test_parquet_upload_is_accepted(ctx: AppContext) -> None:
    from engine.sim.synthetic import random_walk

    frame = random_walk(50, seed=1)
    data = frame.to_parquet()
    assert ds.upload_file(ctx, "p.parquet", data) == "p.parquet"
    assert ds.input_files(ctx) == ["p.parquet"]
    assert ds.bar_count(ctx, INPUT, "p.parquet") == 50


def test_delete(ctx: AppContext) -> None:
    ctx.store.put_bytes(INPUT, "gone.csv", b"x")
    ds.delete_file(ctx, INPUT, "gone.csv")
    assert not ctx.store.exists(INPUT, "gone.csv")


def test_seeded_samples_look_like_their_names(tmp_path: Path) -> None:
    from app.seed import seed
    from engine.data import load_prices

    seed(tmp_path)
    closes = {
        name: load_prices(tmp_path / "backtest-input" / "samples" / name).close
        for name in ("trend_up_daily.csv", "choppy_range_daily.csv", "crash_and_recovery_daily.csv")
    }
    up = closes["trend_up_daily.csv"]
    assert up.iloc[-1] / up.iloc[0] > 1.3
    chop = closes["choppy_range_daily.csv"]
    assert abs(chop.iloc[-1] / chop.iloc[0] - 1) < 0.15
    crash = closes["crash_and_recovery_daily.csv"]
    assert (1 - crash / crash.cummax()).max() > 0.5 and crash.iloc[-1] > crash.iloc[0]


# -- folders as rows, and no silent overwrite ------------------------------------------------


def test_entries_put_folders_first_as_rows(ctx: AppContext) -> None:
    ctx.store.put_bytes(INPUT, "top.csv", b"x")
    ctx.store.put_bytes(INPUT, "b/one.csv", b"xy")
    ctx.store.put_bytes(INPUT, "a/two.csv", b"xyz")
    rows = ds.entries(ds.list_objects(ctx, INPUT))
    assert list(rows["name"]) == ["a/", "b/", "top.csv"]
    assert list(rows["kind"]) == ["folder", "folder", "file"]
    assert list(rows["key"]) == ["a/", "b/", "top.csv"]
    assert rows["size"].isna().tolist() == [True, True, False]
    only_folders = ds.entries(ds.Listing(INPUT, "", ["x/"]))
    assert list(only_folders["name"]) == ["x/"]
    assert ds.entries(ds.list_objects(ctx, INPUT, "empty/")).empty


def _real_run(ctx: AppContext, run_id: str, key: str) -> None:
    from engine.backtest import execute
    from engine.spec import RunSpec

    execute(RunSpec(INPUT, key, ctx.settings.result_bucket, run_id=run_id), ctx.store, {})


def _briefs(ctx: AppContext) -> list:
    from app import results_service, run_picker

    frame = results_service.list_runs(ctx)
    items = list(zip(frame["run_id"], frame["finished_at"], strict=True))
    return run_picker.read_briefs(ctx.store, ctx.settings.result_bucket, items)


def test_upload_never_replaces_other_bytes_without_being_told(ctx: AppContext) -> None:
    old, new = csv_bytes(300, seed_value=1), csv_bytes(300, seed_value=2)
    assert ds.upload_file(ctx, "p.csv", old, "mine") == "mine/p.csv"
    with pytest.raises(ds.UploadConflict, match=r"mine/p\.csv already exists with other"):
        ds.upload_file(ctx, "p.csv", new, "mine")
    assert ctx.store.get_bytes(INPUT, "mine/p.csv") == old
    assert ds.upload_file(ctx, "p.csv", old, "mine") == "mine/p.csv"  # same bytes: fine
    asked = ds.check_upload(ctx, "p.csv", new, "mine")
    assert asked.old_sha256 == hashlib.sha256(old).hexdigest()
    ctx.store.put_bytes(INPUT, "mine/p.csv", b"someone else's upload")  # meanwhile
    consent = ds.ReplaceConsent(asked.old_sha256)
    with pytest.raises(ds.UploadConflict, match="changed since you were asked"):
        ds.upload_file(ctx, "p.csv", new, "mine", replace=consent)
    assert ctx.store.get_bytes(INPUT, "mine/p.csv") == b"someone else's upload"
    ctx.store.put_bytes(INPUT, "mine/p.csv", old)
    sha = asked.old_sha256
    assert ds.upload_file(ctx, "p.csv", new, "mine", replace=ds.ReplaceConsent(sha)) == (
        "mine/p.csv"
    )
    assert ctx.store.get_bytes(INPUT, "mine/p.csv") == new


def test_check_upload_names_the_runs_and_sweeps_that_read_the_key(ctx: AppContext) -> None:
    from engine.spec import RunSpec
    from engine.store.runs import to_json_bytes
    from engine.sweep.spec import SweepSpec

    ctx.store.create_bucket(ctx.settings.result_bucket)
    old = csv_bytes(300, seed_value=1)
    ds.upload_file(ctx, "p.csv", old, "mine")
    ds.upload_file(ctx, "q.csv", csv_bytes(300, seed_value=3), "mine")
    _real_run(ctx, "r-old", "mine/p.csv")
    _real_run(ctx, "r-other", "mine/q.csv")
    results = ctx.settings.result_bucket
    for sweep_id, key in (("sw-p", "mine/p.csv"), ("sw-q", "mine/q.csv")):
        base = RunSpec(INPUT, key, results)
        spec = SweepSpec(sweep_id, base, {"fast": [5, 10], "slow": [30]}).to_dict()
        ctx.store.put_bytes(results, f"sweeps/{sweep_id}/spec.json", to_json_bytes(spec))

    fresh = ds.check_upload(ctx, "new.csv", old, "mine", _briefs(ctx))
    assert (fresh.key, fresh.exists, fresh.replaces) == ("mine/new.csv", False, False)
    same = ds.check_upload(ctx, "p.csv", old, "mine", _briefs(ctx))
    assert same.exists and same.same_bytes and not same.replaces
    other = ds.check_upload(ctx, "p.csv", csv_bytes(300, seed_value=2), "mine", _briefs(ctx))
    assert other.replaces and other.old_size == len(old)
    assert other.runs == ["r-old"] and other.sweeps == ["sw-p"]
    question = ds.replace_question("s3://backtest-input/mine/p.csv", other)
    assert question.startswith(
        f"s3://backtest-input/mine/p.csv already exists ({len(old):,} bytes, modified "
    )
    assert "1 run(s): r-old; 1 sweep(s): sw-p." in question
    with pytest.raises(DataError):
        ds.check_upload(ctx, "p.csv", bad_csv_bytes(), "mine", [])  # validated first
    nobody = ds.UploadCheck("k.csv", exists=True, old_size=3)
    assert ds.replace_question("u", nobody).endswith(
        "No run or sweep in the result bucket used this key."
    )
