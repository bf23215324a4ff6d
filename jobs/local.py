"""The embedded executor: jobs as local subprocesses, records in SQLite under the storage root.

Where records and logs live (``jobs_dir``): the ``BACKTEST_JOBS_DIR`` setting if given, else
``<storage_root>/_jobs``, else ``~/.cache/batch-backtest/_jobs`` when no storage root is set.

Workers: ``worker="thread"`` runs the worker in a daemon thread of this process (the dashboard;
it adopts the lease as soon as no other worker holds it); ``worker="process"`` makes sure a
detached ``python -m jobs worker`` runs (the CLI; it exits after ``worker_idle`` idle seconds);
``worker="none"`` only reads and writes records.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import BacktestError, NotFoundError
from engine.spec import RunSpec
from jobs.base import default_user, submit_engine_run
from jobs.localstore import Store, dumps
from jobs.model import (
    QUEUED,
    JobKind,
    JobRecord,
    JobStatus,
    check_array_size,
    check_command,
    check_depends_on,
    check_job_name,
)
from jobs.settings import Settings
from jobs.worker import Lease, Worker, WorkerConfig, spawn_detached_worker

WORKER_MODES = ("thread", "process", "none")


HALF_MICROSECOND = 5e-7


def jobs_dir_for(settings: Settings) -> Path:
    """Where the local executor keeps jobs.db, logs and the worker lease."""
    if settings.jobs_dir:
        return Path(settings.jobs_dir).expanduser()
    if settings.storage_root:
        return Path(settings.storage_root).expanduser() / "_jobs"
    return Path.home() / ".cache" / "batch-backtest" / "_jobs"


class LocalExecutor:
    """Executor backed by local subprocesses. See the module docstring for worker modes."""

    backend = "local"

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
        self.store = Store(jobs_dir_for(settings))
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if worker == "thread":
            self._worker = Worker(self.store, self.config)
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
        self.store.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_worker(self) -> None:
        """worker='process': start a detached worker unless a live one holds the lease."""
        if self.worker_mode != "process":
            return
        if not Lease.is_held(self.store.dir / "worker.lock"):
            spawn_detached_worker(log_dir=self.store.dir)

    def _kick(self) -> None:
        if self._worker is not None:
            self._worker.wake.set()
        else:
            self.ensure_worker()

    # -- submit ------------------------------------------------------------------------------

    def submit_run(self, spec: RunSpec, *, name: str | None = None) -> JobRecord:
        """Submit one engine run (`python -m engine.backtest ...`); fills in a missing run id."""
        return submit_engine_run(self, spec, user=self.user, python=sys.executable, name=name)

    def submit_command(
        self,
        command: Sequence[str],
        *,
        name: str,
        kind: JobKind | str,
        env: Mapping[str, str] | None = None,
        array_size: int | None = None,
        depends_on: Sequence[str] = (),
        spec: Mapping[str, Any] | None = None,
        result_prefix: str | None = None,
        timeout: int | None = None,
        attempts: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> JobRecord:
        """Queue any command; with array_size, a parent plus children <id>:0..N-1."""
        row = self._new_row(
            command,
            name,
            kind,
            env=env,
            array_size=array_size,
            depends_on=depends_on,
            timeout=timeout,
            attempts=attempts,
        )
        row.update(
            spec=dumps(dict(spec)) if spec is not None else None,
            result_prefix=result_prefix,
            tags=dumps(dict(tags or {})),
            user=(tags or {}).get("user") or self.user,
        )
        self._check_dependencies(row["depends_on_ids"])
        with self.store.tx() as conn:
            if array_size:
                row["status"] = JobStatus.PENDING.value
                self.store.insert(conn, row)
                for index in range(array_size):
                    child = dict(row, id=f"{row['id']}:{index}", kind=JobKind.CHILD.value)
                    child.update(parent_id=row["id"], array_index=index, array_size=None)
                    child["status"] = self._initial_status(row["depends_on_ids"])
                    self.store.insert(conn, child)
                self.store.refresh_parents(conn, {row["id"]})
            else:
                row["status"] = self._initial_status(row["depends_on_ids"])
                self.store.insert(conn, row)
        self._kick()
        return self.get(row["id"])

    def _new_row(
        self,
        command: Sequence[str],
        name: str,
        kind: JobKind | str,
        *,
        env: Mapping[str, str] | None,
        array_size: int | None,
        depends_on: Sequence[str],
        timeout: int | None,
        attempts: int | None,
    ) -> dict[str, Any]:
        cmd = check_command(command)
        deps = check_depends_on(list(depends_on))
        timeout = self.settings.job_timeout if timeout is None else timeout
        attempts = self.settings.attempts if attempts is None else attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise BacktestError(f"attempts must be an integer in 1..10, got {attempts!r}")
        if timeout is not None and (isinstance(timeout, bool) or timeout < 0):
            raise BacktestError(f"timeout must be >= 0 seconds (0 = none), got {timeout!r}")
        env_map = {str(k): str(v) for k, v in (env or {}).items()}
        return {
            "id": str(uuid.uuid4()),
            "name": check_job_name(name),
            "kind": JobKind.parse(kind).value,
            "created_at": time.time(),
            "max_attempts": attempts,
            "timeout": float(timeout) if timeout else None,
            "array_size": check_array_size(array_size),
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
            if self.store.row(dep) is None:
                raise NotFoundError(f"dependency {dep} is not a known job")

    # -- read --------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """One job record; NotFoundError when unknown."""
        row = self.store.row(job_id)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}; list jobs with: python -m jobs ls")
        return self.store.record(row)

    def list(
        self,
        status: JobStatus | str | None = None,
        *,
        name_prefix: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        parent_id: str | None = None,
    ) -> list[JobRecord]:
        """Jobs newest first; array children only when parent_id names their parent."""
        where, params = ["parent_id IS ?" if parent_id is None else "parent_id = ?"], [parent_id]
        if status is not None:
            where.append("status = ?")
            params.append(JobStatus.parse(status).value)
        if name_prefix:
            where.append("substr(name, 1, ?) = ?")
            params += [len(name_prefix), name_prefix]  # type: ignore[list-item]
        # records keep time.time() floats; a datetime holds microseconds, so a record's own
        # created_at read back may sit up to half a microsecond off: compare with that slack
        if since is not None:
            where.append("created_at >= ?")
            params.append(since.timestamp() - HALF_MICROSECOND)  # type: ignore[arg-type]
        if until is not None:
            where.append("created_at < ?")
            params.append(until.timestamp() - HALF_MICROSECOND)  # type: ignore[arg-type]
        order = "array_index" if parent_id is not None else "seq DESC"
        sql = f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self.store.record(r) for r in self.store.query(sql, params)]

    # -- control -----------------------------------------------------------------------------

    def cancel(self, job_id: str, reason: str = "Cancelled by user") -> JobRecord:
        """Cancel a queued job (or an array's queued children); started jobs need terminate."""
        record = self.get(job_id)
        if record.status.is_terminal:
            return record
        if record.array_size is None and not record.status.is_queued:
            raise BacktestError(
                f"job {job_id} is {record.status.value}; cancel only stops queued jobs, "
                "use terminate"
            )
        self._stop_queued(job_id, reason, children=record.array_size is not None)
        return self.get(job_id)

    def terminate(self, job_id: str, reason: str = "Terminated by user") -> JobRecord:
        """Stop a job in any state: queued -> FAILED now; running -> SIGTERM, then SIGKILL."""
        record = self.get(job_id)
        if record.status.is_terminal:
            return record
        is_array = record.array_size is not None
        self._stop_queued(job_id, reason, children=is_array)
        column = "parent_id" if is_array else "id"
        with self.store.tx() as conn:
            conn.execute(
                f"UPDATE jobs SET stop_request = ? WHERE {column} = ? "
                "AND status IN ('STARTING', 'RUNNING')",
                (reason, job_id),
            )
        self._kick()
        return self.get(job_id)

    def _stop_queued(self, job_id: str, reason: str, *, children: bool) -> None:
        marks = ",".join("?" for _ in QUEUED)
        column = "parent_id" if children else "id"
        with self.store.tx() as conn:
            conn.execute(
                f"UPDATE jobs SET status = 'FAILED', reason = ?, stopped_at = ? "
                f"WHERE {column} = ? AND status IN ({marks})",
                (reason, time.time(), job_id, *[s.value for s in QUEUED]),
            )
            parent = job_id if children else self.store.row(job_id)["parent_id"]  # type: ignore[index]
            if parent:
                self.store.refresh_parents(conn, {parent})

    def retry(self, job_id: str) -> JobRecord:
        """Submit a finished job again (same command, env, spec) as a new job."""
        record = self.get(job_id)
        if record.parent_id is not None:
            raise BacktestError(
                f"job {job_id} is an array child; retry its parent {record.parent_id}"
            )
        if not record.status.is_terminal:
            raise BacktestError(
                f"job {job_id} is still {record.status.value}; retry a finished job"
            )
        row = self.store.row(job_id)
        import json

        return self.submit_command(
            list(record.command),
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

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Poll until the job ends or timeout seconds pass; return the latest record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.get(job_id)
            if record.is_terminal or (deadline is not None and time.monotonic() >= deadline):
                return record
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
