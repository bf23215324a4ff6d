"""A planted "lucky" parameter on random data is flagged by the robustness statistics; a real
edge found by the same strategy on the same kind of data is not (issue 13 point 5).

The strategy (a stored strategy file, so the sweep runs it like a user's) holds a long position
for one bar in every cycle of ``CYCLE`` bars; its only parameter, ``phase``, picks which bar.
The prices are a seeded random walk whose log returns are de-meaned within each phase of the
cycle: over the whole sample no phase has an edge, so whichever phase looks best on part of
the sample is luck, and the rest of the sample takes it back (Bailey, Borwein, López de Prado
and Zhu's compensation effect). The control plants a real drift in one phase.

Everything runs through the real path: ``python -m jobs strategy add``, ``python -m jobs sweep``
on the local backend (the default 30% holdout kept), the array children, the collect
(``engine.sweep.collect``: deflated Sharpe and PBO by CSCV on the children's return matrices,
in-sample vs out-of-sample Sharpe on the holdout) and the dashboard's verdicts against the
thresholds the Robustness tab states (``app.sweep_robustness``). Measured (seeds 1-8): PBO 1.0
and deflated Sharpe 0.49-0.56 for the lucky phase; PBO 0.0 and deflated Sharpe 1.0 with the
edge (seeds 1-4).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.sweep_robustness import DSR_PASS, PBO_PASS, verdicts
from engine.store.objects import LocalStore

REPO = Path(__file__).resolve().parents[2]
CYCLE = 20
N_BARS = 2000
NAME = "lucky_phase"
STRATEGY = f'''import numpy as np

NAME = "{NAME}"
DESCRIPTION = "Long for one bar in every cycle of {CYCLE} bars; phase picks the bar."
PARAMS = {{
    "phase": {{"type": "int", "default": 0, "min": 0, "max": {CYCLE - 1},
               "help": "which bar of the cycle"}},
}}


def signal(bars, p):
    n = bars.close.shape[0]
    return (np.arange(n) % {CYCLE} == p["phase"]).astype(float)
'''


def prices(seed: int, edge: float = 0.0, edge_class: int = 7) -> pd.DataFrame:
    """A random walk (daily vol 1%) whose log returns sum to zero within each bar class
    ``index % CYCLE``; ``edge`` is then added to every return of class ``edge_class``. Opens
    equal the previous close, so a one-bar hold earns exactly one bar's return."""
    rng = np.random.default_rng(seed)
    log_ret = 0.01 * rng.standard_normal(N_BARS)
    cls = np.arange(N_BARS) % CYCLE
    for c in range(CYCLE):
        log_ret[cls == c] -= log_ret[cls == c].mean()
    log_ret[cls == edge_class] += edge
    close = 100.0 * np.exp(np.cumsum(log_ret))
    open_ = np.r_[100.0, close[:-1]]
    index = pd.date_range("2012-01-02", periods=N_BARS, freq="B", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close),
         "close": close, "volume": 1e6},
        index=index,
    )  # fmt: skip


def lucky_env(root: Path, config: Path, buckets: tuple[str, str]) -> dict[str, str]:
    """The jobs CLI's environment on the local backend over ``root``, with the lucky-phase
    strategy file stored in the input bucket (``python -m jobs strategy add``)."""
    out = dict(os.environ)
    out.update(
        BACKTEST_STORAGE_ROOT=str(root),
        BACKTEST_INPUT_BUCKET=buckets[0],
        BACKTEST_RESULT_BUCKET=buckets[1],
        BACKTEST_CONFIG=str(config),
        BACKTEST_POLL_MS="50",
        BACKTEST_WORKER_IDLE="2",
        BACKTEST_CONCURRENCY="2",
    )
    path = config.parent / f"{NAME}.py"
    path.write_text(STRATEGY, encoding="utf-8")
    added = _cli("strategy", "add", str(path), env=out)
    assert added.returncode == 0, added.stderr
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    return lucky_env(root, tmp_path / "no-config.toml", ("input", "results"))


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=REPO, env=env, capture_output=True, check=False, text=True, timeout=600,
    )  # fmt: skip


def lucky_sweep(env: dict[str, str], frame: pd.DataFrame, sweep_id: str) -> dict[str, Any]:
    """Sweep every phase over ``frame`` (stored as ``<sweep_id>.csv``) on the local backend,
    the default holdout kept; robustness.json as collect wrote it."""
    root = Path(env["BACKTEST_STORAGE_ROOT"])
    source, results = env["BACKTEST_INPUT_BUCKET"], env["BACKTEST_RESULT_BUCKET"]
    frame.to_csv(root / source / f"{sweep_id}.csv")
    out = _cli(
        "sweep", source, f"{sweep_id}.csv", results, "--strategy", NAME,
        "--range", f"phase=0:{CYCLE - 1}:1", "--commission", "0",
        "--children", "2", "--top-n", "1", "--sweep-id", sweep_id, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    waited = _cli("wait", out.stdout.strip().splitlines()[-1], "--timeout", "500", env=env)
    assert waited.returncode == 0, (waited.stdout, waited.stderr)
    store = LocalStore(root)
    return dict(json.loads(store.get_bytes(results, f"sweeps/{sweep_id}/robustness.json")))


def _verdict(report: dict[str, Any], statistic: str) -> str:
    table = verdicts(report).set_index("statistic")
    return str(table.loc[statistic, "verdict"])


DSR = "Deflated Sharpe ratio"
PBO = "Probability of backtest overfitting (PBO)"


@pytest.mark.parametrize("seed", [1, 2])
def test_a_lucky_phase_on_random_data_is_flagged(env: dict[str, str], seed: int) -> None:
    report = lucky_sweep(env, prices(seed), f"lucky{seed}")
    assert report["n_trials"] == CYCLE and report["pbo_skipped_reason"] is None
    assert report["pbo"] > PBO_PASS, report["pbo_details"]
    assert report["deflated_sharpe"] < DSR_PASS
    assert _verdict(report, PBO) == "fail" and _verdict(report, DSR) == "fail"
    # the holdout's in-sample winner (first 70% of bars) made money in-sample by luck and
    # gives it back on the held-out bars
    winner = next(r for r in report["oos"] if r["rank"] == 1)
    assert winner["is_sharpe"] > 0 > winner["oos_sharpe"]


def test_a_real_edge_on_the_same_kind_of_data_is_not_flagged(env: dict[str, str]) -> None:
    # class 7 drifts up 0.6% a bar; the strategy earns bar t+1's return for phase t (it fills
    # at the next open), so phase 6 holds the edge
    report = lucky_sweep(env, prices(1, edge=0.006), "edge")
    assert report["best"]["params"] == {"phase": 6}
    assert report["pbo"] < PBO_PASS
    assert report["deflated_sharpe"] > DSR_PASS
    assert _verdict(report, PBO) == "pass" and _verdict(report, DSR) == "pass"
    winner = next(r for r in report["oos"] if r["rank"] == 1)
    assert winner["params"] == {"phase": 6} and winner["oos_sharpe"] > 1.0  # it holds out
