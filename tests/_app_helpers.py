"""Helpers for the Data / New run / Jobs page tests: a local storage root pointed to by the
environment, the app's own context (closed after the test), and AppTest on the router."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.context import AppContext
from app.seed import seed
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "streamlit_app.py"
INPUT, RESULTS = "backtest-input", "backtest-results"
TREND = "samples/trend_up_daily.csv"
TIMEOUT = 60  # seconds per script run: generous for a loaded 2-core machine


def point_env(monkeypatch: pytest.MonkeyPatch, root: Path, **extra: str) -> None:
    """BACKTEST_* for the app under test: local backend on ``root``."""
    monkeypatch.setenv("BACKTEST_STORAGE_ROOT", str(root))
    monkeypatch.setenv("BACKTEST_BACKEND", extra.pop("backend", "local"))
    monkeypatch.setenv("BACKTEST_POLL_MS", "100")
    for name, value in extra.items():
        monkeypatch.setenv(f"BACKTEST_{name.upper()}", value)


def app_context() -> AppContext:
    """The very context the pages use (cached per settings), for setup and assertions."""
    from app.loaders import get_context

    return get_context()


def close_app_context() -> None:
    """Stop the executor worker thread of the current settings' context; drop cached state."""
    import streamlit as st

    from app.loaders import get_context

    executor = get_context().executor
    close = getattr(executor, "close", None)
    if callable(close):
        close()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(name="app_root")
def app_root_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A seeded storage root (the `make run` samples) for the app; context closed afterwards."""
    root = tmp_path / "store"
    seed(root)
    point_env(monkeypatch, root, concurrency="1")
    yield root
    close_app_context()


def app_test(page: str | None = None, **query: str) -> Any:
    """AppTest of the router, switched to ``page`` with the URL ``query``, after one run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def texts(at: Any, kinds: tuple[str, ...] = ("error", "warning", "info", "success")) -> str:
    """The alerts (or other text elements) on the page, one per line."""
    return "\n".join(str(el.value) for kind in kinds for el in getattr(at, kind))


def csv_bytes(n_bars: int = 300, seed_value: int = 5) -> bytes:
    """A valid OHLCV CSV."""
    return random_walk(n_bars, seed=seed_value).to_csv(index_label="date").encode()


def bad_csv_bytes() -> bytes:
    """A CSV the engine rejects: high below low on data row 2."""
    return (
        b"date,open,high,low,close,volume\n"
        b"2024-01-02,10,11,9,10.5,100\n"
        b"2024-01-03,10,8,9.5,10,100\n"
        b"2024-01-04,10,11,9,10.5,100\n"
    )


def sleep_command(seconds: int = 120) -> list[str]:
    """A command job that keeps the one local slot busy."""
    return [sys.executable, "-c", f"import time; time.sleep({seconds})"]


def populate(root: Path) -> str:
    """Seed samples and produce one finished run through the real executor and engine CLI;
    returns the run id."""
    from app.context import build_context

    seed(root)
    env = {
        "BACKTEST_STORAGE_ROOT": str(root),
        "BACKTEST_BACKEND": "local",
        "BACKTEST_CONFIG": str(root / "no-config.toml"),
        "BACKTEST_POLL_MS": "100",
    }
    ctx = build_context(env)
    try:
        spec = RunSpec(INPUT, TREND, RESULTS, params={"fast": 10, "slow": 40})
        record = ctx.executor.submit_run(spec)
        done = ctx.executor.wait(record.id, timeout=300)
        if done.status.value != "SUCCEEDED":
            log = ctx.executor.logs(record.id)
            raise RuntimeError(f"setup run ended {done.status.value}: {log[-2000:]}")
        return str((done.spec or {})["run_id"])
    finally:
        ctx.executor.close()  # type: ignore[attr-defined]


def copy_tree(src: Path, dst: Path) -> Path:
    """A private copy of a prepared storage root (pages under test may write to theirs)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("worker.lock"))
    return dst
