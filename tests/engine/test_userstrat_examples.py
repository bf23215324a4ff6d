"""examples/strategies/: each file passes validation and runs, and does what it says (checked
against an independent pandas/loop version of its rule); numba's cache of a file's own compiled
functions is reused by the next process (issue 12 points 6, 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.api import run_backtest
from engine.sim.strategies import Bars
from engine.sim.synthetic import random_walk
from engine.userstrat import load_strategy_file, validate_source

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "strategies"
FILES = sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_there_are_at_least_three_examples() -> None:
    assert {"close_above_sma.py", "vol_breakout.py", "pandas_trend.py"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_each_example_validates_and_runs(name: str) -> None:
    path = EXAMPLES / name
    info = validate_source(path.read_bytes(), name)
    assert info.name == path.stem
    strategy = load_strategy_file(path)
    res = run_backtest(random_walk(3_000, seed=21), strategy, allow_short=True)
    assert res.metrics["n_trades"] > 0
    assert res.equity["position"].abs().max() > 0


def _target(name: str, prices: pd.DataFrame, params: dict | None = None) -> np.ndarray:
    return load_strategy_file(EXAMPLES / name).signal(Bars.from_frame(prices), params)


def test_close_above_sma_is_its_rule() -> None:
    prices = random_walk(2_000, seed=2)
    c = prices["close"]
    want = (c > c.rolling(15).mean()).astype(float).to_numpy()
    np.testing.assert_array_equal(_target("close_above_sma.py", prices), want)


def test_vol_breakout_is_its_rule() -> None:
    prices = random_walk(3_000, seed=8)
    p = {"entry": 20, "exit": 10, "vol_window": 20, "max_vol": 0.04}
    hi, lo, c = prices["high"], prices["low"], prices["close"]
    hi_n, lo_n = hi.rolling(20).max().shift(1), lo.rolling(20).min().shift(1)
    hi_m, lo_m = hi.rolling(10).max().shift(1), lo.rolling(10).min().shift(1)
    rel = (c.rolling(20).std(ddof=0) / c.rolling(20).mean()).to_numpy()
    state, want = 0.0, np.zeros(len(c))
    for i in range(len(c)):
        if c.iloc[i] > hi_n.iloc[i]:
            state = 1.0
        elif c.iloc[i] < lo_n.iloc[i]:
            state = -1.0
        elif state > 0 and c.iloc[i] < lo_m.iloc[i]:
            state = 0.0
        elif state < 0 and c.iloc[i] > hi_m.iloc[i]:
            state = 0.0
        want[i] = state if rel[i] <= 0.04 + 1e-12 else 0.0
    got = _target("vol_breakout.py", prices, p)
    assert (got != 0).sum() > 100 and (want != 0).sum() > 100
    np.testing.assert_array_equal(got, want)


def test_pandas_trend_is_its_rule() -> None:
    prices = random_walk(2_000, seed=4)
    c = prices["close"].to_numpy()
    alpha = 2 / 31
    ema = np.empty(len(c))
    ema[0] = c[0]
    for i in range(1, len(c)):
        ema[i] = alpha * c[i] + (1 - alpha) * ema[i - 1]
    ema[:29] = np.nan
    change = np.full(len(c), np.nan)
    change[20:] = c[20:] / c[:-20] - 1
    want = np.where((c > ema) & (change > 0), 1.0, np.where((c < ema) & (change < 0), -1.0, 0.0))
    np.testing.assert_allclose(_target("pandas_trend.py", prices), want)


PROBE = """
import json, sys
from engine.sim.strategies import Bars
from engine.sim.synthetic import random_walk
from engine.userstrat import load_strategy_file
from engine.userstrat.loader import MODULE_PREFIX
s = load_strategy_file(sys.argv[1])
s.signal(Bars.from_frame(random_walk(300, seed=1)), None)
stats = sys.modules[MODULE_PREFIX + s.sha256[:16]]._calm_only.stats
print(json.dumps([sum(stats.cache_hits.values()), sum(stats.cache_misses.values())]))
"""


def test_a_second_process_does_not_compile_the_same_file_again(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BACKTEST_STRATEGY_CACHE": str(tmp_path / "files"),
        "PYTHONPATH": str(ROOT),
    }
    runs = [
        subprocess.run(
            [sys.executable, "-c", PROBE, str(EXAMPLES / "vol_breakout.py")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first == [0, 1]  # compiled once ...
    assert second == [1, 0]  # ... and loaded from the on-disk cache by the next process
    folders = [p.name for p in (tmp_path / "files").iterdir()]
    assert len(folders) == 1 and len(folders[0]) == 64  # keyed by the file's sha256
