"""Helpers for the results-page tests: a local store holding real engine runs and sweeps,
an AppTest on the router, and a capture of what download buttons would hand the browser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.backtest import execute
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec, SimOptions
from engine.store.objects import LocalStore
from engine.store.runs import frame_to_parquet, to_json_bytes, write_error

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "streamlit_app.py"
INPUT, RESULTS = "backtest-input", "backtest-results"


class Lab:
    """A storage root for one test: input files, real runs, hand-built sweep folders."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = LocalStore(root)
        self.store.create_bucket(INPUT)
        self.store.create_bucket(RESULTS)

    def add_file(self, key: str = "samples/walk.csv", n_bars: int = 700, seed: int = 3) -> str:
        """A synthetic OHLCV CSV in the input bucket; returns its key."""
        frame = random_walk(n_bars, seed=seed)
        self.store.put_bytes(INPUT, key, frame.to_csv(index_label="date").encode())
        return key

    def run(
        self,
        run_id: str,
        key: str,
        strategy: str = "sma_cross",
        sim: SimOptions | None = None,
        **params: Any,
    ) -> str:
        """A real engine run (engine.backtest.execute, the CLI's code path)."""
        spec = RunSpec(
            INPUT, key, RESULTS, strategy=strategy, params=params, run_id=run_id,
            options=sim or SimOptions(),
        )  # fmt: skip
        execute(spec, self.store, {})
        return run_id

    def add_squeeze_file(self, key: str = "samples/squeeze.csv") -> str:
        """A slide from 100 to 60 over 60 days, then a gap to 200: a short is ruined on the gap
        (sma_cross fast=3, slow=10 with shorting goes short on the slide)."""
        close = np.r_[np.linspace(100.0, 60.0, 60), np.full(20, 200.0)]
        frame = pd.DataFrame(
            {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
             "volume": 1.0},
            index=pd.date_range("2021-01-01", periods=len(close), freq="D", name="date"),
        )  # fmt: skip
        self.store.put_bytes(INPUT, key, frame.to_csv().encode())
        return key

    def failed_run(self, run_id: str, key: str) -> str:
        """A run the engine rejects (a missing input file): error.json as the CLI writes it."""
        spec = RunSpec(INPUT, key, RESULTS, run_id=run_id)
        try:
            execute(spec, self.store, {})
        except Exception as exc:  # the engine's own error, recorded like the CLI does
            write_error(self.store, RESULTS, run_id, exc)
        else:
            raise AssertionError("the run was expected to fail")
        return run_id

    def sweep(
        self,
        sweep_id: str,
        key: str,
        space: dict[str, list[Any]] | None = None,
        *,
        n_children: int = 2,
        done: tuple[int, ...] | None = None,
        robustness: dict[str, Any] | None = None,
        strategy: str = "sma_cross",
    ) -> pd.DataFrame:
        """A sweep folder per the layout; the rows come from the real engine.api.run_sweep.

        ``done`` lists the chunks written; None means all of them plus summary, robustness
        and _SUCCESS (a collected sweep). Returns the full summary.
        """
        from engine.api import run_sweep
        from engine.data import load_prices
        from engine.sweep.spec import SweepSpec

        space = space or {"fast": [5, 10, 15, 20], "slow": [30, 50, 70]}
        prices = load_prices(self.store.get_bytes(INPUT, key), name=key)
        summary = run_sweep(prices, strategy, space)
        summary.insert(0, "source_key", key)
        summary.insert(0, "combo_id", range(len(summary)))
        base = RunSpec(INPUT, key, RESULTS, strategy=strategy)
        spec = SweepSpec(sweep_id, base, dict(space)).to_dict()
        size = -(-len(summary) // n_children)
        spec.update(n_combinations=len(summary), n_children=n_children, chunk_size=size,
                    created_at="2024-01-02T03:04:05Z", user="tester")  # fmt: skip
        prefix = f"sweeps/{sweep_id}/"
        self.put_json(prefix + "spec.json", spec)
        for i in range(n_children) if done is None else done:
            self.put_frame(f"{prefix}chunks/{i}.parquet", summary.iloc[i * size : (i + 1) * size])
        if done is None:
            self.put_frame(prefix + "summary.parquet", summary)
            self.put_json(prefix + "robustness.json", robustness or {})
            self.store.put_bytes(RESULTS, prefix + "_SUCCESS", b"")
        return summary

    def json(self, key: str) -> Any:
        return json.loads(self.store.get_bytes(RESULTS, key))

    def parquet(self, key: str) -> pd.DataFrame:
        from engine.store.runs import parquet_to_frame

        return parquet_to_frame(self.store.get_bytes(RESULTS, key))

    def put_frame(self, key: str, frame: pd.DataFrame) -> None:
        self.store.put_bytes(RESULTS, key, frame_to_parquet(frame))

    def put_json(self, key: str, value: Any) -> None:
        self.store.put_bytes(RESULTS, key, to_json_bytes(value))


@pytest.fixture(name="lab")
def lab_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """A fresh storage root, pointed to by BACKTEST_STORAGE_ROOT for the app under test."""
    root = tmp_path / "store"
    monkeypatch.setenv("BACKTEST_STORAGE_ROOT", str(root))
    monkeypatch.setenv("BACKTEST_POLL_MS", "1000")
    return Lab(root)


def app_test(page: str | None = None, **query: str) -> Any:
    """AppTest of the router, switched to ``page`` (e.g. "views/run_results.py") with ``query``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    if page:
        at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def texts(at: Any) -> str:
    """Every alert, text, caption and markdown string on the page, one per line."""
    parts = []
    for kind in ("error", "info", "warning", "success", "text", "caption", "markdown"):
        parts += [str(el.value) for el in getattr(at, kind)]
    return "\n".join(parts)


@contextmanager
def captured_downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Record the MediaFileManagers AppTest creates, so a test can fetch download bytes."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import app_test as app_test_module

    managers: list[Any] = []

    class Recording(MediaFileManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    yield managers


def download_bytes(managers: list[Any], button: Any) -> bytes:
    """The bytes a download button serves (deferred ones are generated like a click would)."""
    proto = button.proto
    for manager in reversed(managers):
        url = proto.url
        if proto.deferred_file_id:
            try:
                url = manager.execute_deferred(proto.deferred_file_id)
            except Exception:
                continue
        file_id = re.sub(r"\.[^.]*$", "", url.rsplit("/", 1)[-1])
        try:
            return bytes(manager._storage.get_file(file_id).content)
        except Exception:
            continue
    raise AssertionError(f"no served file for download button {button.label!r}")


def plotly_array(value: Any) -> Any:
    """A figure JSON array as numpy (plotly 6 encodes numpy data as {dtype, bdata, shape})."""
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if shape:
            dims = [int(d) for d in str(shape).split(",")]
            return flat.reshape(dims)
        return flat
    return np.asarray(value)
