"""SQLite (WAL) records of the local executor, shared safely by several processes and threads."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import InfraError
from jobs.model import JobKind, JobRecord, JobStatus, from_epoch

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    stopped_at REAL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    timeout REAL,
    array_size INTEGER,
    parent_id TEXT,
    array_index INTEGER,
    depends_on TEXT NOT NULL DEFAULT '[]',
    user TEXT NOT NULL DEFAULT '',
    command TEXT NOT NULL,
    env TEXT NOT NULL DEFAULT '{}',
    spec TEXT,
    result_prefix TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    pid INTEGER,
    pid_started REAL,
    exit_code INTEGER,
    log_path TEXT,
    stop_request TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs(parent_id, array_index);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
"""

BUSY_TIMEOUT_MS = 30_000
COLUMNS = (
    *("id", "name", "kind", "status", "reason", "created_at", "attempt", "max_attempts"),
    *("timeout", "array_size", "parent_id", "array_index", "depends_on", "user", "command"),
    *("env", "spec", "result_prefix", "tags"),
)


class JobTable:
    """Job rows in <jobs dir>/jobs.db; one connection per thread, writes in IMMEDIATE txns."""

    def __init__(self, jobs_dir: Path) -> None:
        self.dir = Path(jobs_dir)
        self.path = self.dir / "jobs.db"
        self.logs_dir = self.dir / "logs"
        try:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InfraError(f"cannot create jobs folder {self.dir}: {exc}") from None
        self._local = threading.local()
        try:
            self.conn().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise InfraError(
                f"cannot initialise job database {self.path}: {exc}{self._hint(exc)}"
            ) from None

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
                )
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise InfraError(
                    f"cannot open job database {self.path}: {exc}{self._hint(exc)}"
                ) from None
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: takes the write lock up front)."""
        conn = self.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise InfraError(
                f"job database {self.path} is locked or broken: {exc}{self._hint(exc)}"
            ) from None
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # e.g. "database or disk is full": nothing was written
            _rollback(conn)
            raise InfraError(f"job database {self.path}: {exc}{self._hint(exc)}") from None
        except BaseException:
            _rollback(conn)
            raise

    def _hint(self, exc: sqlite3.Error) -> str:
        """What to do when SQLite's error means the disk is full (or failing)."""
        text = str(exc)
        if "full" in text or "disk I/O" in text:
            return f"; is the disk under {self.dir} full? free space there, then retry"
        return ""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query."""
        try:
            return list(self.conn().execute(sql, params))
        except sqlite3.Error as exc:
            raise InfraError(f"job database {self.path}: {exc}{self._hint(exc)}") from None

    def insert(self, conn: sqlite3.Connection, row: dict[str, Any]) -> None:
        """Insert one job row (dict keyed by COLUMNS; JSON fields already encoded)."""
        names = [c for c in COLUMNS if c in row]
        marks = ",".join("?" for _ in names)
        conn.execute(
            f"INSERT INTO jobs ({','.join(names)}) VALUES ({marks})", [row[c] for c in names]
        )

    def row(self, job_id: str) -> sqlite3.Row | None:
        """The raw row of one job."""
        rows = self.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def counts(self, parent_id: str) -> dict[str, int]:
        """Children of an array job by status."""
        rows = self.query(
            "SELECT status, COUNT(*) AS n FROM jobs WHERE parent_id = ? GROUP BY status",
            (parent_id,),
        )
        return {r["status"]: int(r["n"]) for r in rows}

    def record(self, row: sqlite3.Row) -> JobRecord:
        """A row as a JobRecord (array parents get their children's status counts)."""
        counts = self.counts(row["id"]) if row["array_size"] else {}
        return JobRecord(
            id=row["id"],
            name=row["name"],
            kind=JobKind(row["kind"]),
            status=JobStatus(row["status"]),
            status_reason=row["reason"] or "",
            created_at=from_epoch(row["created_at"]),
            started_at=from_epoch(row["started_at"]),
            stopped_at=from_epoch(row["stopped_at"]),
            attempts=int(row["attempt"]),
            max_attempts=int(row["max_attempts"]),
            array_size=row["array_size"],
            status_counts=counts,
            result_prefix=row["result_prefix"],
            spec=json.loads(row["spec"]) if row["spec"] else None,
            parent_id=row["parent_id"],
            array_index=row["array_index"],
            depends_on=tuple(json.loads(row["depends_on"])),
            user=row["user"],
            command=tuple(json.loads(row["command"])),
            exit_code=row["exit_code"],
            log=row["log_path"],
            backend="local",
        )

    def log_path(self, job_id: str, attempt: int) -> Path:
        """The log file of one attempt."""
        safe = job_id.replace(":", "_").replace("/", "_")
        return self.logs_dir / f"{safe}.{attempt}.log"

    def refresh_parents(self, conn: sqlite3.Connection, parent_ids: set[str]) -> None:
        """Derive each array parent's status, reason and times from its children."""
        now = time.time()
        for pid in parent_ids:
            rows = conn.execute(
                "SELECT status, COUNT(*), MIN(started_at), MAX(stopped_at) FROM jobs "
                "WHERE parent_id = ? GROUP BY status",
                (pid,),
            ).fetchall()
            counts = {r[0]: int(r[1]) for r in rows}
            total = sum(counts.values())
            starts = [r[2] for r in rows if r[2]]
            status, reason = parent_status(counts, total)
            stopped = now if status.is_terminal else None
            conn.execute(
                "UPDATE jobs SET status = ?, reason = ?, started_at = ?, "
                "stopped_at = COALESCE(stopped_at, ?) WHERE id = ?",
                (status.value, reason, min(starts) if starts else None, stopped, pid),
            )


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open (SQLite may already have rolled back on its own)."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def parent_status(counts: dict[str, int], total: int) -> tuple[JobStatus, str]:
    """An array parent's status from its children's counts (as AWS Batch reports it)."""
    done_ok = counts.get("SUCCEEDED", 0)
    failed = counts.get("FAILED", 0)
    if total and done_ok + failed == total:
        if failed:
            return JobStatus.FAILED, f"{failed} of {total} child jobs failed"
        return JobStatus.SUCCEEDED, ""
    started = counts.get("STARTING", 0) + counts.get("RUNNING", 0) + done_ok + failed
    if started:
        return JobStatus.RUNNING, ""
    if counts.get("RUNNABLE", 0):
        return JobStatus.RUNNABLE, ""
    return JobStatus.PENDING, ""


def dumps(value: Any) -> str:
    """Compact JSON for a column."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
