"""A TPE search on the AWS Batch backend (moto, no Docker). Moto marks every job SUCCEEDED at
once, so the rounds are driven here: each SubmitJob's own command runs as its container would
(one process per array index), and each step runs with the environment its SubmitJob carries.
The payloads are checked against the Batch API reference (array size 2..10,000 or a plain job,
dependsOn by job id, the step's settings in containerOverrides.environment, nothing reserved or
secret), and every Batch request a step makes is checked against the job role's policy."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep.results import read_sweep
from engine.sweep.spec import SweepSpec
from infra.config import StackConfig
from infra.iam import job_policy
from jobs.batch import BatchExecutor
from jobs.factory import aws_clients, make_executor, make_store
from jobs.search_jobs import run_step, search_progress, submit_search
from jobs.search_records import round_jobs
from jobs.settings import Settings, load_settings
from tests._policy_check import Account, Call, Check, allowed, authorizations, check_reference
from tests.jobs.test_jobs_batch import aws_creds  # noqa: F401 - fixture
from tests.jobs.test_stored_sweep_batch import run_container
from tests.realaws import limit_container_overrides

ACCOUNT, REGION = "123456789012", "us-east-1"
CFG = StackConfig(account=ACCOUNT, region=REGION)
URI = "s3://results/sweeps/bs/spec.json"


class Recorder:
    """Every SubmitJob/DescribeJobs request with its response, as botocore sends them."""

    def __init__(self, client: Any) -> None:
        self.calls: list[Call] = []
        self._open: dict[int, Call] = {}
        for op in ("SubmitJob", "DescribeJobs"):
            client.meta.events.register(f"provide-client-params.batch.{op}", self._params(op))
            client.meta.events.register(f"after-call.batch.{op}", self._after)

    def _params(self, op: str) -> Any:
        def record(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            call = Call("batch", op, copy.deepcopy(params), REGION)
            self.calls.append(call)
            self._open[id(context)] = call

        return record

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = self._open.pop(id(context), None)
        if call is not None:
            call.response = json.loads(json.dumps(parsed, default=str))

    def submits(self, since: int = 0) -> list[dict[str, Any]]:
        return [c.params for c in self.calls[since:] if c.operation == "SubmitJob"]


def make_stack(batch: Any, iam: Any, cfg: StackConfig = CFG) -> None:
    """The queue and the three job definitions under the names `python -m infra up` gives."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "batch.amazonaws.com"}}]}  # fmt: skip
    role = iam.create_role(
        RoleName=f"svc-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    env = batch.create_compute_environment(
        computeEnvironmentName=f"{cfg.prefix}-ce",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=role,
    )["computeEnvironmentArn"]
    batch.create_job_queue(
        jobQueueName=cfg.job_queue, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
    )  # fmt: skip
    for kind in ("run", "sweep", "collect"):
        batch.register_job_definition(
            jobDefinitionName=cfg.job_definition(kind),
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


@pytest.fixture
def stack(aws_creds: None) -> Iterator[tuple[BatchExecutor, Recorder, Any]]:  # noqa: F811
    with mock_aws(config={"batch": {"use_docker": False}}):
        settings = Settings(
            backend="aws", user="alice", job_queue=CFG.job_queue,
            job_definition=CFG.job_definition("run"),
            sweep_job_definition=CFG.job_definition("sweep"),
            collect_job_definition=CFG.job_definition("collect"),
        )  # fmt: skip
        batch, logs = aws_clients(settings, env={})
        make_stack(batch, boto3.client("iam", region_name=REGION))
        limit_container_overrides(batch)  # ECS's 8,192 characters, as a real task start
        yield BatchExecutor(settings, batch, logs, poll=0.01), Recorder(batch), batch


def run_round(root: Path, params: dict[str, Any]) -> None:
    """The round's containers: one process per array index (a plain job has none)."""
    command = params["containerOverrides"]["command"]
    size = params.get("arrayProperties", {}).get("size")
    for index in range(size) if size else [None]:
        run_container(command, root, index)


def env_of(params: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in params["containerOverrides"]["environment"]}


def checks_of(calls: list[Call], batch: Any) -> list[Check]:
    def revision(name: str) -> str:
        defs = batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
        return max(defs["jobDefinitions"], key=lambda d: d["revision"])["jobDefinitionArn"]

    account = Account(ACCOUNT, "aws", revision, lambda _job: {})
    return [check for call in calls for check in authorizations(call, account)]


@pytest.mark.slow
def test_a_search_on_batch_submits_rounds_steps_and_collect_the_job_role_allows(
    stack: tuple[BatchExecutor, Recorder, Any], tmp_path: Path
) -> None:
    ex, rec, batch = stack
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(300, seed=4).to_csv(root / "input" / "prices.csv")
    store = LocalStore(root)
    base = RunSpec("input", "prices.csv", "results", "sma_cross")
    spec = SweepSpec("bs", base, {"fast": "2:30:1", "slow": "10:120:5"}, mode="tpe", n=10,
                     seed=2, search={"round_size": 4}, top_n=0)  # fmt: skip
    # 4 trials x 300 bars x 0.2 s = 240 s: two children of 2 per round; rounds of 4, 4, 2
    sub = submit_search(ex, store, spec, cost_s=0.2)
    assert (sub.layout.chunk_size, sub.layout.n_rounds, sub.layout.n_children) == (2, 3, 5)

    array, step = rec.submits()
    assert array["jobDefinition"] == "backtest-sweep" and array["arrayProperties"] == {"size": 2}
    assert array["containerOverrides"]["command"] == [
        "python", "-m", "engine.backtest", "--sweep", URI, "--round", "0"
    ]  # fmt: skip
    assert array["tags"]["backtest:search-round"] == "0"
    assert step["jobDefinition"] == "backtest-collect"
    assert step["dependsOn"] == [{"jobId": sub.array.id}]  # no type: after every child
    assert step["containerOverrides"]["command"] == [
        "python", "-m", "jobs", "search-step", URI, "--round", "0"
    ]  # fmt: skip
    env = env_of(step)
    assert not [k for k in env if k.startswith("AWS_")]  # reserved or secret: none sent
    assert "SECRET" not in json.dumps(env) and "testing" not in env.values()
    stepped = load_settings(env={k: v for k, v in env.items() if k.startswith("BACKTEST_")})
    for name in ("backend", "region", "job_queue", "job_definition", "sweep_job_definition",
                 "collect_job_definition", "attempts", "job_timeout", "user"):  # fmt: skip
        assert getattr(stepped, name) == getattr(ex.settings, name), name
    assert stepped.storage == "s3"  # the step on Batch reads and writes S3

    progress = search_progress(store, "results", "bs", ex)
    assert (progress.state, progress.rounds_asked, progress.trials_evaluated) == ("running", 1, 0)
    run_round(root, array)
    before = len(rec.calls)
    result = run_step(ex, store, URI, 0)
    assert result.message.startswith("told 4 trials of rounds 0..0; asked round 1 (trials 4..7)")
    array1, step1 = rec.submits(before)
    assert array1["containerOverrides"]["command"][-1] == "1"
    assert step1["dependsOn"] == [{"jobId": result.array.id}]  # type: ignore[union-attr]
    run_round(root, array1)
    step_calls = rec.calls[before:]
    before = len(rec.calls)
    run_step(ex, store, URI, 1)
    (array2, step2) = rec.submits(before)
    assert "arrayProperties" not in array2  # one chunk: a plain job (an array needs 2+)
    assert step2["dependsOn"][0]["jobId"] != step1["dependsOn"][0]["jobId"]
    run_round(root, array2)
    step_calls += rec.calls[before:]
    before = len(rec.calls)
    done = run_step(ex, store, URI, 2)
    (collect,) = rec.submits(before)
    assert collect["containerOverrides"]["command"] == ["python", "-m", "engine.sweep.collect", URI]
    assert collect["jobDefinition"] == "backtest-collect" and "dependsOn" not in collect
    again = run_step(ex, store, URI, 2)  # a rerun step submits nothing twice
    assert again.message.startswith("the collect was submitted already") and done.collect
    assert rec.submits(before + 1) == []
    step_calls += rec.calls[before:]
    run_container(collect["containerOverrides"]["command"], root, None)
    assert sorted(read_sweep(store, "results", "bs").summary["combo_id"]) == list(range(10))
    assert search_progress(store, "results", "bs", ex).state == "done"

    policy = job_policy(CFG)
    checks = checks_of(step_calls, batch)
    assert {c.action for c in checks} == {
        "batch:SubmitJob", "batch:TagResource", "batch:DescribeJobs"
    }  # fmt: skip
    for check in checks:
        assert check_reference(check) is None, check
        assert allowed(policy, check), check
    # scoped: the run job definition, another queue or another stack's tag are not allowed
    run_def = Check("batch:SubmitJob", f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/"
                    "backtest-run:1", {}, "job-definition")  # fmt: skip
    other_queue = Check("batch:SubmitJob", f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/x")
    job = f"arn:aws:batch:{REGION}:{ACCOUNT}:job/j"
    foreign = Check("batch:TagResource", job, {"aws:RequestTag/backtest:queue": "x"}, "job")
    assert not any(allowed(policy, c) for c in (run_def, other_queue, foreign))
    assert not allowed(policy, Check("batch:TerminateJob", job, {}, "job"))


def container(command: list[str], env: dict[str, str], cwd: Path, index: int | None = None) -> str:
    """One Batch container: the SubmitJob's command with its environment, the credentials the
    job role gives, and AWS_BATCH_* as Batch sets them."""
    run_env = {
        "PATH": os.environ["PATH"], "HOME": str(cwd),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_BATCH_JOB_ID": f"job-{uuid.uuid4().hex[:6]}",
        "BACKTEST_CONFIG": str(cwd / "none.toml"), **env,
    }  # fmt: skip
    if index is not None:
        run_env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    argv = [sys.executable, *command[1:]] if command[0] == "python" else command
    done = subprocess.run(
        argv, cwd=cwd, env=run_env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_on_s3_each_step_runs_as_its_container_with_only_the_environment_it_was_sent(
    aws_env: str, tmp_path: Path
) -> None:
    """Against the moto server: S3 for the store, Batch for the jobs; every container (children
    and steps) is a process given exactly its SubmitJob's environment."""
    suffix = uuid.uuid4().hex[:8]
    inp, res = f"search-in-{suffix}", f"search-res-{suffix}"
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws_env)
    for bucket in (inp, res):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=inp, Key="prices.csv", Body=random_walk(300, seed=9).to_csv().encode())
    batch = boto3.client("batch", region_name=REGION, endpoint_url=aws_env)
    cfg = StackConfig(prefix=f"s{suffix}", account=ACCOUNT, region=REGION)
    make_stack(batch, boto3.client("iam", region_name=REGION, endpoint_url=aws_env), cfg)
    settings = Settings(
        backend="aws", user="alice", job_queue=cfg.job_queue,
        job_definition=cfg.job_definition("run"),
        sweep_job_definition=cfg.job_definition("sweep"),
        collect_job_definition=cfg.job_definition("collect"),
    )  # fmt: skip
    ex = make_executor(settings)
    store = make_store(settings)
    base = RunSpec(inp, "prices.csv", res, "sma_cross")
    spec = SweepSpec("srv", base, {"fast": "2:30:1", "slow": "10:120:5"}, mode="tpe", n=8,
                     seed=4, search={"round_size": 4}, top_n=0)  # fmt: skip
    sub = submit_search(ex, store, spec, cost_s=0.2)  # two children of 2 trials per round
    uri = f"s3://{res}/sweeps/srv/spec.json"
    assert sub.spec_uri == uri
    for r in range(2):  # round 1's jobs come from step 0's container: read them from Batch
        (entry,) = round_jobs(store, res, "srv", r)
        array, step = (sent(batch, entry[role]) for role in ("array", "step"))
        assert step["command"] == ["python", "-m", "jobs", "search-step", uri, "--round", str(r)]
        assert step["dependsOn"] == [{"jobId": entry["array"]}]
        env = step["env"]
        assert env["AWS_ENDPOINT_URL_S3"] == aws_env  # an endpoint override travels; no keys
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)
        assert array["command"][-2:] == ["--round", str(r)] and array["size"] == 2
        for index in range(array["size"]):
            container(array["command"], {**env, **array["env"]}, tmp_path, index)
        out = container(step["command"], env, tmp_path)
        assert out.startswith("told 4 trials" if r == 0 else "all 2 rounds told")
    collect = sent(batch, round_jobs(store, res, "srv", 1)[-1]["collect"])
    assert collect["command"] == ["python", "-m", "engine.sweep.collect", uri]
    container(collect["command"], env, tmp_path)
    progress = search_progress(store, res, "srv", ex)
    assert (progress.state, progress.trials_evaluated, progress.rounds_asked) == ("done", 8, 2)
    assert sorted(read_sweep(store, res, "srv").summary["combo_id"]) == list(range(8))


def sent(batch: Any, job_id: str) -> dict[str, Any]:
    """What Batch holds of a submitted job: command, environment, dependencies, array size."""
    (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
    container_ = job.get("container", {})
    return {
        "command": container_.get("command"),
        "env": {e["name"]: e["value"] for e in container_.get("environment", [])},
        "dependsOn": job.get("dependsOn", []),
        "size": job.get("arrayProperties", {}).get("size"),
    }
