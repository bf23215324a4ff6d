"""Where storage and the job database are, as resolved by jobs.settings for everyone (dashboard,
jobs CLI, seed): defaults, then the config file, then BACKTEST_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import BacktestError
from jobs.local import jobs_dir_for
from jobs.settings import settings_with_sources

CHECKOUT = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str | None = None, **env: str) -> tuple:
    cfg = tmp_path / "backtest.toml"
    if text is not None:
        cfg.write_text(text)
    return settings_with_sources({"BACKTEST_CONFIG": str(cfg), **env})


def test_local_default_is_the_checkouts_data_folder_with_its_job_database(tmp_path: Path) -> None:
    settings, where = _load(tmp_path)
    assert settings.backend == "local"
    assert settings.storage == "local"
    assert settings.storage_root == str(CHECKOUT / ".data")
    assert jobs_dir_for(settings) == CHECKOUT / ".data" / "_jobs"
    assert where["storage_root"] == "default (the checkout's .data)"
    assert where["storage"] == "default (auto: local for backend local)"


def test_the_default_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings, _ = _load(tmp_path)
    assert settings.storage_root == str(CHECKOUT / ".data")


def test_aws_backend_defaults_to_s3(tmp_path: Path) -> None:
    settings, where = _load(tmp_path, 'backend = "aws"\n')
    assert (settings.storage, settings.storage_root) == ("s3", "")
    assert where["storage"] == "default (auto: s3 for backend aws)"


def test_s3_with_the_local_executor_is_an_explicit_choice(tmp_path: Path) -> None:
    settings, where = _load(tmp_path, BACKTEST_STORAGE="s3")
    assert (settings.backend, settings.storage, settings.storage_root) == ("local", "s3", "")
    assert where["storage"] == "$BACKTEST_STORAGE"
    assert jobs_dir_for(settings) == Path.home() / ".cache" / "batch-backtest" / "_jobs"


def test_a_named_root_wins_and_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings, where = _load(tmp_path, 'storage_root = "shared/data"\n')
    assert settings.storage == "local"
    assert settings.storage_root == str(tmp_path / "shared" / "data")
    assert where["storage_root"] == str(tmp_path / "backtest.toml")
    env_wins, where = _load(tmp_path, 'storage_root = "a"\n', BACKTEST_STORAGE_ROOT="/srv/b")
    assert env_wins.storage_root == "/srv/b"
    assert where["storage_root"] == "$BACKTEST_STORAGE_ROOT"


def test_a_root_with_the_aws_backend_is_local_storage(tmp_path: Path) -> None:
    settings, _ = _load(tmp_path, 'backend = "aws"\nstorage_root = "/srv/x"\n')
    assert (settings.storage, settings.storage_root) == ("local", "/srv/x")


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('storage = "s3"\n', {"BACKTEST_STORAGE_ROOT": "/x"}, "storage is s3 .* drop one"),
        ("", {"BACKTEST_STORAGE": "disk"}, "storage must be one of auto, local, s3, got 'disk'"),
    ],
)
def test_contradictions_are_one_line_errors(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(BacktestError, match=message) as info:
        _load(tmp_path, text, **env)
    assert "\n" not in str(info.value)
