"""`python -m infra policy` allows every call the dashboard services and the jobs CLI make.

Every AWS request made while the dashboard's services (data, submit, jobs, results over an S3
store) and the jobs CLI (submit, sweep, ls, show, logs, cancel, terminate, wait, resume) work
against the moto server is recorded with botocore event hooks (added to botocore's built-in
handlers, so each client any of them creates carries them, s3fs's aiobotocore ones included).
Each call is turned into the authorizations IAM makes (action, resource ARN, condition keys;
parliament's IAM reference data names the resource types and ARN formats) and evaluated against
the generated policy. A call the policy would deny fails the test.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore import handlers

from app import data_service, jobs_service, results_service, submit_service
from app.context import build_context
from engine.sim.synthetic import random_walk
from engine.spec import SimOptions
from engine.sweep.spec import ParamSpace
from infra.cli import main as infra_main
from infra.clients import make_clients
from infra.config import StackConfig
from infra.policy import dashboard_policy
from jobs.cli import main as jobs_main
from tests._policy_check import Account, Call, Check, allowed, authorizations, check_reference
from tests.realaws import QueuedJobs, batch_uses_its_service_linked_role

REGION = "us-east-1"
ACCOUNT = "123456789012"


class CallLog:
    """Every API call made by clients created while it is installed (when ``on``)."""

    def __init__(self) -> None:
        self.on = False
        self.calls: list[Call] = []
        self._pending: dict[int, Call] = {}

    def handlers(self) -> list[tuple[str, Any]]:
        return [("provide-client-params", self._params), ("after-call", self._after)]

    def _params(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.on:
            return
        call = Call(
            service=str(model.service_model.signing_name),
            operation=str(model.name),
            params=json.loads(json.dumps(params, default=str)),
            region=str(context.get("client_region") or REGION),
        )
        self.calls.append(call)
        self._pending[id(context)] = call

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = self._pending.pop(id(context), None)
        if call is not None:
            call.response = json.loads(json.dumps(parsed, default=str))

    def operations(self) -> set[str]:
        return {f"{c.service}:{c.operation}" for c in self.calls}


@dataclass
class Stack:
    prefix: str
    policy: dict[str, Any]
    config: Path
    endpoint: str
    log: CallLog
    queued: QueuedJobs
    settings: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:  # not recorded: created before the hooks
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)


@pytest.fixture
def stack(aws_env, tmp_path, monkeypatch, capsys) -> Iterator[Stack]:
    requests.post(f"{aws_env}/moto-api/config", json={"batch": {"use_docker": False}}, timeout=10)
    batch_uses_its_service_linked_role(monkeypatch)
    config = tmp_path / "backtest.toml"
    monkeypatch.setenv("BACKTEST_CONFIG", str(config))
    monkeypatch.setenv("BACKTEST_USER", "dana")
    prefix = f"pol{secrets.token_hex(3)}"
    clients = make_clients(REGION)
    assert infra_main(["up", "--prefix", prefix], clients=clients) == 0
    capsys.readouterr()
    assert infra_main(["policy", "--prefix", prefix], clients=clients) == 0
    policy = json.loads(capsys.readouterr().out)
    log = CallLog()
    lookups = {"batch": boto3.client("batch", endpoint_url=aws_env, region_name=REGION)}
    queued = QueuedJobs()
    hooks = [*log.handlers(), ("after-call.batch.DescribeJobs", queued.describe)]
    monkeypatch.setattr(handlers, "BUILTIN_HANDLERS", [*handlers.BUILTIN_HANDLERS, *hooks])
    made = Stack(prefix, policy, config, aws_env, log, queued)
    made.settings = {"lookups": lookups}
    yield made


def _account(stack: Stack) -> Account:
    batch = stack.settings["lookups"]["batch"]

    def revision(name: str) -> str:
        found = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
        latest = max(found["jobDefinitions"], key=lambda d: d["revision"])
        return str(latest["jobDefinitionArn"])

    def job_tags(job_id: str) -> dict[str, str]:
        jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
        return dict(jobs[0].get("tags") or {}) if jobs else {}

    return Account(ACCOUNT, "aws", revision, job_tags)


def _denied(stack: Stack) -> tuple[list[str], list[Check]]:
    acct = _account(stack)
    denied, checks = [], []
    for call in stack.log.calls:
        for check in authorizations(call, acct):
            checks.append(check)
            bad = check_reference(check)
            if bad:
                denied.append(f"{check.call}: {bad}")
            elif not allowed(stack.policy, check):
                denied.append(f"{check.call}: {check.action} on {check.resource} {check.context}")
    return denied, checks


def _prices_csv(rows: int = 300) -> bytes:
    buf = io.StringIO()
    random_walk(rows, seed=3).to_csv(buf)
    return buf.getvalue().encode()


def _wait_done(ctx: Any, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ctx.executor.get(job_id).is_terminal:
        time.sleep(0.5)


def _add_log(stack: Stack, ctx: Any, job_id: str) -> None:
    """What the awslogs driver would have written for the job (moto runs no container)."""
    stream = ctx.executor.get(job_id).log
    logs = stack.client("logs")
    group = ctx.settings.log_group
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "run finished"}],
    )


def _queued_job(stack: Stack, ctx: Any) -> str:
    """A job Batch still holds RUNNABLE (the layer answers so), so cancel sends CancelJob."""
    stack.log.on = False
    record = ctx.executor.submit_command(["true"], name="held", kind="run")
    stack.queued.ids.add(record.id)
    stack.log.on = True
    return str(record.id)


def _drive_dashboard(stack: Stack) -> None:
    ctx = build_context()
    s = ctx.settings
    key = data_service.upload_file(ctx, "walk.csv", _prices_csv(), "prices/")
    data_service.list_objects(ctx, s.input_bucket, "")
    data_service.list_objects(ctx, s.input_bucket, "prices/")
    data_service.preview_file(ctx, s.input_bucket, key)
    data_service.input_files(ctx)
    gone = data_service.upload_file(ctx, "gone.csv", _prices_csv(), "")
    data_service.delete_file(ctx, s.input_bucket, gone)

    runs = submit_service.submit_runs(
        ctx, [key], submit_service.RunChoice("sma_cross", {"fast": 5, "slow": 20}, SimOptions())
    )
    spec = submit_service.sweep_for_files(
        ctx,
        [key],
        submit_service.SweepChoice(
            "sma_cross",
            {},
            {"fast": ParamSpace.parse("5:10:5"), "slow": ParamSpace.parse("20:40:20")},
            SimOptions(),
        ),
    )
    sweep = submit_service.submit_sweep(ctx, spec)
    submit_service.read_back_runs(ctx, runs)
    submit_service.read_back_sweep(ctx, spec)

    jobs_service.list_jobs(ctx)
    jobs_service.job_detail(ctx, sweep.id)
    for record in runs:
        _wait_done(ctx, record.id)
        stack.log.on = False
        _add_log(stack, ctx, record.id)
        stack.log.on = True
        jobs_service.job_detail(ctx, record.id)
        jobs_service.job_logs(ctx, record.id)
        jobs_service.retry_job(ctx, record.id)
    jobs_service.cancel_job(ctx, _queued_job(stack, ctx))
    _wait_done(ctx, sweep.id)
    jobs_service.resume_job(ctx, sweep.id)  # moto ran no child: every chunk is missing
    jobs_service.terminate_job(ctx, sweep.id)

    results_service.list_runs(ctx)
    run_id = stack.settings["finished_run"]
    view = results_service.load_run(ctx, run_id)
    results_service.load_prices_for(ctx, view.spec)


def _drive_jobs_cli(stack: Stack, capsys: Any, key: str) -> None:
    inp, res = stack.settings["buckets"]
    assert jobs_main(["submit", inp, key, res, "--param", "fast=5", "--tag", "team=quant"]) == 0
    job_id = capsys.readouterr().out.split()[-1]
    name = f"pol-sweep-{secrets.token_hex(3)}"
    sweep = ["sweep", inp, key, res, "--range", "fast=5:10:5", "--range", "slow=20:40:20"]
    assert jobs_main([*sweep, "--sweep-id", name]) == 0
    sweep_id = capsys.readouterr().out.split()[-1]
    assert jobs_main(["ls"]) == 0
    assert jobs_main(["show", job_id]) == 0
    assert jobs_main(["wait", job_id, "--timeout", "60"]) == 0
    stack.log.on = False
    _add_log(stack, build_context(), job_id)
    stack.log.on = True
    assert jobs_main(["logs", job_id]) == 0
    jobs_main(
        ["cancel", sweep_id]
    )  # exit code depends on how far moto got; the call is what counts
    assert jobs_main(["terminate", job_id]) == 0
    assert jobs_main(["wait", sweep_id, "--timeout", "60"]) in (0, 1)
    assert jobs_main(["resume", name]) == 0
    capsys.readouterr()


def _finished_run(stack: Stack, key: str) -> str:
    """A run's results, written by the engine as a Batch job would (not recorded)."""
    from engine.backtest import main as engine_main

    inp, res = stack.settings["buckets"]
    run_id = f"pol-{secrets.token_hex(3)}"
    env = {**os.environ, "BACKTEST_STORAGE_ROOT": ""}
    env.pop("BACKTEST_STORAGE_ROOT")
    assert engine_main([inp, key, res, "--run-id", run_id], env=env) == 0
    return run_id


def test_policy_allows_every_call_of_the_dashboard_and_the_jobs_cli(stack, capsys):
    import tomllib

    cfg = tomllib.loads(stack.config.read_text())
    stack.settings["buckets"] = (cfg["input_bucket"], cfg["result_bucket"])
    key = "prices/seed.csv"
    stack.client("s3").put_object(Bucket=cfg["input_bucket"], Key=key, Body=_prices_csv())
    stack.settings["finished_run"] = _finished_run(stack, key)

    stack.log.on = True
    _drive_dashboard(stack)
    _drive_jobs_cli(stack, capsys, key)
    stack.log.on = False

    ops = stack.log.operations()
    expected = {
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "batch:SubmitJob",
        "batch:DescribeJobs",
        "batch:ListJobs",
        "batch:TerminateJob",
        "batch:CancelJob",
        "logs:GetLogEvents",
    }
    assert expected <= ops, sorted(ops)
    denied, checks = _denied(stack)
    assert denied == [], "\n".join(denied)
    actions = {c.action for c in checks}
    assert {"batch:TagResource", "batch:SubmitJob", "batch:TerminateJob"} <= actions
    assert any(c.resource_type == "job-definition-revision" for c in checks)


def test_the_check_catches_what_a_real_account_denies():
    """The same checker denies what the policy would not allow: tagging without TagResource,
    stopping another stack's job, an object outside the buckets, an unmapped call."""
    cfg = StackConfig(prefix="neg", account=ACCOUNT)
    policy = dashboard_policy(cfg)
    revision = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/neg-run:4"
    acct = Account(ACCOUNT, "aws", lambda _: revision, lambda _: {})
    queue = cfg.job_queue
    prefix = cfg.prefix
    submit = Call(
        "batch",
        "SubmitJob",
        {
            "jobQueue": queue,
            "jobDefinition": f"{prefix}-run",
            "tags": {"backtest:queue": queue},
        },
        REGION,
        {"jobId": "1234"},
    )
    checks = authorizations(submit, acct)
    assert all(allowed(policy, c) for c in checks)
    no_tagging = {
        **policy,
        "Statement": [s for s in policy["Statement"] if s["Sid"] != "TagJobsOnSubmit"],
    }
    denied = [c for c in checks if not allowed(no_tagging, c)]
    assert {(c.action, c.resource_type) for c in denied} == {
        ("batch:TagResource", "job"),
        ("batch:TagResource", "job-definition-revision"),
    }
    foreign = Call("batch", "SubmitJob", {**submit.params, "tags": {"backtest:queue": "x"}}, REGION)
    foreign.response = {"jobId": "5678"}
    assert not all(allowed(policy, c) for c in authorizations(foreign, acct))

    other = Account(ACCOUNT, "aws", acct.definition_revision, lambda _: {"backtest:queue": "x"})
    untagged = Account(ACCOUNT, "aws", acct.definition_revision, lambda _: {})
    for who in (other, untagged):
        (check,) = authorizations(Call("batch", "TerminateJob", {"jobId": "j"}, REGION), who)
        assert not allowed(policy, check)
    (mine,) = authorizations(
        Call("batch", "CancelJob", {"jobId": "j"}, REGION),
        Account(ACCOUNT, "aws", acct.definition_revision, lambda _: {"backtest:queue": queue}),
    )
    assert allowed(policy, mine)

    (elsewhere,) = authorizations(
        Call("s3", "GetObject", {"Bucket": "b", "Key": "k"}, REGION), acct
    )
    assert not allowed(policy, elsewhere)
    with pytest.raises(KeyError, match="batch:CreateJobQueue"):
        authorizations(Call("batch", "CreateJobQueue", {}, REGION), acct)
