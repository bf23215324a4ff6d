"""The one executor interface both backends implement, plus the RunSpec -> engine CLI mapping."""

from __future__ import annotations

import getpass
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from engine.spec import RunSpec, SimOptions, check_run_id
from jobs.model import JobKind, JobRecord, JobStatus, safe_job_name

ENGINE_MODULE = "engine.backtest"


@runtime_checkable
class Executor(Protocol):
    """Submit, inspect and control jobs. Implemented by LocalExecutor and BatchExecutor."""

    backend: str

    def submit_run(self, spec: RunSpec, *, name: str | None = None) -> JobRecord:
        """Submit one engine run; a missing run id is generated so the result prefix is known."""
        ...

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
        """Submit any command (an array of children when array_size is given).

        ``spec`` is recorded with the job; a spec naming its ``spec_uri`` (a sweep's spec.json)
        travels to AWS Batch as that address only, since container overrides are limited."""
        ...

    def get(self, job_id: str) -> JobRecord:
        """One job; NotFoundError when unknown."""
        ...

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
        """Jobs newest first, filtered; children only when parent_id is given."""
        ...

    def cancel(self, job_id: str, reason: str = "Cancelled by user") -> JobRecord:
        """Cancel a queued job (SUBMITTED/PENDING/RUNNABLE); a started one needs terminate."""
        ...

    def terminate(self, job_id: str, reason: str = "Terminated by user") -> JobRecord:
        """Stop a job whatever its state: queued ones are cancelled, running ones killed."""
        ...

    def logs(self, job_id: str, tail: int | None = None) -> str:
        """The latest attempt's output (last `tail` lines when given)."""
        ...

    def follow(self, job_id: str, poll: float | None = None) -> Iterator[str]:
        """Yield output lines as they appear until the job ends."""
        ...

    def retry(self, job_id: str) -> JobRecord:
        """Submit a finished job again as a new job; return the new record."""
        ...

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Block until the job ends or `timeout` seconds pass; return the latest record."""
        ...


def default_user(settings_user: str) -> str:
    """The submitting user: the setting, else the OS login name."""
    if settings_user:
        return settings_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def new_run_id(strategy: str) -> str:
    """A sortable unique run id: <UTC time>-<strategy>-<random>."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return check_run_id(f"{stamp}-{safe_job_name(strategy, 'run')[:40]}-{secrets.token_hex(4)}")


def run_result_prefix(spec: RunSpec) -> str:
    """Where a run's results go: s3://<result bucket>/runs/<run id>/."""
    return f"s3://{spec.result_bucket}/runs/{spec.run_id}/"


def with_run_id(spec: RunSpec, user: str) -> RunSpec:
    """The spec with a run id (generated when absent) and a user (when absent)."""
    run_id = check_run_id(spec.run_id) if spec.run_id else new_run_id(spec.strategy)
    return replace(spec, run_id=run_id, user=spec.user or user)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def option_flag(name: str) -> str:
    """SimOptions field name -> engine CLI flag (slippage_bps -> --slippage-bps)."""
    return "--" + name.replace("_", "-")


def engine_args(spec: RunSpec) -> list[str]:
    """The engine CLI arguments for a RunSpec (non-default options only; user and tags last)."""
    args = [spec.source_bucket, spec.source_key, spec.result_bucket, "--strategy", spec.strategy]
    for key, value in sorted(spec.params.items()):
        args += ["--param", f"{key}={_format_value(value)}"]
    if spec.run_id:
        args += ["--run-id", spec.run_id]
    defaults = SimOptions()
    for f in fields(SimOptions):
        value = getattr(spec.options, f.name)
        if value == getattr(defaults, f.name) or value is None:
            continue
        if isinstance(value, bool):
            if value:
                args.append(option_flag(f.name))
            continue
        args += [option_flag(f.name), _format_value(value)]
    if spec.user:
        args += ["--user", spec.user]
    for key, value in sorted(spec.tags.items()):
        args += ["--tag", f"{key}={value}"]
    return args


def engine_command(spec: RunSpec, python: str = "python") -> list[str]:
    """The full command a job runs for a RunSpec: python -m engine.backtest ARGS."""
    return [python, "-m", ENGINE_MODULE, *engine_args(spec)]


def run_tags(spec: RunSpec) -> dict[str, str]:
    """Tags recorded with a run job."""
    tags = {"run-id": spec.run_id or ""}
    if spec.user:
        tags["user"] = spec.user  # the job record's user is the spec's (e.g. the signed-in one)
    tags.update(spec.tags)
    return tags


def submit_engine_run(
    executor: Executor, spec: RunSpec, *, user: str, python: str, name: str | None = None
) -> JobRecord:
    """What both backends' submit_run do: a run id, the engine command, the run's metadata."""
    spec = with_run_id(spec, user)
    return executor.submit_command(
        engine_command(spec, python=python),
        name=name or safe_job_name(f"run-{spec.run_id}"),
        kind=JobKind.RUN,
        spec=spec.to_dict(),
        result_prefix=run_result_prefix(spec),
        tags=run_tags(spec),
    )
