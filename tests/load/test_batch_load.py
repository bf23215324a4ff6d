"""Batch polling under load: a 10,000-child array against moto (DescribeJobs never carries more
than 100 ids), and a fake Batch client that throttles (polling backs off and carries on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from engine.errors import InfraError
from jobs.batch import BatchExecutor
from jobs.factory import aws_clients
from jobs.model import JobStatus
from jobs.settings import Settings
from jobs.throttle import Backoff, Pacing
from tests.jobs.test_jobs_batch import Calls, make_stack

CHILDREN = 10_000


def _moto_env_without_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moto 5 appends AWS_BATCH_JOB_ID to the *shared* containerOverrides environment list on
    every describe, so 10,000 children sharing one request make DescribeJobs quadratic. Describe
    from a copy instead (a fix of the fake, not of the code under test)."""
    from moto.batch.models import Job

    original = Job._get_container_property

    def property_from_a_copy(self: Any, name: str, default: Any) -> Any:
        if name != "environment":
            return original(self, name, default)
        overrides = self.container_overrides
        self.container_overrides = {**overrides, name: list(overrides.get(name, []))}
        try:
            return original(self, name, default)
        finally:
            self.container_overrides = overrides

    monkeypatch.setattr(Job, "_get_container_property", property_from_a_copy)


@pytest.fixture
def moto_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BatchExecutor, Calls]]:
    """A BatchExecutor on in-process moto (jobs finish at once), DescribeJobs calls recorded."""
    _moto_env_without_growth(monkeypatch)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BATCH", "AWS_ENDPOINT_URL_LOGS"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws(config={"batch": {"use_docker": False}}):
        batch, logs = aws_clients(Settings(backend="aws"), env={})
        queue, definition = make_stack(batch, boto3.client("iam", region_name="us-east-1"))
        settings = Settings(backend="aws", user="load", job_queue=queue, job_definition=definition)
        yield BatchExecutor(settings, batch, logs, poll=0.01), Calls(batch, "DescribeJobs")


@pytest.mark.slow
def test_a_10000_child_array_is_described_in_batches_of_100(
    moto_batch: tuple[BatchExecutor, Calls],
) -> None:
    ex, calls = moto_batch
    parent = ex.submit_command(["true"], name="huge", kind="sweep", array_size=CHILDREN)
    assert parent.array_size == CHILDREN
    assert ex.get(parent.id).status_counts == {"SUCCEEDED": CHILDREN}

    calls.params["DescribeJobs"].clear()
    children = ex.list(parent_id=parent.id)
    sizes = [len(p["jobs"]) for p in calls.params["DescribeJobs"]]
    assert max(sizes) <= 100 and sum(sizes) == CHILDREN and len(sizes) == CHILDREN // 100
    assert [c.array_index for c in children] == list(range(CHILDREN))
    assert {c.parent_id for c in children} == {parent.id}
    assert {c.status for c in children} == {JobStatus.SUCCEEDED}

    calls.params["DescribeJobs"].clear()
    ids = [parent.id] + [c.id for c in children[:250]]
    assert [r.id for r in ex.describe(ids)] == ids
    assert [len(p["jobs"]) for p in calls.params["DescribeJobs"]] == [100, 100, 51]


# --- a throttling fake --------------------------------------------------------------------------


def throttle_error(code: str, op: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, op)


class ThrottlingBatch:
    """DescribeJobs/ListJobs over an array parent and its children, throttled with ``code``:
    the first ``throttle`` calls, the calls whose number is in ``throttle_calls`` (1-based),
    and once each ListJobs page whose nextToken is in ``throttle_pages``. Like Batch, > 100 ids
    is a ClientException and ListJobs pages by 100 with nextToken. The jobs stay RUNNING for
    ``running_for`` describes, then SUCCEEDED.
    """

    def __init__(self, children: int, throttle: int = 0, code: str = "TooManyRequestsException"):
        self.parent = "arr-1"
        self.children = children
        self.throttle = throttle
        self.code = code
        self.throttle_calls: set[int] = set()
        self.throttle_pages: set[str] = set()
        self.calls: list[tuple[str, Any]] = []
        self.running_for = 0

    def _call(self, op: str, params: Any, page: str | None = None) -> None:
        self.calls.append((op, params))
        hit = self.throttle > 0 or len(self.calls) in self.throttle_calls
        if page is not None and page in self.throttle_pages:
            self.throttle_pages.discard(page)
            hit = True
        if hit:
            self.throttle = max(0, self.throttle - 1)
            raise throttle_error(self.code, op)

    def _job(self, job_id: str) -> dict[str, Any] | None:
        status = "RUNNING" if self.running_for > 0 else "SUCCEEDED"
        job: dict[str, Any] = {"jobId": job_id, "jobName": "big", "status": status}
        if job_id == self.parent:
            job["arrayProperties"] = {"size": self.children, "statusSummary": {status: 1}}
            return job
        parent, _, index = job_id.rpartition(":")
        if parent != self.parent or not index.isdigit() or int(index) >= self.children:
            return None
        job["arrayProperties"] = {"index": int(index)}
        return job

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        if len(jobs) > 100:
            raise ClientError({"Error": {"Code": "ClientException", "Message": ">100"}}, "x")
        self._call("DescribeJobs", list(jobs))
        answer = {"jobs": [j for j in map(self._job, jobs) if j is not None]}
        self.running_for = max(0, self.running_for - 1)
        return answer

    def list_jobs(self, **params: Any) -> dict[str, Any]:
        wanted = params.get("arrayJobId") == self.parent and params["jobStatus"] == "SUCCEEDED"
        self._call("ListJobs", params, page=params.get("nextToken") if wanted else None)
        if not wanted:
            return {"jobSummaryList": []}
        start = int(params.get("nextToken") or 0)
        stop = min(start + 100, self.children)
        page: dict[str, Any] = {
            "jobSummaryList": [
                {"jobId": f"{self.parent}:{i}", "jobName": "big", "arrayProperties": {"index": i}}
                for i in range(start, stop)
            ]
        }
        if stop < self.children:
            page["nextToken"] = str(stop)
        return page


def executor(fake: ThrottlingBatch, sleeps: list[float], attempts: int = 8) -> BatchExecutor:
    settings = Settings(backend="aws", user="load", job_queue="q", job_definition="d")
    backoff = Backoff(base=0.5, cap=8.0, attempts=attempts)
    return BatchExecutor(settings, fake, None, poll=1.0, pacing=Pacing(backoff, sleeps.append))


@pytest.mark.parametrize("code", ["TooManyRequestsException", "ThrottlingException"])
def test_get_backs_off_while_throttled(code: str) -> None:
    fake, sleeps = ThrottlingBatch(children=5, throttle=4, code=code), list[float]()
    ex = executor(fake, sleeps)
    record = ex.get("arr-1")
    assert record.array_size == 5 and record.status is JobStatus.SUCCEEDED
    assert len(fake.calls) == 5  # four throttled, then the answer
    assert len(sleeps) == 4 and ex.throttled == 4
    assert sleeps == sorted(sleeps)  # never faster while throttled
    assert 0.25 <= sleeps[0] <= 0.5 and 2.0 <= sleeps[3] <= 4.0


def test_list_of_children_retries_the_throttled_page_only() -> None:
    fake, sleeps = ThrottlingBatch(children=250), list[float]()
    fake.throttle_pages = {"100"}
    children = executor(fake, sleeps).list(parent_id="arr-1")
    assert [c.array_index for c in children] == list(range(250))
    pages = [p for op, p in fake.calls if op == "ListJobs" and p["jobStatus"] == "SUCCEEDED"]
    tokens = [p.get("nextToken") for p in pages]
    assert tokens == [None, "100", "100", "200"]  # the throttled page again, not from scratch
    assert len(sleeps) == 1
    described = [ids for op, ids in fake.calls if op == "DescribeJobs"]
    assert [len(ids) for ids in described] == [100, 100, 50]


def test_wait_keeps_polling_through_throttling() -> None:
    fake, sleeps = ThrottlingBatch(children=3), list[float]()
    fake.running_for = 3  # three RUNNING answers, then SUCCEEDED
    fake.throttle_calls = {1, 3, 4}
    ex = executor(fake, sleeps)
    record = ex.wait("arr-1", timeout=3600)
    assert record.status is JobStatus.SUCCEEDED
    assert len(fake.calls) == 7  # 3 throttled + 3 RUNNING + 1 SUCCEEDED
    polls = [s for s in sleeps if s == 1.0]
    backoffs = [s for s in sleeps if s != 1.0]
    assert len(polls) == 3 and len(backoffs) == 3
    assert ex.throttled == 3
    assert 0.5 <= backoffs[2] <= 1.0 and backoffs[2] >= backoffs[1]  # 3 and 4 in a row: longer


def test_throttled_for_good_is_one_clean_error() -> None:
    fake, sleeps = ThrottlingBatch(children=3, throttle=1000), list[float]()
    ex = executor(fake, sleeps, attempts=6)
    with pytest.raises(InfraError) as info:
        ex.get("arr-1")
    assert str(info.value) == "DescribeJobs: TooManyRequestsException: Rate exceeded"
    assert len(fake.calls) == 6 and len(sleeps) == 5
    assert sleeps == sorted(sleeps) and max(sleeps) <= 8.0
