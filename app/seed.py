"""Seed the local input bucket with generated sample files (no network). Used by `make run`.

Where: the settings' storage root (jobs/settings.py: the checkout's .data unless a config file
or BACKTEST_* variable chooses another folder). With S3 storage nothing is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.errors import BacktestError
from engine.sim.synthetic import random_walk
from jobs.settings import settings_with_sources

SAMPLES = {
    "samples/trend_up_daily.csv": (2520, 13),
    "samples/choppy_range_daily.csv": (1500, 36),
    "samples/crash_and_recovery_daily.csv": (2000, 6),
}


def seed(
    root: Path, bucket: str = "backtest-input", result_bucket: str = "backtest-results"
) -> list[Path]:
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
    (root / result_bucket).mkdir(parents=True, exist_ok=True)
    return written


def main() -> int:
    """Seed the configured local storage; a note and exit 0 when storage is S3."""
    try:
        settings, where = settings_with_sources()
    except BacktestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if settings.storage != "local":
        print(f"storage is S3 ({where['storage']}): no sample files seeded")
        return 0
    try:
        written = seed(Path(settings.storage_root), settings.input_bucket, settings.result_bucket)
    except OSError as exc:
        print(f"error: cannot seed {settings.storage_root}: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"seeded {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
