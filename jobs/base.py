"""The Executor base both backends derive from, and what a run job is (its command from
engine.cli_args, the one RunSpec <-> argv mapping; its run id, result prefix and tags)."""

from __future__ import annotations

import getpass
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, Unpack

from engine.cli_args import args_from_spec, new_run_id
from engine.errors import BacktestError
from engine.spec import RunSpec, check_run_id
from jobs.model import (
    JobFilters,
    JobKind,
    JobQuery,
    JobRecord,
    JobRequest,
    JobStatus,
    safe_job_name,
)

ENGINE_MODULE = "engine.backtest"


class Executor(ABC):
    """Submit, inspect and control jobs: what both backends share is written here once.

    A backend (LocalExecutor, BatchExecutor) implements the primitives: ``submit`` (one
    :class:`JobRequest`), ``get``, ``_select`` (behind ``list``), ``terminate``, ``logs``,
    ``follow``, ``_cancel_queued``, ``_resubmission`` and ``_pause``. ``submit_run``,
    ``submit_command``, ``list``, ``cancel``'s and ``retry``'s checks and ``wait`` are the same
    on both.
    """

    backend: str = ""
    python: str = "python"  # the interpreter a job's command starts (the image's on Batch)
    user: str = ""

    # -- primitives --------------------------------------------------------------------------

    @abstractmethod
    def submit(self, request: JobRequest) -> JobRecord:
        """Submit one request (an array of children when array_size is given)."""

    @abstractmethod
    def get(self, job_id: str) -> JobRecord:
        """One job; NotFoundError when unknown."""

    @abstractmethod
    def _select(self, query: JobQuery) -> list[JobRecord]:
        """The jobs ``query`` selects, in :class:`JobQuery`'s order."""

    def list(
        self, status: JobStatus | str | None = None, **filters: Unpack[JobFilters]
    ) -> list[JobRecord]:
        """Jobs newest first, filtered (:class:`JobQuery`); children only when parent_id is
        given."""
        parsed = None if status is None else JobStatus.parse(status)
        return self._select(JobQuery(status=parsed, **filters))

    @abstractmethod
    def terminate(self, job_id: str, reason: str = "Terminated by user") -> JobRecord:
        """Stop a job whatever its state: queued ones are cancelled, running ones killed."""

    @abstractmethod
    def logs(self, job_id: str, tail: int | None = None) -> str:
        """The latest attempt's output (last `tail` lines when given)."""

    @abstractmethod
    def follow(self, job_id: str, poll: float | None = None) -> Iterator[str]:
        """Yield output lines as they appear until the job ends."""

    @abstractmethod
    def _cancel_queued(self, record: JobRecord, reason: str) -> None:
        """Stop a queued job (or an array's queued children); the checks are done."""

    @abstractmethod
    def _resubmission(self, job_id: str) -> tuple[JobRecord, JobRequest]:
        """A job's record and the request that submits it again (same command, env, spec)."""

    @abstractmethod
    def _pause(self) -> None:
        """Wait one poll interval between two looks at a job (``wait``)."""

    # -- written once ------------------------------------------------------------------------

    def submit_command(self, command: Sequence[str], **request: Any) -> JobRecord:
        """``submit(JobRequest(command, **request))``: a shorthand for callers and tests."""
        return self.submit(JobRequest(command=command, **request))

    def submit_run(self, spec: RunSpec, *, name: str | None = None) -> JobRecord:
        """Submit one engine run; a missing run id is generated so the result prefix is known."""
        return self.submit(run_request(spec, user=self.user, python=self.python, name=name))

    def cancel(self, job_id: str, reason: str = "Cancelled by user") -> JobRecord:
        """Cancel a queued job (SUBMITTED/PENDING/RUNNABLE); a started one needs terminate."""
        record = self.get(job_id)
        if record.status.is_terminal:
            return record
        if record.array_size is None and not record.status.is_queued:
            raise BacktestError(
                f"job {job_id} is {record.status.value}; cancel only stops queued jobs, "
                "use terminate"
            )
        self._cancel_queued(record, reason)
        return self.get(job_id)

    def retry(self, job_id: str) -> JobRecord:
        """Submit a finished job again as a new job; return the new record."""
        record, request = self._resubmission(job_id)
        if record.parent_id is not None:
            raise BacktestError(
                f"job {job_id} is an array child; retry its parent {record.parent_id}"
            )
        if not record.status.is_terminal:
            raise BacktestError(
                f"job {job_id} is still {record.status.value}; retry a finished job"
            )
        return self.submit(request)

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Block until the job ends or `timeout` seconds pass; return the latest record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.get(job_id)
            if record.is_terminal or (deadline is not None and time.monotonic() >= deadline):
                return record
            self._pause()


def default_user(settings_user: str) -> str:
    """The submitting user: the setting, else the OS login name."""
    if settings_user:
        return settings_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_result_prefix(spec: RunSpec) -> str:
    """Where a run's results go: s3://<result bucket>/runs/<run id>/."""
    return f"s3://{spec.result_bucket}/runs/{spec.run_id}/"


def with_run_id(spec: RunSpec, user: str) -> RunSpec:
    """The spec with a run id (generated when absent) and a user (when absent)."""
    run_id = check_run_id(spec.run_id) if spec.run_id else new_run_id(spec.strategy)  # one format
    return replace(spec, run_id=run_id, user=spec.user or user)


def engine_command(spec: RunSpec, python: str = "python") -> list[str]:
    """The full command a job runs for a RunSpec: python -m engine.backtest ARGS."""
    return [python, "-m", ENGINE_MODULE, *args_from_spec(spec)]


def run_tags(spec: RunSpec) -> dict[str, str]:
    """Tags recorded with a run job."""
    tags = {"run-id": spec.run_id or ""}
    if spec.user:
        tags["user"] = spec.user  # the job record's user is the spec's (e.g. the signed-in one)
    tags.update(spec.tags)
    return tags


def run_request(spec: RunSpec, *, user: str, python: str, name: str | None = None) -> JobRequest:
    """The request of one engine run: a run id, the engine command, the run's metadata."""
    spec = with_run_id(spec, user)
    return JobRequest(
        command=engine_command(spec, python=python),
        name=name or safe_job_name(f"run-{spec.run_id}"),
        kind=JobKind.RUN,
        spec=spec.to_dict(),
        result_prefix=run_result_prefix(spec),
        tags=run_tags(spec),
    )
