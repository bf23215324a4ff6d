"""The local worker's process helpers: the lease, signalling a job's process group, telling a
live pid from a recycled one, and starting a detached ``python -m jobs worker``.

Nothing is added to ``PYTHONPATH``: the environment installs the project (``uv sync`` installs
it editable), so the detached worker and the jobs it starts import it from any folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import psutil


class Lease:
    """An exclusive flock on a file; released by the OS when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lease."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lease if free; True when held afterwards."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lease up."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def is_held(path: Path) -> bool:
        """Whether any live process (this one included) holds the lease at `path`."""
        probe = Lease(path)
        if probe.acquire():
            probe.release()
            return False
        return True


def kill_group(pid: int, sig: int) -> None:
    """Signal a job's whole process group (jobs start in their own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def pid_matches(pid: int | None, started: float | None) -> bool:
    """Whether `pid` is alive and is the same process that started at `started`."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def create_time(pid: int) -> float | None:
    """The start time psutil reports for `pid` (None when it is gone or not ours)."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def spawn_detached_worker(
    log_dir: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m jobs worker` in its own session (stderr to worker.log).

    The caller keeps the handle: while it is alive (a cold interpreter can take seconds to
    import and take the lease) the caller must not start another.
    """
    child_env = dict(os.environ if env is None else env)
    with (log_dir / "worker.log").open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs", "worker"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=child_env,
            cwd=os.getcwd(),
            start_new_session=True,
        )
    return proc
