"""Settings: every field is read from BACKTEST_<FIELD IN CAPITALS>; the store follows them."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from engine.store.objects import LocalStore
from jobs.factory import make_store
from jobs.settings import Settings, load_settings, settings_help, settings_with_sources

SAMPLES = {str: "x-1", int: 7, float: 0.5}


def test_each_setting_is_read_from_its_derived_variable(tmp_path: Path) -> None:
    env = {"BACKTEST_CONFIG": str(tmp_path / "absent.toml")}
    chosen = {}
    for f in fields(Settings):
        if f.name in ("backend", "storage", "storage_root"):  # checked values, tested elsewhere
            continue
        value = SAMPLES[type(f.default)]
        env["BACKTEST_" + f.name.upper()] = str(value)
        chosen[f.name] = value
    settings, where = settings_with_sources(env)
    for name, value in chosen.items():
        assert getattr(settings, name) == value, name
        assert where[name] == "$BACKTEST_" + name.upper()
    assert [var for _, var, _ in settings_help()] == [
        "BACKTEST_" + f.name.upper() for f in fields(Settings)
    ]


def test_make_store_uses_the_settings_root_over_the_environment(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bkt").mkdir(parents=True)
    settings = load_settings(
        {"BACKTEST_CONFIG": str(tmp_path / "absent.toml"), "BACKTEST_STORAGE_ROOT": str(root)}
    )
    store = make_store(settings, {"BACKTEST_STORAGE_ROOT": str(tmp_path / "elsewhere")})
    assert isinstance(store, LocalStore)
    store.put_bytes("bkt", "k.txt", b"hello")
    assert (root / "bkt" / "k.txt").read_bytes() == b"hello"
    assert not (tmp_path / "elsewhere").exists()
