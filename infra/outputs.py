"""Write `up`'s outputs into the settings file (BACKTEST_CONFIG, default ./backtest.toml).

Keys already in the file are kept; a ``[backtest]`` table is used when the file has one
(jobs/settings.py reads either layout). The write is atomic (temp file, then rename).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from engine.errors import BacktestError
from jobs.settings import DEFAULT_CONFIG


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The settings file every part reads."""
    env = os.environ if env is None else env
    return Path(env.get("BACKTEST_CONFIG") or DEFAULT_CONFIG)


def write_settings(path: Path, values: Mapping[str, Any]) -> None:
    """Merge ``values`` into the TOML file at ``path``, keeping every other key."""
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BacktestError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.setdefault("backtest", {}) if "backtest" in data else data
    section.update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
