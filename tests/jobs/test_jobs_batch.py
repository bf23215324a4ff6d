"""AWS Batch backend against moto (no Docker): in-process and through the moto server.

Moto accepts much that real Batch refuses, so the SubmitJob payloads are captured with a botocore
event hook and compared with what Batch must receive.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from engine.errors import BacktestError, NotFoundError
from engine.spec import RunSpec, SimOptions
from jobs.batch import BatchExecutor, to_record
from jobs.factory import aws_clients, make_executor
from jobs.model import JobKind, JobStatus
from jobs.settings import Settings
from tests.realaws import limit_container_overrides

RETRY_RULES = [
    {"onStatusReason": "Your Spot Task was interrupted*", "action": "RETRY"},
    {"onReason": "CannotPullContainerError*", "action": "RETRY"},
    {"onReason": "ResourceInitializationError*", "action": "RETRY"},
    {"onReason": "CannotStartContainerError*", "action": "RETRY"},
    {"onExitCode": "*", "action": "EXIT"},
]


class Calls:
    """Parameters of every call to some Batch operations, as botocore sends them."""

    def __init__(self, client: Any, *operations: str) -> None:
        self.params: dict[str, list[dict[str, Any]]] = {op: [] for op in operations}
        for op in operations:
            client.meta.events.register(f"provide-client-params.batch.{op}", self._hook(op))

    def _hook(self, op: str) -> Any:
        def record(params: dict[str, Any], **_: Any) -> None:
            self.params[op].append(copy.deepcopy(params))

        return record


def make_stack(batch: Any, iam: Any) -> tuple[str, str]:
    """IAM role, unmanaged compute environment, queue and job definition; (queue, definition)."""
    suffix = uuid.uuid4().hex[:8]
    role = iam.create_role(
        RoleName=f"batch-service-{suffix}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "batch.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    env_arn = batch.create_compute_environment(
        computeEnvironmentName=f"ce-{suffix}", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    queue = f"queue-{suffix}"
    batch.create_job_queue(
        jobQueueName=queue,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env_arn}],
    )
    definition = f"backtest-{suffix}"
    batch.register_job_definition(
        jobDefinitionName=definition,
        type="container",
        containerProperties={
            "image": "backtest:latest",
            "command": ["python", "-m", "engine.backtest", "--help"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
        },
    )
    return queue, definition


@pytest.fixture
def aws_creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BATCH", "AWS_ENDPOINT_URL_LOGS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def moto_batch(aws_creds: None) -> Iterator[tuple[BatchExecutor, Calls]]:
    """A BatchExecutor on in-process moto with a fresh queue and job definition."""
    with mock_aws(config={"batch": {"use_docker": False}}):
        settings = Settings(backend="aws", user="alice")
        batch, logs = aws_clients(settings, env={})
        queue, definition = make_stack(batch, boto3.client("iam", region_name="us-east-1"))
        settings = Settings(backend="aws", user="alice", job_queue=queue, job_definition=definition)
        calls = Calls(batch, "SubmitJob", "DescribeJobs", "ListJobs", "TerminateJob", "CancelJob")
        limit_container_overrides(batch)  # ECS's 8,192 characters, as a real task start
        yield BatchExecutor(settings, batch, logs, poll=0.01), calls


def test_submit_run_sends_exactly_what_batch_needs(moto_batch: Any) -> None:
    ex, calls = moto_batch
    spec = RunSpec(
        "input",
        "prices.csv",
        "results",
        params={"fast": 5, "slow": 20},
        options=SimOptions(commission=0.002),
        run_id="r1",
    )
    job = ex.submit_run(spec)
    expected_spec = {**spec.to_dict(), "user": "alice"}
    command = ["python", "-m", "engine.backtest", "input", "prices.csv", "results", "--strategy",
               "sma_cross", "--param", "fast=5", "--param", "slow=20", "--run-id", "r1",
               "--commission", "0.002", "--user", "alice"]  # fmt: skip
    assert calls.params["SubmitJob"] == [
        {
            "jobName": "run-r1",
            "jobQueue": ex.settings.job_queue,
            "jobDefinition": ex.settings.job_definition,
            "containerOverrides": {
                "command": command,
                "environment": [
                    {
                        "name": "BACKTEST_JOB_SPEC",
                        "value": json.dumps(expected_spec, sort_keys=True, separators=(",", ":")),
                    }
                ],
            },
            "retryStrategy": {"attempts": 3, "evaluateOnExit": RETRY_RULES},
            "tags": {
                "backtest:kind": "run",
                "backtest:queue": ex.settings.job_queue,
                "backtest:result-prefix": "s3://results/runs/r1/",
                "backtest:run-id": "r1",
                "backtest:user": "alice",
            },
            "propagateTags": True,
            "timeout": {"attemptDurationSeconds": 3600},
        }
    ]
    assert job.kind is JobKind.RUN and job.backend == "aws"
    assert job.spec == expected_spec
    assert job.result_prefix == "s3://results/runs/r1/"
    assert job.user == "alice"
    assert job.status is JobStatus.SUBMITTED  # as submitted; DescribeJobs may not show it yet
    assert job.command[:3] == ("python", "-m", "engine.backtest")
    assert ex.get(job.id).status is JobStatus.SUCCEEDED  # moto without Docker finishes at once


def test_array_and_dependent_collect_payloads(moto_batch: Any) -> None:
    ex, calls = moto_batch
    parent = ex.submit_command(
        ["python", "-m", "engine.backtest", "--sweep", "s3://results/sweeps/s1/spec.json"],
        name="sweep-s1",
        kind="sweep",
        array_size=3,
        env={"CHUNKS": "3"},
        timeout=600,
        attempts=2,
        tags={"sweep-id": "s1"},
    )
    collect = ex.submit_command(
        ["python", "-m", "engine.collect", "s3://results/sweeps/s1/spec.json"],
        name="collect-s1",
        kind="collect",
        depends_on=[parent.id],
        timeout=0,
        tags={"sweep-id": "s1"},
    )
    first, second = calls.params["SubmitJob"]
    assert first["arrayProperties"] == {"size": 3}
    assert first["containerOverrides"]["environment"] == [{"name": "CHUNKS", "value": "3"}]
    assert first["retryStrategy"] == {"attempts": 2, "evaluateOnExit": RETRY_RULES}
    assert first["timeout"] == {"attemptDurationSeconds": 600}
    assert first["tags"] == {
        "backtest:kind": "sweep",
        "backtest:queue": ex.settings.job_queue,
        "backtest:sweep-id": "s1",
        "backtest:user": "alice",
    }
    assert "dependsOn" not in first
    assert second["dependsOn"] == [{"jobId": parent.id}]
    assert "arrayProperties" not in second and "timeout" not in second
    assert second["containerOverrides"]["environment"] == []

    top = ex.get(parent.id)
    assert top.kind is JobKind.SWEEP
    assert top.array_size == 3
    assert top.status_counts == {"SUCCEEDED": 3}
    assert top.status is JobStatus.SUCCEEDED
    assert ex.get(collect.id).depends_on == (parent.id,)
    child = ex.get(f"{parent.id}:1")
    assert (child.kind, child.parent_id, child.array_index) == (JobKind.CHILD, parent.id, 1)
    assert child.array_size is None


def test_validation_happens_before_any_request(moto_batch: Any) -> None:
    ex, calls = moto_batch
    bad: list[dict[str, Any]] = [
        {"array_size": 1},
        {"array_size": 10_001},
        {"name": "-starts-with-dash"},
        {"name": "x" * 129},
        {"name": "has space"},
        {"depends_on": [f"id-{i}" for i in range(21)]},
        {"timeout": 30},
        {"attempts": 11},
        {"env": {"AWS_BATCH_JOB_ID": "x"}},
    ]
    for case in bad:
        kwargs: dict[str, Any] = {"name": "ok", "kind": "run", **case}
        with pytest.raises(BacktestError):
            ex.submit_command(["true"], **kwargs)
    assert calls.params["SubmitJob"] == []
    ex.submit_command(["true"], name="x" * 128, kind="sweep", array_size=10_000 // 1000)
    assert len(calls.params["SubmitJob"]) == 1


def test_describe_in_batches_of_100_and_list_children(moto_batch: Any) -> None:
    ex, calls = moto_batch
    parent = ex.submit_command(["true"], name="big", kind="sweep", array_size=150)
    calls.params["DescribeJobs"].clear()
    ids = [parent.id] + [f"{parent.id}:{i}" for i in range(150)]
    records = ex.describe(ids)
    assert [len(p["jobs"]) for p in calls.params["DescribeJobs"]] == [100, 51]
    assert [r.id for r in records] == ids
    assert [r.array_index for r in records[1:]] == list(range(150))

    calls.params["DescribeJobs"].clear()
    children = ex.list(parent_id=parent.id)
    assert [c.array_index for c in children] == list(range(150))
    assert {p["jobStatus"] for p in calls.params["ListJobs"]} == {s.value for s in JobStatus}
    assert all(p["arrayJobId"] == parent.id for p in calls.params["ListJobs"])
    assert [len(p["jobs"]) for p in calls.params["DescribeJobs"]] == [100, 50]


def test_list_follows_next_tokens(moto_batch: Any) -> None:
    """Moto returns one page; a hook pages its answer the way Batch does (nextToken)."""
    ex, _ = moto_batch
    made = [ex.submit_command(["true"], name=f"job-{i}", kind="run").id for i in range(7)]
    ex.submit_command(["true"], name="other", kind="run")
    tokens: list[str | None] = []

    def page(parsed: dict[str, Any], **_: Any) -> None:
        start = int(tokens[-1] or 0)
        jobs = parsed.get("jobSummaryList", [])
        parsed["jobSummaryList"] = jobs[start : start + 3]
        parsed.pop("nextToken", None)
        if start + 3 < len(jobs):
            parsed["nextToken"] = str(start + 3)

    ex.batch.meta.events.register(
        "provide-client-params.batch.ListJobs",
        lambda params, **_: tokens.append(params.get("nextToken")),
    )
    ex.batch.meta.events.register("after-call.batch.ListJobs", page)
    listed = ex.list(status="SUCCEEDED", name_prefix="job-")
    assert sorted(r.id for r in listed) == sorted(made)
    assert tokens == [None, "3", "6"]
    newest_first = [r.created_at for r in listed]
    assert newest_first == sorted(newest_first, reverse=True)
    assert len(ex.list(status="SUCCEEDED", name_prefix="job-", limit=2)) == 2


def test_statuses_parsed_from_failed_jobs(moto_batch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, _ = moto_batch
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    job = ex.get(ex.submit_command(["false"], name="fails", kind="run").id)
    assert job.status is JobStatus.FAILED and job.is_terminal
    assert ex.wait(job.id, timeout=5).status is JobStatus.FAILED
    assert [r.id for r in ex.list(status="FAILED")] == [job.id]
    assert ex.list(status="RUNNING") == []


def test_terminate_cancel_and_not_found(moto_batch: Any) -> None:
    ex, calls = moto_batch
    job = ex.submit_command(["true"], name="t", kind="run")
    ex.terminate(job.id, reason="user stop")
    assert calls.params["TerminateJob"] == [{"jobId": job.id, "reason": "user stop"}]
    assert ex.cancel(job.id).status is JobStatus.SUCCEEDED  # finished: nothing to cancel
    assert calls.params["CancelJob"] == []
    with pytest.raises(NotFoundError):
        ex.get("no-such-job")


def test_retry_resubmits_the_same_work(moto_batch: Any) -> None:
    ex, calls = moto_batch
    spec = RunSpec("input", "prices.csv", "results", run_id="r2")
    first = ex.submit_run(spec)
    again = ex.retry(first.id)
    assert again.id != first.id
    original, repeat = calls.params["SubmitJob"]
    assert repeat == original


def test_status_summary_mapping() -> None:
    record = to_record(
        {
            "jobId": "abc",
            "jobName": "sweep-1",
            "status": "RUNNING",
            "createdAt": 1_700_000_000_000,
            "arrayProperties": {
                "size": 4,
                "statusSummary": {"RUNNING": 1, "SUCCEEDED": 2, "RUNNABLE": 1, "FAILED": 0},
            },
            "tags": {"backtest:kind": "sweep", "backtest:user": "bob"},
            "retryStrategy": {"attempts": 3},
            "attempts": [{"container": {"exitCode": 137}}],
        }
    )
    assert record.status is JobStatus.RUNNING
    assert record.kind is JobKind.SWEEP
    assert record.status_counts == {"RUNNING": 1, "SUCCEEDED": 2, "RUNNABLE": 1}
    assert record.created_at is not None and record.created_at.year == 2023
    assert record.user == "bob"
    assert (record.attempts, record.max_attempts) == (1, 3)


def test_through_the_moto_server(aws_env: str, tmp_path: Any) -> None:
    requests.post(f"{aws_env}/moto-api/config", json={"batch": {"use_docker": False}}, timeout=10)
    base = Settings(backend="aws", user="carol")
    batch, _ = aws_clients(base)
    queue, definition = make_stack(batch, boto3.client("iam", endpoint_url=aws_env))
    settings = Settings(backend="aws", user="carol", job_queue=queue, job_definition=definition)
    ex = make_executor(settings)
    assert isinstance(ex, BatchExecutor)
    run = ex.submit_run(RunSpec("input", "prices.csv", "results", run_id="srv1"))
    parent = ex.submit_command(["true"], name="arr", kind="sweep", array_size=2)
    collect = ex.submit_command(["true"], name="col", kind="collect", depends_on=[parent.id])
    for job_id in (run.id, parent.id, collect.id):
        assert ex.wait(job_id, timeout=30).status is JobStatus.SUCCEEDED
    assert ex.get(parent.id).status_counts == {"SUCCEEDED": 2}
    assert {r.id for r in ex.list(status="SUCCEEDED")} == {run.id, parent.id, collect.id}

    stream = ex.get(run.id).log
    assert stream
    client = boto3.client("logs", endpoint_url=aws_env)
    client.create_log_group(logGroupName="/aws/batch/job")
    client.create_log_stream(logGroupName="/aws/batch/job", logStreamName=stream)
    now = int(time.time() * 1000)
    client.put_log_events(
        logGroupName="/aws/batch/job",
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": f"line {i}"} for i in range(5)],
    )
    assert ex.logs(run.id) == "".join(f"line {i}\n" for i in range(5))
    assert ex.logs(run.id, tail=2) == "line 3\nline 4\n"
    assert list(ex.follow(run.id, poll=0.01)) == [f"line {i}" for i in range(5)]
    assert ex.terminate(run.id).status is JobStatus.SUCCEEDED
