"""Seed the local input bucket with generated sample files (no network). Used by `make run`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from engine.synthetic import random_walk

SAMPLES = {
    "samples/trend_up_daily.csv": (2520, 13),
    "samples/choppy_range_daily.csv": (1500, 36),
    "samples/crash_and_recovery_daily.csv": (2000, 6),
}


def seed(root: Path, bucket: str = "backtest-input") -> list[Path]:
    """Write the sample CSVs under ``root/bucket`` unless they exist; return the paths written."""
    written = []
    for key, (n_bars, seed_value) in SAMPLES.items():
        path = root / bucket / key
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        random_walk(n_bars, seed=seed_value).to_csv(tmp, index_label="date", float_format="%.4f")
        tmp.replace(path)
        written.append(path)
    (root / "backtest-results").mkdir(parents=True, exist_ok=True)
    return written


def main() -> int:
    root = os.environ.get("BACKTEST_STORAGE_ROOT")
    if not root:
        print("set BACKTEST_STORAGE_ROOT to the folder that stands in for S3", file=sys.stderr)
        return 2
    bucket = os.environ.get("BACKTEST_INPUT_BUCKET", "backtest-input")
    for path in seed(Path(root), bucket):
        print(f"seeded {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
