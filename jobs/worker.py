"""The local worker: holds a lease, starts RUNNABLE jobs in FIFO order, reaps, kills, retries.

Exactly one worker per jobs folder runs jobs at a time: the lease is an exclusive ``flock`` on
``<jobs dir>/worker.lock`` that the OS releases when the holder dies. A worker runs as a thread
(inside the dashboard) or as a detached ``python -m jobs worker`` process (started by the CLI).

A detached worker does not outlive its purpose: it exits after ``idle_exit`` seconds with
nothing to run, and at once when its jobs folder is deleted or replaced (``rm -rf .data``):
its jobs are killed and nothing is written.

The lease, process-group signals, pid identity and the detached spawn are in ``jobs/process.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engine.errors import InfraError
from jobs.localstore import JobTable
from jobs.process import Lease, create_time, kill_group, pid_matches

REPO_ROOT = Path(__file__).resolve().parents[1]  # a job's working folder (as from a checkout)
RESTART_REASON = "executor restarted"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
DEPENDENCY_REASON = "Dependent Job failed"
STOPPED_REASON = "executor stopped"
REASON_CHARS = 300
ERROR_PAUSE_S = 2.0  # wait after a failed tick (disk full, database locked) before the next


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs jobs."""

    concurrency: int
    poll: float = 0.2
    kill_grace: float = 10.0
    storage_root: str = ""
    idle_exit: float | None = None  # None: never exit when idle (the dashboard's thread)
    exit_when_gone: bool = False  # stop when the jobs folder goes (always with idle_exit set)


@dataclass
class _Proc:
    job_id: str
    parent_id: str | None
    popen: subprocess.Popen[bytes]
    started: float
    timeout: float | None
    attempt: int
    max_attempts: int
    log: IO[bytes]
    kill_reason: str | None = None
    kill_sent: float | None = None
    stopped: bool = False  # killed because the worker stopped (not by terminate or timeout)


def last_line(path: Path) -> str:
    """The last non-empty line of a log file (the engine's one-line error), shortened."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:REASON_CHARS]
    return ""


class Worker:
    """Runs the jobs of one JobTable; call run() in a thread or process, or tick() by hand."""

    def __init__(self, table: JobTable, config: WorkerConfig) -> None:
        self.table = table
        self.config = config
        self.lease = Lease(table.dir / "worker.lock")
        self.procs: dict[str, _Proc] = {}
        self.wake = threading.Event()
        self._idle_since: float | None = None
        self._watch_gone = config.exit_when_gone or config.idle_exit is not None
        self._identity = _identity(table.dir, table.path)

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set (or, with idle_exit, until idle that long)."""
        try:
            while not stop.is_set():
                if self._folder_gone():
                    print(
                        f"jobs worker: jobs folder {self.table.dir} was deleted; stopping",
                        file=sys.stderr,
                    )
                    self._abandon()
                    return
                if not self.lease.held:
                    if self.lease.acquire():
                        self.recover()
                    else:
                        stop.wait(max(self.config.poll, 0.5))
                        continue
                try:
                    busy = self.tick()
                except InfraError as exc:  # e.g. a full disk under the job database
                    # keep the worker alive: the records are intact (the transaction rolled
                    # back), so the next tick after the fault clears picks up where this stopped
                    print(f"jobs worker: {exc}; retrying in {ERROR_PAUSE_S:g}s", file=sys.stderr)
                    stop.wait(ERROR_PAUSE_S)
                    continue
                if not busy and self._idle_too_long():
                    break
                self.wake.wait(self.config.poll)
                self.wake.clear()
        finally:
            self.shutdown()

    def _folder_gone(self) -> bool:
        """Whether the jobs folder or its database was deleted or replaced since the start."""
        return self._watch_gone and _identity(self.table.dir, self.table.path) != self._identity

    def _abandon(self) -> None:
        """The folder is gone: kill what runs, record nothing (the records went with it)."""
        for proc in list(self.procs.values()):
            kill_group(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
            proc.log.close()
        self.procs.clear()
        self.lease.release()
        self.table.close()

    def _idle_too_long(self) -> bool:
        now = time.time()
        if self._idle_since is None:
            self._idle_since = now
        if self.config.idle_exit is None or now - self._idle_since < self.config.idle_exit:
            return False
        # Release first, then look again: a submitter that saw the lease held has committed.
        self.lease.release()
        if self._has_work() and self.lease.acquire():
            self._idle_since = None
            return False
        return True

    def _has_work(self) -> bool:
        rows = self.table.query(
            "SELECT 1 FROM jobs WHERE status NOT IN ('SUCCEEDED','FAILED') "
            "AND array_size IS NULL LIMIT 1"
        )
        return bool(rows)

    def shutdown(self) -> None:
        """Kill what still runs and give the lease up.

        As after a crash (:meth:`recover`), a killed job is requeued while it has attempts
        left ('executor stopped; retrying') and FAILED 'executor stopped' otherwise.
        """
        for proc in list(self.procs.values()):
            kill_group(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
            if proc.kill_reason is None:
                proc.kill_reason, proc.stopped = STOPPED_REASON, True
        if self.procs:
            self._reap()
        self.lease.release()
        self.table.close()

    def recover(self) -> None:
        """On taking the lease: jobs a dead worker left running are failed or requeued."""
        rows = self.table.query(
            "SELECT id, parent_id, pid, pid_started, attempt, max_attempts FROM jobs "
            "WHERE status IN ('STARTING', 'RUNNING')"
        )
        parents: set[str] = set()
        with self.table.tx() as conn:
            for row in rows:
                if pid_matches(row["pid"], row["pid_started"]):
                    kill_group(row["pid"], signal.SIGKILL)
                retry = row["attempt"] < row["max_attempts"]
                conn.execute(
                    "UPDATE jobs SET status = ?, reason = ?, pid = NULL, stopped_at = ? "
                    "WHERE id = ?",
                    (
                        "RUNNABLE" if retry else "FAILED",
                        f"{RESTART_REASON}; retrying" if retry else RESTART_REASON,
                        None if retry else time.time(),
                        row["id"],
                    ),
                )
                if row["parent_id"]:
                    parents.add(row["parent_id"])
            self.table.refresh_parents(conn, parents)

    # -- one scheduling pass -------------------------------------------------------------------

    def tick(self) -> bool:
        """Reap, enforce stops and timeouts, resolve dependencies, start jobs; True if busy."""
        self._reap()
        self._enforce_stops()
        self._resolve_dependencies()
        self._start_runnable()
        busy = bool(self.procs) or self._has_work()
        if busy:
            self._idle_since = None
        return busy

    def _reap(self) -> None:
        done = [p for p in self.procs.values() if p.popen.poll() is not None]
        if not done:
            return
        parents: set[str] = set()
        now = time.time()
        with self.table.tx() as conn:
            for proc in done:
                self._finish(conn, proc, now)
                if proc.parent_id:
                    parents.add(proc.parent_id)
            self.table.refresh_parents(conn, parents)
        for proc in done:
            proc.log.close()
            del self.procs[proc.job_id]

    def _finish(self, conn: Any, proc: _Proc, now: float) -> None:
        rc = proc.popen.returncode
        log = self.table.log_path(proc.job_id, proc.attempt)
        if proc.stopped and proc.attempt < proc.max_attempts:
            status, reason = "RUNNABLE", f"{STOPPED_REASON}; retrying"
        elif proc.kill_reason:
            status, reason = "FAILED", proc.kill_reason
        elif rc == 0:
            status, reason = "SUCCEEDED", ""
        else:
            what = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
            tail = last_line(log)
            reason = f"{what}: {tail}" if tail else what
            if proc.attempt < proc.max_attempts:
                status = "RUNNABLE"
                reason = f"attempt {proc.attempt} failed ({reason}); retrying"
            else:
                status = "FAILED"
        conn.execute(
            "UPDATE jobs SET status = ?, reason = ?, exit_code = ?, pid = NULL, stopped_at = ? "
            "WHERE id = ?",
            (status, reason, rc, None if status == "RUNNABLE" else now, proc.job_id),
        )

    def _kill(self, proc: _Proc, reason: str) -> None:
        if proc.kill_sent is None:
            proc.kill_reason = reason
            proc.kill_sent = time.time()
            kill_group(proc.popen.pid, signal.SIGTERM)

    def _enforce_stops(self) -> None:
        now = time.time()
        if self.procs:
            marks = ",".join("?" for _ in self.procs)
            rows = self.table.query(
                f"SELECT id, stop_request FROM jobs WHERE stop_request IS NOT NULL "
                f"AND id IN ({marks})",
                list(self.procs),
            )
            for row in rows:
                self._kill(self.procs[row["id"]], row["stop_request"])
        for proc in self.procs.values():
            if proc.timeout and now - proc.started > proc.timeout:
                self._kill(proc, TIMEOUT_REASON)
            if proc.kill_sent is not None and now - proc.kill_sent >= self.config.kill_grace:
                kill_group(proc.popen.pid, signal.SIGKILL)

    def _resolve_dependencies(self) -> None:
        rows = self.table.query(
            "SELECT id, parent_id, depends_on FROM jobs WHERE status = 'PENDING' "
            "AND array_size IS NULL"
        )
        if not rows:
            return
        deps = {d for row in rows for d in json.loads(row["depends_on"])}
        states = self._statuses(sorted(deps))
        parents: set[str] = set()
        now = time.time()
        with self.table.tx() as conn:
            for row in rows:
                mine = [states.get(d) for d in json.loads(row["depends_on"])]
                if any(s in (None, "FAILED") for s in mine):
                    conn.execute(
                        "UPDATE jobs SET status = 'FAILED', reason = ?, stopped_at = ? "
                        "WHERE id = ? AND status = 'PENDING'",
                        (DEPENDENCY_REASON, now, row["id"]),
                    )
                elif all(s == "SUCCEEDED" for s in mine):
                    conn.execute(
                        "UPDATE jobs SET status = 'RUNNABLE' WHERE id = ? AND status = 'PENDING'",
                        (row["id"],),
                    )
                else:
                    continue
                if row["parent_id"]:
                    parents.add(row["parent_id"])
            self.table.refresh_parents(conn, parents)

    def _statuses(self, ids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" for _ in chunk)
            for row in self.table.query(
                f"SELECT id, status FROM jobs WHERE id IN ({marks})", chunk
            ):
                out[row["id"]] = row["status"]
        return out

    def _start_runnable(self) -> None:
        free = self.config.concurrency - len(self.procs)
        if free <= 0:
            return
        rows = self.table.query(
            "SELECT * FROM jobs WHERE status = 'RUNNABLE' AND array_size IS NULL "
            "ORDER BY seq LIMIT ?",
            (free,),
        )
        for row in rows:
            self._start(row)

    def _start(self, row: Any) -> None:
        job_id, attempt = row["id"], int(row["attempt"]) + 1
        log_path = self.table.log_path(job_id, attempt)
        now = time.time()
        with self.table.tx() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status = 'STARTING', attempt = ?, started_at = ?, "
                "stopped_at = NULL, exit_code = NULL, log_path = ? "
                "WHERE id = ? AND status = 'RUNNABLE'",
                (attempt, now, str(log_path), job_id),
            )
            if cur.rowcount == 0:
                return
            if row["parent_id"]:
                self.table.refresh_parents(conn, {row["parent_id"]})
        log = log_path.open("ab")
        try:
            popen = subprocess.Popen(
                json.loads(row["command"]),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._child_env(row, attempt),
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        except OSError as exc:
            log.write(f"cannot start command: {exc}\n".encode())
            log.close()
            with self.table.tx() as conn:
                conn.execute(
                    "UPDATE jobs SET status = 'FAILED', reason = ?, stopped_at = ? WHERE id = ?",
                    (f"cannot start command: {exc}"[:REASON_CHARS], time.time(), job_id),
                )
                if row["parent_id"]:
                    self.table.refresh_parents(conn, {row["parent_id"]})
            return
        threading.Thread(target=self._wake_on_exit, args=(popen,), daemon=True).start()
        self.procs[job_id] = _Proc(
            job_id=job_id,
            parent_id=row["parent_id"],
            popen=popen,
            started=now,
            timeout=row["timeout"],
            attempt=attempt,
            max_attempts=int(row["max_attempts"]),
            log=log,
        )
        with self.table.tx() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'RUNNING', pid = ?, pid_started = ? "
                "WHERE id = ? AND status = 'STARTING'",
                (popen.pid, create_time(popen.pid), job_id),
            )

    def _wake_on_exit(self, popen: subprocess.Popen[bytes]) -> None:
        """Wake the loop as soon as a job's process exits (no waiting for the next poll)."""
        popen.wait()
        self.wake.set()

    def _child_env(self, row: Any, attempt: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(json.loads(row["env"]))
        env["AWS_BATCH_JOB_ID"] = row["id"]
        env["AWS_BATCH_JOB_ATTEMPT"] = str(attempt)
        if row["array_index"] is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(row["array_index"])
        else:
            env.pop("AWS_BATCH_JOB_ARRAY_INDEX", None)
        if self.config.storage_root:
            env["BACKTEST_STORAGE_ROOT"] = self.config.storage_root
        return env


def _identity(*paths: Path) -> tuple[tuple[int, int] | None, ...]:
    """(device, inode) of each path, None for a missing one: a deleted or replaced folder or
    file changes it."""
    out: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_dev, st.st_ino))
    return tuple(out)
