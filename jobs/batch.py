"""AWS Batch backend: the same Executor interface over submit/describe/list/cancel/terminate.

boto3 clients (``batch`` and ``logs``) are passed in; :mod:`jobs.factory` creates them once with
adaptive retries. The checks Batch performs server-side but botocore does not (array size
2..10,000, job name rules, at most 100 ids per DescribeJobs, at most 20 dependencies, a
timeout of at least 60 s, ECS's limit on container overrides) are done here, before any
request. Every job carries the retry strategy of :mod:`jobs.retry`. A submit returns the record
built from its request and response (DescribeJobs is eventually consistent), and jobs submitted
here in the last RECENT_SECONDS are shown as submitted until Batch lists them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from engine.errors import BacktestError, InfraError, NotFoundError
from jobs.base import Executor, default_user
from jobs.batch_records import (
    SPEC_ENV,
    SPEC_URI,
    TAG_PREFIX,
    is_child_id,
    spec_reference,
    submitted_job,
    to_record,
)
from jobs.model import (
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
from jobs.retry import retry_strategy
from jobs.settings import Settings
from jobs.throttle import Pacing, retry_throttled

DESCRIBE_LIMIT = 100
MIN_TIMEOUT = 60
# ECS allows 8,192 characters for a task's overrides, JSON included, and Batch adds its own
# AWS_BATCH_* variables (~600 characters); ours must fit in the rest or every attempt fails.
MAX_OVERRIDES = 7168
RECENT_SECONDS = 120.0  # DescribeJobs may not show a new job for a few seconds after SubmitJob
TAG_VALUE_BAD = re.compile(r"[^\w\s.:/=+\-@]", re.UNICODE)
T = TypeVar("T")
Summaries = list[dict[str, Any]]  # aliases: the `list` method shadows the builtin in the class
Page = tuple[list[str], str | None]


def _epoch_ms(when: datetime | None) -> int:
    return int(when.timestamp() * 1000) if when else 0


def aws_call(what: str, fn: Callable[..., T], **kwargs: Any) -> T:
    """Call a boto3 method; ClientException -> BacktestError, anything else -> InfraError."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        message = f"{what}: {err.get('Code', 'error')}: {err.get('Message', exc)}"
        if err.get("Code") in ("ClientException", "ResourceNotFoundException"):
            raise BacktestError(message) from None
        raise InfraError(message) from None
    except BotoCoreError as exc:
        raise InfraError(f"{what}: {exc}") from None


def chunks(items: Sequence[str], size: int = DESCRIBE_LIMIT) -> Iterator[list[str]]:
    """Consecutive slices of at most `size` items."""
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def tag_value(value: str) -> str:
    """A string as a valid Batch tag value (<= 256 chars, allowed characters only)."""
    return TAG_VALUE_BAD.sub("-", str(value))[:256]


class BatchExecutor(Executor):
    """Executor on AWS Batch. Settings name the queue and the job definitions."""

    backend = "aws"

    def __init__(
        self,
        settings: Settings,
        batch: Any,
        logs: Any,
        *,
        poll: float | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self.settings = settings
        self.batch = batch
        self.logs_client = logs
        self.poll = max(settings.poll_ms / 1000.0, 1.0) if poll is None else poll
        self.user = default_user(settings.user)
        pacing = pacing or Pacing()
        self.backoff = pacing.backoff
        self.sleep = pacing.sleep
        self.throttled = 0  # throttled read calls retried so far (shown by benchmarks)
        self._recent: dict[str, tuple[float, JobRecord]] = {}  # submitted here, maybe not visible
        self._specs: dict[str, dict[str, Any]] = {}  # spec.json by URI (see _full_spec)

    def _read(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        """A read-only call (describe/list): throttling backs off and retries (jobs.throttle)."""
        return aws_call(
            what, lambda: retry_throttled(lambda: fn(**kwargs), self.backoff, self._backoff_sleep)
        )

    def _backoff_sleep(self, seconds: float) -> None:
        self.throttled += 1
        self.sleep(seconds)

    # -- submit ------------------------------------------------------------------------------

    def submit(self, request: JobRequest) -> JobRecord:
        """SubmitJob (an array job when array_size is given); returns the new record."""
        params = self.submit_params(request)
        out = aws_call("SubmitJob", self.batch.submit_job, **params)
        # Built from the request and the response: DescribeJobs is eventually consistent and may
        # not show the new job yet, and nothing here needs more than what was sent.
        record = to_record(submitted_job(params, out))
        self._recent = {**self._fresh_recent(), record.id: (time.monotonic(), record)}
        return record

    def _fresh_recent(self) -> dict[str, tuple[float, JobRecord]]:
        """Jobs submitted here less than RECENT_SECONDS ago (shown even if Batch does not yet)."""
        now = time.monotonic()
        return {k: v for k, v in self._recent.items() if now - v[0] < RECENT_SECONDS}

    def submit_params(self, request: JobRequest) -> dict[str, Any]:
        """The validated SubmitJob parameters, exactly as sent."""
        name = request.name
        job_kind = JobKind.parse(request.kind)
        overrides = {
            "command": list(check_command(request.command)),
            "environment": self._environment(request.env, request.spec),
        }
        length = len(json.dumps(overrides, separators=(",", ":")))
        if length > MAX_OVERRIDES:
            raise BacktestError(
                f"job {name!r}: its command and environment are {length} characters; AWS Batch "
                f"(ECS) starts a task only when they fit in {MAX_OVERRIDES}"
            )
        params: dict[str, Any] = {
            "jobName": check_job_name(name),
            "jobQueue": self._queue(),
            "jobDefinition": self._definition(job_kind),
            "containerOverrides": overrides,
            # the request's retry strategy replaces the job definition's
            "retryStrategy": retry_strategy(self._attempts(request.attempts)),
            "tags": self._tags(job_kind, request.result_prefix, request.tags),
            "propagateTags": True,
        }
        size = check_array_size(request.array_size)
        if size is not None:
            params["arrayProperties"] = {"size": size}
        deps = check_depends_on(request.depends_on)
        if deps:
            params["dependsOn"] = [{"jobId": dep} for dep in deps]
        seconds = self.settings.job_timeout if request.timeout is None else request.timeout
        if seconds:
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < MIN_TIMEOUT:
                raise BacktestError(
                    f"AWS Batch timeouts must be whole seconds >= {MIN_TIMEOUT}, got {seconds!r}"
                )
            params["timeout"] = {"attemptDurationSeconds": seconds}
        return params

    def _queue(self) -> str:
        if not self.settings.job_queue:
            raise BacktestError("no job queue: set BACKTEST_JOB_QUEUE (or run python -m infra up)")
        return self.settings.job_queue

    def _definition(self, kind: JobKind) -> str:
        chosen = {
            JobKind.SWEEP: self.settings.sweep_job_definition,
            JobKind.CHILD: self.settings.sweep_job_definition,
            JobKind.COLLECT: self.settings.collect_job_definition,
        }.get(kind, "")
        definition = chosen or self.settings.job_definition
        if not definition:
            raise BacktestError(
                "no job definition: set BACKTEST_JOB_DEFINITION (or run python -m infra up)"
            )
        return definition

    def _attempts(self, attempts: int | None) -> int:
        # Only infrastructure failures retry on Batch (application exits EXIT), so a floor of 3
        # attempts costs nothing for failing code and rides out Spot interruptions.
        value = max(self.settings.attempts, 3) if attempts is None else attempts
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
            raise BacktestError(f"attempts must be an integer in 1..10, got {value!r}")
        return value

    @staticmethod
    def _environment(
        env: Mapping[str, str] | None, spec: Mapping[str, Any] | None
    ) -> list[dict[str, str]]:
        merged = {str(k): str(v) for k, v in (env or {}).items()}
        for key in merged:
            if key.startswith("AWS_BATCH"):
                raise BacktestError(f"environment variable {key} is reserved by AWS Batch")
        if spec is not None:
            merged[SPEC_ENV] = json.dumps(
                spec_reference(spec), sort_keys=True, separators=(",", ":")
            )
        return [{"name": k, "value": merged[k]} for k in sorted(merged)]

    def _tags(
        self, kind: JobKind, result_prefix: str | None, extra: Mapping[str, str] | None
    ) -> dict[str, str]:
        tags = {"kind": kind.value, "user": self.user, "queue": self._queue()}
        if result_prefix:
            tags["result-prefix"] = result_prefix
        tags.update({str(k): str(v) for k, v in (extra or {}).items() if v})
        return {f"{TAG_PREFIX}{k}"[:128]: tag_value(v) for k, v in sorted(tags.items())}

    # -- read --------------------------------------------------------------------------------

    def describe_raw(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """DescribeJobs for any number of ids, at most 100 per request, in the given order."""
        found: dict[str, dict[str, Any]] = {}
        for batch_ids in chunks(list(dict.fromkeys(ids))):
            out = self._read("DescribeJobs", self.batch.describe_jobs, jobs=batch_ids)
            for job in out.get("jobs", []):
                found[job["jobId"]] = job
        return [found[i] for i in ids if i in found]

    def describe(self, ids: Sequence[str]) -> list[JobRecord]:
        """JobRecords for many ids (unknown ids are left out, except jobs just submitted here)."""
        found = {job["jobId"]: to_record(job) for job in self.describe_raw(ids)}
        recent = self._fresh_recent()
        out = [found.get(i) or recent.get(i, (0.0, None))[1] for i in ids]
        return [r for r in out if r is not None]

    def get(self, job_id: str) -> JobRecord:
        """One job, its spec read from spec.json when it travelled as a reference.

        A job this executor submitted less than RECENT_SECONDS ago that DescribeJobs does not
        show yet is returned as submitted (SUBMITTED); NotFoundError otherwise."""
        jobs = self.describe_raw([job_id])
        if not jobs:
            when, record = self._recent.get(job_id, (-RECENT_SECONDS, None))
            if record is not None and time.monotonic() - when < RECENT_SECONDS:
                return record
            raise NotFoundError(
                f"no job {job_id!r} in AWS Batch (finished jobs expire after ~7 days)"
            )
        self._recent.pop(job_id, None)
        record = to_record(jobs[0])
        return replace(record, spec=self._full_spec(record.spec))

    def _full_spec(self, spec: dict[str, Any] | None) -> dict[str, Any] | None:
        """A reference {sweep_id, spec_uri} completed from spec.json (cached), else as it is."""
        uri = str((spec or {}).get(SPEC_URI) or "")
        if not uri or spec is None:
            return spec
        if uri not in self._specs:
            from engine.sweep.results import parse_uri, read_json
            from jobs.factory import make_store

            try:
                bucket, key = parse_uri(uri)
                stored = read_json(make_store(self.settings), bucket, key)
            except (BacktestError, InfraError):
                return spec
            if not isinstance(stored, dict):
                return spec
            self._specs[uri] = {k: v for k, v in stored.items() if k != "jobs"}
        return {**self._specs[uri], **spec}

    def _select(self, query: JobQuery) -> list[JobRecord]:
        """ListJobs over every status (paginated), filtered, newest first, then described."""
        statuses = [query.status] if query.status is not None else list(JobStatus)
        parent_id, name_prefix, since, until = (
            query.parent_id, query.name_prefix, query.since, query.until
        )  # fmt: skip
        where: dict[str, str] = (
            {"arrayJobId": parent_id} if parent_id else {"jobQueue": self._queue()}
        )
        summaries: list[dict[str, Any]] = []
        for st in statuses:
            summaries += self._list_pages(where, st)
        if not parent_id and JobStatus.SUBMITTED in statuses:  # ListJobs may not show them yet
            listed = {s["jobId"] for s in summaries}
            summaries += [
                {"jobId": r.id, "jobName": r.name, "createdAt": _epoch_ms(r.created_at)}
                for _, r in self._fresh_recent().values()
                if r.id not in listed
            ]
        low = since.timestamp() * 1000 if since else None
        high = until.timestamp() * 1000 if until else None
        keep = [
            s
            for s in summaries
            if (parent_id or not is_child_id(s["jobId"]))
            and (not name_prefix or s["jobName"].startswith(name_prefix))
            and (low is None or s.get("createdAt", 0) >= low)
            and (high is None or s.get("createdAt", 0) < high)
        ]
        if parent_id:
            keep.sort(key=lambda s: s.get("arrayProperties", {}).get("index", 0))
        else:
            keep.sort(key=lambda s: s.get("createdAt", 0), reverse=True)
        if query.limit is not None:
            keep = keep[: max(query.limit, 0)]
        return self.describe([s["jobId"] for s in keep])

    def _list_pages(self, where: dict[str, str], status: JobStatus) -> Summaries:
        """Every page of ListJobs (nextToken followed; a throttled page is retried alone)."""
        out: Summaries = []
        kwargs: dict[str, Any] = {**where, "jobStatus": status.value}
        seen: set[str] = set()
        while True:
            page = self._read("ListJobs", self.batch.list_jobs, **kwargs)
            out += page.get("jobSummaryList", [])
            token = page.get("nextToken")
            if not token or token in seen:
                return out
            seen.add(token)
            kwargs["nextToken"] = token

    # -- control -----------------------------------------------------------------------------

    def _cancel_queued(self, record: JobRecord, reason: str) -> None:
        aws_call("CancelJob", self.batch.cancel_job, jobId=record.id, reason=reason)

    def terminate(self, job_id: str, reason: str = "Terminated by user") -> JobRecord:
        """TerminateJob: queued jobs are cancelled, STARTING/RUNNING ones stopped."""
        aws_call("TerminateJob", self.batch.terminate_job, jobId=job_id, reason=reason)
        return self.get(job_id)

    def _resubmission(self, job_id: str) -> tuple[JobRecord, JobRequest]:
        jobs = self.describe_raw([job_id])
        if not jobs:
            raise NotFoundError(f"no job {job_id!r} in AWS Batch")
        job, record = jobs[0], to_record(jobs[0])
        env = {e["name"]: e["value"] for e in job.get("container", {}).get("environment", [])}
        env = {k: v for k, v in env.items() if k != SPEC_ENV and not k.startswith("AWS_BATCH")}
        tags = {
            k[len(TAG_PREFIX) :]: v
            for k, v in job.get("tags", {}).items()
            if k.startswith(TAG_PREFIX) and k[len(TAG_PREFIX) :] not in ("kind", "user")
        }
        seconds = job.get("timeout", {}).get("attemptDurationSeconds", 0)
        return record, JobRequest(
            command=list(record.command),
            name=record.name,
            kind=record.kind,
            env=env,
            array_size=record.array_size,
            spec=record.spec,
            result_prefix=tags.pop("result-prefix", None),
            timeout=int(seconds),
            attempts=(job.get("retryStrategy") or {}).get("attempts"),
            tags=tags,
        )

    def _pause(self) -> None:
        self.sleep(self.poll)

    # -- logs --------------------------------------------------------------------------------

    def _events(self, stream: str, token: str | None, *, tail: int | None = None) -> Page:
        kwargs: dict[str, Any] = {
            "logGroupName": self.settings.log_group,
            "logStreamName": stream,
            "startFromHead": tail is None,
        }
        if tail is not None:
            kwargs["limit"] = tail
        if token:
            kwargs["nextToken"] = token
        out = aws_call("GetLogEvents", self.logs_client.get_log_events, **kwargs)
        return [e["message"] for e in out.get("events", [])], out.get("nextForwardToken")

    def logs(self, job_id: str, tail: int | None = None) -> str:
        """The latest attempt's CloudWatch log (all pages; the last `tail` events if given)."""
        stream = self.get(job_id).log
        if not stream or tail == 0:
            return ""
        if tail is not None:
            last, _ = self._events(stream, None, tail=tail)
            return "".join(line + "\n" for line in last)
        lines: list[str] = []
        token: str | None = None
        while True:
            page, next_token = self._events(stream, token)
            lines += page
            if not next_token or next_token == token:
                break
            token = next_token
        return "".join(line + "\n" for line in lines)

    def follow(self, job_id: str, poll: float | None = None) -> Iterator[str]:
        """Yield log lines as CloudWatch receives them until the job ends."""
        poll = self.poll if poll is None else poll
        token: str | None = None
        while True:
            record = self.get(job_id)
            if record.log:
                while True:
                    try:
                        page, next_token = self._events(record.log, token)
                    except BacktestError:  # the stream does not exist yet
                        break
                    yield from page
                    if not next_token or next_token == token:
                        break
                    token = next_token
            if record.is_terminal:
                return
            time.sleep(poll)
