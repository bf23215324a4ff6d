"""Job records shared by both executors: statuses (AWS Batch's seven), kinds, one record type."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar

from engine.errors import BacktestError

JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MIN_ARRAY_SIZE = 2
MAX_ARRAY_SIZE = 10_000
MAX_DEPENDS_ON = 20


E = TypeVar("E", bound=enum.StrEnum)


def _parse_member(cls: type[E], text: str, given: object, what: str) -> E:
    """The member of ``cls`` whose value is ``text`` (``given`` as the user wrote it, for the
    one-line error naming every value)."""
    try:
        return cls(text)
    except ValueError:
        known = ", ".join(m.value for m in cls)
        raise BacktestError(f"unknown {what} {given!r}; use one of {known}") from None


class JobStatus(enum.StrEnum):
    """AWS Batch job states, in lifecycle order."""

    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @classmethod
    def parse(cls, value: str | JobStatus) -> JobStatus:
        """Parse an AWS status string (case-insensitive); unknown -> one-line BacktestError."""
        return _parse_member(cls, str(value).strip().upper(), value, "job status")

    @property
    def is_terminal(self) -> bool:
        """True for SUCCEEDED and FAILED."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def is_queued(self) -> bool:
        """True before the job starts (cancel still works): SUBMITTED, PENDING, RUNNABLE."""
        return self in QUEUED


QUEUED = (JobStatus.SUBMITTED, JobStatus.PENDING, JobStatus.RUNNABLE)
ACTIVE = (JobStatus.STARTING, JobStatus.RUNNING)


class JobKind(enum.StrEnum):
    """What a job is for: one run, a sweep (array parent), an array child, a sweep collect."""

    RUN = "run"
    SWEEP = "sweep"
    CHILD = "child"
    COLLECT = "collect"

    @classmethod
    def parse(cls, value: str | JobKind) -> JobKind:
        """Parse a kind name (case-insensitive); unknown -> one-line BacktestError."""
        return _parse_member(cls, str(value).strip().lower(), value, "job kind")


@dataclass(frozen=True)
class JobRecord:
    """One job as either backend reports it. Times are timezone-aware UTC datetimes."""

    id: str
    name: str
    kind: JobKind
    status: JobStatus
    status_reason: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    attempts: int = 0  # attempts made so far
    max_attempts: int = 1
    array_size: int | None = None  # set on array parents
    status_counts: dict[str, int] = field(default_factory=dict)  # array parents: children by status
    result_prefix: str | None = None
    spec: dict[str, Any] | None = None
    parent_id: str | None = None  # set on array children
    array_index: int | None = None
    depends_on: tuple[str, ...] = ()
    user: str = ""
    command: tuple[str, ...] = ()
    exit_code: int | None = None
    log: str | None = None  # local: log file path; aws: CloudWatch log stream name
    backend: str = "local"

    @property
    def is_terminal(self) -> bool:
        """True once the job SUCCEEDED or FAILED."""
        return self.status.is_terminal

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: enums as strings, times as ISO 8601."""
        out = asdict(self)
        out["kind"] = self.kind.value
        out["status"] = self.status.value
        for key in ("created_at", "started_at", "stopped_at"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value else None
        out["depends_on"] = list(self.depends_on)
        out["command"] = list(self.command)
        return out


@dataclass(frozen=True)
class JobRequest:
    """What to submit: one command (an array of children when ``array_size`` is given).

    Both backends take this one value (``Executor.submit``); they check it before anything is
    queued. ``spec`` is recorded with the job; a spec naming its ``spec_uri`` (a sweep's
    spec.json) travels to AWS Batch as that address only, since container overrides are
    limited. ``timeout``/``attempts`` None: the settings' defaults; ``tags["user"]`` names the
    job's user (default: the executor's).
    """

    command: Sequence[str]
    name: str
    kind: JobKind | str
    env: Mapping[str, str] | None = None
    array_size: int | None = None
    depends_on: Sequence[str] = ()
    spec: Mapping[str, Any] | None = None
    result_prefix: str | None = None
    timeout: int | None = None
    attempts: int | None = None
    tags: Mapping[str, str] | None = None


class JobFilters(TypedDict, total=False):
    """The keyword filters of ``Executor.list`` (see :class:`JobQuery`)."""

    name_prefix: str | None
    since: datetime | None
    until: datetime | None
    limit: int | None
    parent_id: str | None


@dataclass(frozen=True)
class JobQuery:
    """Which jobs ``Executor.list`` returns, newest first (children by index).

    Top-level jobs unless ``parent_id`` names an array parent (then its children only);
    ``status`` one state or all; ``name_prefix`` the start of the job name; ``since``/``until``
    creation time, ``since`` included, ``until`` excluded; ``limit`` at most that many.
    """

    status: JobStatus | None = None
    name_prefix: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    parent_id: str | None = None


def from_epoch(seconds: float | None) -> datetime | None:
    """Epoch seconds (None or 0 = unset) -> aware UTC datetime."""
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def from_epoch_ms(millis: int | float | None) -> datetime | None:
    """Epoch milliseconds as AWS returns them -> aware UTC datetime."""
    return from_epoch(millis / 1000.0) if millis else None


def check_job_name(name: str) -> str:
    """AWS Batch job names: 1-128 letters, digits, '-' or '_', starting alphanumeric."""
    if not isinstance(name, str) or not JOB_NAME_RE.match(name):
        raise BacktestError(
            f"invalid job name {name!r}: use 1-128 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def safe_job_name(text: str, fallback: str = "job") -> str:
    """Turn any text (a run id, a strategy) into a valid job name."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")[:128]
    return cleaned if cleaned else fallback


def check_array_size(size: int | None) -> int | None:
    """None (not an array) or an int in 2..10,000, as AWS Batch requires."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int):
        raise BacktestError(f"array size must be an integer, got {size!r}")
    if not MIN_ARRAY_SIZE <= size <= MAX_ARRAY_SIZE:
        raise BacktestError(
            f"array size must be between {MIN_ARRAY_SIZE} and {MAX_ARRAY_SIZE}, got {size}"
        )
    return size


def check_depends_on(depends_on: Sequence[str]) -> tuple[str, ...]:
    """At most 20 job ids (AWS Batch's limit), each a non-empty string."""
    ids = tuple(depends_on)
    if len(ids) > MAX_DEPENDS_ON:
        raise BacktestError(f"a job can depend on at most {MAX_DEPENDS_ON} jobs, got {len(ids)}")
    for job_id in ids:
        if not isinstance(job_id, str) or not job_id:
            raise BacktestError(f"dependency ids must be non-empty strings, got {job_id!r}")
    return ids


def check_command(command: Sequence[str]) -> tuple[str, ...]:
    """A non-empty list of strings."""
    cmd = tuple(command)
    if not cmd or not all(isinstance(part, str) for part in cmd):
        raise BacktestError(f"command must be a non-empty list of strings, got {command!r}")
    return cmd
