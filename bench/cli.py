"""A cold CLI run: ``python -m engine.backtest src prices.csv results`` on 2,520 bars in a
fresh process against a BACKTEST_STORAGE_ROOT temp dir (imports, kernel cache load, run and
result writes included). One untimed priming run fills the on-disk kernel cache first, as the
image build does.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, Row, fmt_time, synthetic

TITLE = "cold CLI"
N_BARS = 2_520
TARGET_S = 2.0


def run(quick: bool = False) -> list[Row]:
    """Median wall time of fresh-process CLI runs (3, or 1 when quick)."""
    case = f"{N_BARS:,} bars"
    if not (REPO / "engine" / "backtest.py").is_file():
        return [Row(TITLE, case, "engine", note="skipped: engine/backtest.py does not exist yet")]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        (root / "results").mkdir()
        synthetic(N_BARS, seed=3).to_csv(root / "src" / "prices.csv", index_label="timestamp")
        prime_s, err = _once(root)
        if err:
            return [Row(TITLE, case, "engine", note=f"CLI failed: {err}")]
        times = []
        for _ in range(1 if quick else 3):
            seconds, err = _once(root)
            if err:
                return [Row(TITLE, case, "engine", note=f"CLI failed: {err}")]
            times.append(seconds)
    wall = statistics.median(times)
    return [
        Row(
            TITLE,
            case,
            "engine",
            fmt_time(wall),
            target="<= 2 s",
            ok=wall <= TARGET_S,
            note=f"fresh process, kernels cached on disk; priming run {fmt_time(prime_s)}",
        )
    ]


def _once(root: Path) -> tuple[float, str]:
    env = {**os.environ, "BACKTEST_STORAGE_ROOT": str(root)}
    cmd = [sys.executable, "-m", "engine.backtest", "src", "prices.csv", "results"]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        return seconds, lines[-1]
    return seconds, ""
