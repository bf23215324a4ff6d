"""A full disk under the storage root: the engine CLI exits 1 with one "disk full" line, and the
run's prefix holds no result file and no _SUCCESS (error.json when there was room for it).

Two ways to fill a disk, both real: a 1 MB tmpfs mounted as the storage root (needs root and
permission to mount; on a machine without it the same test runs under RLIMIT_FSIZE instead),
and a file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG, which is reported as a
full disk too).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.sim.synthetic import random_walk
from engine.store.objects import TEMP_PREFIX, LocalStore
from jobs.local import LocalExecutor
from jobs.settings import Settings
from tests.faults.conftest import INPUT, PRICES, REPO, RESULTS, sub_env

RESULT_FILES = ("spec.json", "metrics.json", "equity.parquet", "trades.parquet", "_SUCCESS")
SIZE_LIMIT = 8192  # bytes: spec.json and metrics.json fit, equity.parquet of 3,000 bars does not


def file_size_limit() -> None:
    """preexec_fn: files may not grow past SIZE_LIMIT (EFBIG instead of the SIGXFSZ kill)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (SIZE_LIMIT, SIZE_LIMIT))


def _fill(folder: Path, leave: int, name: str = "filler") -> None:
    """Fill the filesystem of ``folder``, then free ``leave`` bytes again."""
    filler = folder / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def _mount_tmpfs(folder: Path) -> bool:
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        return False
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True, check=False,
    )  # fmt: skip
    return out.returncode == 0


@pytest.fixture
def full_root(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None] | None, str]]:
    """(storage root with the input, preexec_fn for the engine, reason the message names)."""
    root = tmp_path / "small"
    mounted = _mount_tmpfs(root)
    try:
        store = LocalStore(root)
        store.create_bucket("input")
        store.create_bucket("results")
        store.put_bytes("input", "prices.csv", random_walk(3000, seed=9).to_csv().encode())
        if mounted:
            _fill(root, leave=3 * 4096)  # room for spec.json and metrics.json, not equity
            yield root, None, "no space left on device"
        else:  # no tmpfs here: a file size limit makes the same failure
            yield root, file_size_limit, "file size limit reached"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


def engine_cli(root: Path, preexec: Callable[[], None] | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.backtest", "input", "prices.csv", "results",
         "--run-id", "full"],
        cwd=REPO, env=sub_env(root), preexec_fn=preexec, capture_output=True, check=False,
        text=True, timeout=180,
    )  # fmt: skip


def assert_clean_failure(root: Path, out: subprocess.CompletedProcess, reason: str) -> None:
    assert out.returncode == 1, out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"error: disk full under {root.resolve()} while writing s3://")
    assert f"({reason}); free space there, then retry" in lines[0]
    run_dir = root / "results" / "runs" / "full"
    left = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    assert not [name for name in left if name in RESULT_FILES or name.startswith(TEMP_PREFIX)]
    assert left in ([], ["error.json"])


@pytest.mark.slow
def test_full_disk_under_the_storage_root(
    full_root: tuple[Path, Callable[[], None] | None, str],
) -> None:
    root, preexec, reason = full_root
    out = engine_cli(root, preexec)
    assert_clean_failure(root, out, reason)
    store = LocalStore(root)
    if store.exists("results", "runs/full/error.json"):  # there was room once files went
        assert "disk full" in store.get_bytes("results", "runs/full/error.json").decode()


@pytest.mark.slow
def test_file_size_limit_is_reported_as_a_full_disk(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = LocalStore(root)
    store.create_bucket("input")
    store.create_bucket("results")
    store.put_bytes("input", "prices.csv", random_walk(3000, seed=9).to_csv().encode())
    out = engine_cli(root, file_size_limit)
    assert_clean_failure(root, out, "file size limit reached")
    assert "equity.parquet" in out.stderr  # the small files went through, then were removed
    assert store.exists("results", "runs/full/error.json")


@pytest.mark.slow
def test_full_disk_under_the_job_database(
    full_root: tuple[Path, Callable[[], None] | None, str],
) -> None:
    """Submitting with no space left: one line, exit 1, nothing half-recorded. The dashboard
    holds the database open meanwhile (as when the disk fills while it runs)."""
    root, preexec, _ = full_root
    if preexec is None:  # tmpfs: room for the database first, then not a byte left
        filler = root / "filler"
        os.truncate(filler, max(0, filler.stat().st_size - 256 * 1024))
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as dashboard:
        assert dashboard.list() == []
        if preexec is None:
            _fill(root, leave=0, name="filler-2")
        out = subprocess.run(
            [sys.executable, "-m", "jobs", "submit", INPUT, PRICES, RESULTS, "--run-id", "nope"],
            cwd=REPO, env=sub_env(root), preexec_fn=preexec, capture_output=True, check=False,
            text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 1, out.stderr
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        jobs_dir = root.resolve() / "_jobs"
        assert lines[0].startswith("error: ") and f"job database {jobs_dir / 'jobs.db'}" in lines[0]
        assert lines[0].endswith(f"is the disk under {jobs_dir} full? free space there, then retry")
        (root / "filler-2").unlink(missing_ok=True)
        assert dashboard.list() == []  # nothing half-recorded
