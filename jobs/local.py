"""The embedded executor: jobs as local subprocesses, records in SQLite under the storage root.

Where records and logs live (``jobs_dir``): the ``BACKTEST_JOBS_DIR`` setting if given, else
``<storage_root>/_jobs``, else ``~/.cache/batch-backtest/_jobs`` when no storage root is set.

Workers: ``worker="thread"`` runs the worker in a daemon thread of this process (the dashboard;
it adopts the lease as soon as no other worker holds it); ``worker="process"`` makes sure a
detached ``python -m jobs worker`` runs (the CLI; it exits after ``worker_idle`` idle seconds);
``worker="none"`` only reads and writes records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import BacktestError, NotFoundError
from jobs.base import Executor, default_user
from jobs.localstore import JobTable, dumps
from jobs.model import (
    QUEUED,
    JobKind,
    JobQuery,
    JobRecord,
    JobRequest,
    JobStatus,
    check_array_size,
    check_command,
    check_depends_on,
    check_job_name,
)
from jobs.process import Lease, spawn_detached_worker
from jobs.settings import Settings
from jobs.worker import Worker, WorkerConfig

WORKER_MODES = ("thread", "process", "none")


HALF_MICROSECOND = 5e-7


def jobs_dir_for(settings: Settings) -> Path:
    """Where the local executor keeps jobs.db, logs and the worker lease."""
    if settings.jobs_dir:
        return Path(settings.jobs_dir).expanduser()
    if settings.storage_root:
        return Path(settings.storage_root).expanduser() / "_jobs"
    return Path.home() / ".cache" / "batch-backtest" / "_jobs"


class LocalExecutor(Executor):
    """Executor backed by local subprocesses. See the module docstring for worker modes."""

    backend = "local"
    python = sys.executable

    def __init__(
        self,
        settings: Settings,
        *,
        worker: str = "thread",
        poll: float | None = None,
        concurrency: int | None = None,
    ) -> None:
        if worker not in WORKER_MODES:
            raise BacktestError(f"worker must be one of {', '.join(WORKER_MODES)}, got {worker!r}")
        self.settings = settings
        self.table = JobTable(jobs_dir_for(settings))
        self.poll = settings.poll_ms / 1000.0 if poll is None else poll
        slots = concurrency or settings.concurrency or os.cpu_count() or 1
        self.config = WorkerConfig(
            concurrency=slots,
            poll=self.poll,
            kill_grace=float(settings.kill_grace),
            storage_root=str(Path(settings.storage_root).expanduser().resolve())
            if settings.storage_root
            else "",
            idle_exit=float(settings.worker_idle) if worker == "process" else None,
        )
        self.user = default_user(settings.user)
        self.worker_mode = worker
        self._worker: Worker | None = None
        self._spawned: subprocess.Popen[bytes] | None = None  # the detached worker we started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if worker == "thread":
            self._worker = Worker(self.table, self.config)
            self._thread = threading.Thread(
                target=self._worker.run, args=(self._stop,), name="jobs-worker", daemon=True
            )
            self._thread.start()

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop this process's worker thread.

        Its running jobs are killed: requeued while attempts remain, else FAILED "executor
        stopped". Queued jobs stay queued for the next worker.
        """
        self._stop.set()
        if self._worker is not None:
            self._worker.wake.set()
        if self._thread is not None:
            self._thread.join()
        self.table.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_worker(self) -> None:
        """worker='process': start a detached worker unless a live one holds the lease."""
        if self.worker_mode != "process":
            return
        if self._spawned is not None and self._spawned.poll() is None:
            return  # ours is still starting (or holds the lease): never start a second one
        if not Lease.is_held(self.table.dir / "worker.lock"):
            self._spawned = spawn_detached_worker(log_dir=self.table.dir)

    def _kick(self) -> None:
        if self._worker is not None:
            self._worker.wake.set()
        else:
            self.ensure_worker()

    # -- submit ------------------------------------------------------------------------------

    def submit(self, request: JobRequest) -> JobRecord:
        """Queue a request; with array_size, a parent plus children <id>:0..N-1."""
        row = self._new_row(request)
        tags = request.tags or {}
        row.update(
            spec=dumps(dict(request.spec)) if request.spec is not None else None,
            result_prefix=request.result_prefix,
            tags=dumps(dict(tags)),
            user=tags.get("user") or self.user,
        )
        self._check_dependencies(row["depends_on_ids"])
        with self.table.tx() as conn:
            if request.array_size:
                row["status"] = JobStatus.PENDING.value
                self.table.insert(conn, row)
                for index in range(request.array_size):
                    child = dict(row, id=f"{row['id']}:{index}", kind=JobKind.CHILD.value)
                    child.update(parent_id=row["id"], array_index=index, array_size=None)
                    child["status"] = self._initial_status(row["depends_on_ids"])
                    self.table.insert(conn, child)
                self.table.refresh_parents(conn, {row["id"]})
            else:
                row["status"] = self._initial_status(row["depends_on_ids"])
                self.table.insert(conn, row)
        self._kick()
        return self.get(row["id"])

    def _new_row(self, request: JobRequest) -> dict[str, Any]:
        cmd = check_command(request.command)
        deps = check_depends_on(list(request.depends_on))
        timeout = self.settings.job_timeout if request.timeout is None else request.timeout
        attempts = self.settings.attempts if request.attempts is None else request.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise BacktestError(f"attempts must be an integer in 1..10, got {attempts!r}")
        if timeout is not None and (isinstance(timeout, bool) or timeout < 0):
            raise BacktestError(f"timeout must be >= 0 seconds (0 = none), got {timeout!r}")
        env_map = {str(k): str(v) for k, v in (request.env or {}).items()}
        return {
            "id": str(uuid.uuid4()),
            "name": check_job_name(request.name),
            "kind": JobKind.parse(request.kind).value,
            "created_at": time.time(),
            "max_attempts": attempts,
            "timeout": float(timeout) if timeout else None,
            "array_size": check_array_size(request.array_size),
            "depends_on": dumps(list(deps)),
            "depends_on_ids": deps,
            "user": self.user,
            "command": dumps(list(cmd)),
            "env": dumps(env_map),
        }

    @staticmethod
    def _initial_status(deps: tuple[str, ...]) -> str:
        return JobStatus.PENDING.value if deps else JobStatus.RUNNABLE.value

    def _check_dependencies(self, deps: tuple[str, ...]) -> None:
        for dep in deps:
            if self.table.row(dep) is None:
                raise NotFoundError(f"dependency {dep} is not a known job")

    # -- read --------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """One job record; NotFoundError when unknown."""
        row = self.table.row(job_id)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}; list jobs with: python -m jobs ls")
        return self.table.record(row)

    def _select(self, query: JobQuery) -> list[JobRecord]:
        """Jobs newest first; array children only when parent_id names their parent."""
        parent_id = query.parent_id
        where, params = ["parent_id IS ?" if parent_id is None else "parent_id = ?"], [parent_id]
        if query.status is not None:
            where.append("status = ?")
            params.append(query.status.value)
        if query.name_prefix:
            where.append("substr(name, 1, ?) = ?")
            params += [len(query.name_prefix), query.name_prefix]  # type: ignore[list-item]
        # records keep time.time() floats; a datetime holds microseconds, so a record's own
        # created_at read back may sit up to half a microsecond off: compare with that slack
        if query.since is not None:
            where.append("created_at >= ?")
            params.append(query.since.timestamp() - HALF_MICROSECOND)  # type: ignore[arg-type]
        if query.until is not None:
            where.append("created_at < ?")
            params.append(query.until.timestamp() - HALF_MICROSECOND)  # type: ignore[arg-type]
        order = "array_index" if parent_id is not None else "seq DESC"
        sql = f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY {order}"
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
        return [self.table.record(r) for r in self.table.query(sql, params)]

    # -- control -----------------------------------------------------------------------------

    def terminate(self, job_id: str, reason: str = "Terminated by user") -> JobRecord:
        """Stop a job in any state: queued -> FAILED now; running -> SIGTERM, then SIGKILL."""
        record = self.get(job_id)
        if record.status.is_terminal:
            return record
        is_array = record.array_size is not None
        self._stop_queued(job_id, reason, children=is_array)
        column = "parent_id" if is_array else "id"
        with self.table.tx() as conn:
            conn.execute(
                f"UPDATE jobs SET stop_request = ? WHERE {column} = ? "
                "AND status IN ('STARTING', 'RUNNING')",
                (reason, job_id),
            )
        self._kick()
        return self.get(job_id)

    def _cancel_queued(self, record: JobRecord, reason: str) -> None:
        self._stop_queued(record.id, reason, children=record.array_size is not None)

    def _stop_queued(self, job_id: str, reason: str, *, children: bool) -> None:
        marks = ",".join("?" for _ in QUEUED)
        column = "parent_id" if children else "id"
        with self.table.tx() as conn:
            conn.execute(
                f"UPDATE jobs SET status = 'FAILED', reason = ?, stopped_at = ? "
                f"WHERE {column} = ? AND status IN ({marks})",
                (reason, time.time(), job_id, *[s.value for s in QUEUED]),
            )
            parent = job_id if children else self.table.row(job_id)["parent_id"]  # type: ignore[index]
            if parent:
                self.table.refresh_parents(conn, {parent})

    def _resubmission(self, job_id: str) -> tuple[JobRecord, JobRequest]:
        record = self.get(job_id)
        row = self.table.row(job_id)
        return record, JobRequest(
            command=list(record.command),
            name=record.name,
            kind=record.kind,
            env=json.loads(row["env"]) if row else None,
            array_size=record.array_size,
            spec=record.spec,
            result_prefix=record.result_prefix,
            timeout=int(row["timeout"]) if row and row["timeout"] else 0,
            attempts=record.max_attempts,
            tags=json.loads(row["tags"]) if row else None,
        )

    def _pause(self) -> None:
        self.ensure_worker()
        time.sleep(self.poll)

    # -- logs --------------------------------------------------------------------------------

    def logs(self, job_id: str, tail: int | None = None) -> str:
        """The latest attempt's combined stdout/stderr ('' before the job starts)."""
        record = self.get(job_id)
        if not record.log:
            return ""
        try:
            text = Path(record.log).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail > 0 else ""
        return text

    def follow(self, job_id: str, poll: float | None = None) -> Iterator[str]:
        """Yield log lines as they are written, across attempts, until the job ends."""
        poll = self.poll if poll is None else poll
        path: str | None = None
        offset = 0
        pending = ""
        while True:
            record = self.get(job_id)
            if record.log and record.log != path:
                path, offset = record.log, 0
            if path and os.path.exists(path):
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                offset += len(chunk)
                pending += chunk.decode("utf-8", "replace")
                *lines, pending = pending.split("\n")
                yield from lines
            if record.is_terminal and (not record.log or record.log == path):
                if pending:
                    yield pending
                return
            self.ensure_worker()
            time.sleep(poll)
