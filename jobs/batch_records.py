"""DescribeJobs entries <-> JobRecords for the AWS Batch backend (jobs/batch.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from jobs.model import JobKind, JobRecord, JobStatus, from_epoch_ms

SPEC_ENV = "BACKTEST_JOB_SPEC"
SPEC_URI = "spec_uri"  # a spec that names where it is stored travels as a reference only
TAG_PREFIX = "backtest:"


def spec_reference(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What of a spec goes into the job's environment: all of a run's (bounded), only the
    address of a sweep's (which grows with its files and values; the jobs read spec.json)."""
    if spec.get(SPEC_URI):
        keep = ("sweep_id", "run_id", SPEC_URI)
        return {k: spec[k] for k in keep if spec.get(k)}
    return dict(spec)


def submitted_job(request: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, Any]:
    """A DescribeJobs-shaped entry for a job just submitted, from the request and response."""
    job: dict[str, Any] = {
        "jobId": response["jobId"],
        "jobName": response.get("jobName", request["jobName"]),
        "status": JobStatus.SUBMITTED.value,
        "createdAt": int(time.time() * 1000),
        "tags": dict(request.get("tags", {})),
        "container": dict(request.get("containerOverrides", {})),
        "retryStrategy": dict(request.get("retryStrategy", {})),
        "dependsOn": list(request.get("dependsOn", [])),
    }
    if "arrayProperties" in request:
        job["arrayProperties"] = dict(request["arrayProperties"])
    if "timeout" in request:
        job["timeout"] = dict(request["timeout"])
    return job


def is_child_id(job_id: str) -> bool:
    """Array children have ids <parent id>:<index>."""
    parent, _, suffix = job_id.rpartition(":")
    return bool(parent) and suffix.isdigit()


def to_record(job: Mapping[str, Any]) -> JobRecord:
    """A DescribeJobs entry as a JobRecord."""
    tags = {
        k[len(TAG_PREFIX) :]: v for k, v in job.get("tags", {}).items() if k.startswith(TAG_PREFIX)
    }
    container = job.get("container", {}) or {}
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    array = job.get("arrayProperties", {}) or {}
    job_id = job["jobId"]
    index = array.get("index")
    parent, _, suffix = job_id.rpartition(":")
    if index is None and parent and suffix.isdigit():  # Batch child ids are <parent>:<index>
        index = int(suffix)
    is_child = index is not None and bool(parent)
    kind = JobKind.CHILD if is_child else JobKind.parse(tags.get("kind", "run"))
    attempts = job.get("attempts", []) or []
    stream = container.get("logStreamName")
    if not stream and attempts:
        stream = (attempts[-1].get("container") or {}).get("logStreamName")
    spec = json.loads(env[SPEC_ENV]) if SPEC_ENV in env else None
    return JobRecord(
        id=job_id,
        name=job["jobName"],
        kind=kind,
        status=JobStatus.parse(job["status"]),
        status_reason=job.get("statusReason", "") or "",
        created_at=from_epoch_ms(job.get("createdAt")),
        started_at=from_epoch_ms(job.get("startedAt")),
        stopped_at=from_epoch_ms(job.get("stoppedAt")),
        attempts=len(attempts),
        max_attempts=int((job.get("retryStrategy") or {}).get("attempts", 1)),
        array_size=None if is_child else array.get("size"),
        status_counts={k: int(v) for k, v in (array.get("statusSummary") or {}).items() if v},
        result_prefix=tags.get("result-prefix"),
        spec=spec,
        parent_id=parent if is_child else None,
        array_index=index if is_child else None,
        depends_on=tuple(d["jobId"] for d in job.get("dependsOn", []) or []),
        user=tags.get("user", ""),
        command=tuple(container.get("command", []) or []),
        exit_code=container.get("exitCode"),
        log=stream,
        backend="aws",
    )
