"""Seed the local input bucket with generated sample files and the example strategies (no
network). Used by `make run`.

Where: the settings' storage root (jobs/settings.py: the checkout's .data unless a config file
or BACKTEST_* variable chooses another folder). With S3 storage nothing is written.

The example strategies (examples/strategies/*.py) go to the input bucket's strategies/ through
the add path every user takes (:func:`engine.userstrat.put_strategy`: validated in a
subprocess, then stored with its sidecar and a history record). A stored strategy of the same
NAME is never replaced: the same bytes are skipped without validating again, other bytes are
kept with a note. So a second `make run` writes nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import BacktestError, NotFoundError, ProjectError
from engine.sim.synthetic import random_walk
from engine.store.objects import Store
from jobs.settings import settings_with_sources

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "strategies"
SEED_USER = "seeded example"  # who added it: the seeding of a fresh store

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


@dataclass(frozen=True)
class SeededStrategy:
    """What seeding did with one example file: ``action`` is added, same (already stored with
    these bytes), kept (a stored file of that NAME differs: not replaced) or refused."""

    path: Path
    action: str
    line: str


def seed_strategies(
    store: Store, bucket: str, examples: Path = EXAMPLES, user: str = SEED_USER
) -> list[SeededStrategy]:
    """Add each ``examples/*.py`` to ``bucket``'s strategies/ unless its NAME is stored."""
    return [_seed_one(store, bucket, path, user) for path in sorted(examples.glob("*.py"))]


def _seed_one(store: Store, bucket: str, path: Path, user: str) -> SeededStrategy:
    from engine.userstrat import put_strategy, validate_source
    from engine.userstrat.loader import sha256_hex

    data = path.read_bytes()
    sha = sha256_hex(data)
    try:
        old = _stored(store, bucket, path.stem)  # the examples are named after their NAME
        if old is None or old.sha256 != sha:  # then the file's own NAME decides (a subprocess)
            name = validate_source(data, path.name).name
            old = _stored(store, bucket, name)
        if old is None:  # put_strategy refuses other bytes of an existing NAME itself
            info = put_strategy(store, bucket, data, user=user, filename=path.name)
            return SeededStrategy(path, "added", f"seeded strategies/{info.name}.py")
    except ProjectError as exc:
        return SeededStrategy(path, "refused", f"not seeded {path.name}: {exc}")
    if old.sha256 == sha:
        return SeededStrategy(path, "same", f"strategies/{old.name}.py is already stored")
    from app.cli_hints import python_command  # cli_hints reads this module's samples

    return SeededStrategy(
        path,
        "kept",
        f"kept strategies/{old.name}.py (sha256 {old.sha256[:12]}, by {old.added_by or '-'}): "
        f"it differs from {path.name}; to replace it: {python_command()} -m jobs strategy add "
        f"{path} --overwrite",
    )


def _stored(store: Store, bucket: str, name: str) -> Any:
    """The stored strategy ``name`` (its sidecar's StrategyInfo), or None."""
    from engine.sim.contract import is_name
    from engine.userstrat import get_strategy

    if not is_name(name):
        return None
    try:
        return get_strategy(store, bucket, name)
    except NotFoundError:
        return None


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
    from jobs.factory import make_store

    seeded = seed_strategies(make_store(settings), settings.input_bucket)
    for result in seeded:
        if result.action != "same":
            print(result.line, file=sys.stderr if result.action == "refused" else sys.stdout)
    return 0  # a refused example is reported; the dashboard still starts


if __name__ == "__main__":
    raise SystemExit(main())
