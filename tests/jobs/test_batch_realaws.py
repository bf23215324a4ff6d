"""The AWS path as a real account answers it (issue 11: retries, limits, eventual consistency,
console-style submits), on the stack `python -m infra up` builds on the moto server.

Moto is lenient where real AWS is not; tests/realaws.py makes its answers real where it matters:
the retry decision Batch takes, ECS's 8,192-character limit on overrides, DescribeJobs not yet
showing a new job. Jobs do not run on moto (no Docker): where a test says a job *runs*, it runs
the exact command and environment Batch would start, in this process, against moto's S3.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import requests
from botocore.exceptions import ClientError

import engine.backtest
import engine.sweep.collect
from engine.errors import BacktestError, InfraError
from engine.sim.synthetic import random_walk
from infra.cli import main as infra_main
from infra.clients import make_clients
from jobs.batch import BatchExecutor
from jobs.cli import build_parser, run_command
from jobs.factory import aws_clients
from jobs.model import JobStatus
from jobs.settings import Settings, load_settings
from tests.realaws import (
    HiddenJobs,
    SubmitLog,
    batch_uses_its_service_linked_role,
    limit_container_overrides,
    resolve_command,
    retry_decision,
    submit_job_kwargs,
)

REPO = Path(__file__).resolve().parents[2]
SNIPPET = REPO / "docs" / "aws-cli-submit.txt"  # quoted by the README
REGION = "us-east-1"
KINDS = ("run", "sweep", "collect")

# Failed attempts as Batch reports them on Fargate (status reason of the attempt, the container's
# reason and exit code), and what must happen to each.
SPOT = {"statusReason": "Your Spot Task was interrupted.", "container": {"exitCode": 143}}
SPOT_BEFORE_START = {"statusReason": "Your Spot Task was interrupted."}
PULL = {
    "statusReason": "Task failed to start",
    "container": {
        "reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
    },
}
ENI = {
    "statusReason": "Task failed to start",
    "container": {
        "reason": "ResourceInitializationError: unable to pull secrets or registry auth: "
        "execution resource retrieval failed"
    },
}
START = {
    "statusReason": "Task failed to start",
    "container": {"reason": "CannotStartContainerError: Error response from daemon"},
}
BAD_INPUT = {"statusReason": "Essential container in task exited", "container": {"exitCode": 2}}
INFRA_EXIT = {"statusReason": "Essential container in task exited", "container": {"exitCode": 1}}
EXPECTED = [
    (SPOT, "RETRY"),
    (SPOT_BEFORE_START, "RETRY"),
    (PULL, "RETRY"),
    (ENI, "RETRY"),
    (START, "RETRY"),
    (BAD_INPUT, "EXIT"),
    (INFRA_EXIT, "EXIT"),
]


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]


@pytest.fixture(scope="module")
def stack(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`python -m infra up` (prefix backtest, as the docs use) on the moto server."""
    requests.post(
        f"{moto_server}/moto-api/config", json={"batch": {"use_docker": False}}, timeout=10
    )
    config = tmp_path_factory.mktemp("stack") / "backtest.toml"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ENDPOINT_URL_S3": moto_server,
    }
    with pytest.MonkeyPatch.context() as mp:
        batch_uses_its_service_linked_role(mp)  # only while `up` runs
        for key, value in {**env, "BACKTEST_CONFIG": str(config)}.items():
            mp.setenv(key, value)
        assert infra_main(["up", "--prefix", "backtest"], clients=make_clients(REGION, env)) == 0
        settings = load_settings(config_path=config)
    yield Stack(settings, env)


@dataclass
class Aws:
    executor: BatchExecutor
    submits: SubmitLog
    settings: Settings
    s3: Any


@pytest.fixture
def aws(stack: Stack, aws_env: str) -> Aws:
    """A BatchExecutor on the stack; its client refuses oversize overrides as ECS would."""
    batch, logs = aws_clients(stack.settings, stack.env)
    submits = limit_container_overrides(batch)
    executor = BatchExecutor(stack.settings, batch, logs, poll=0.01)
    return Aws(executor, submits, stack.settings, boto3.client("s3", endpoint_url=aws_env))


def put_prices(aws: Aws, keys: Sequence[str], n_bars: int = 80) -> None:
    for i, key in enumerate(keys):
        body = random_walk(n_bars, seed=i).to_csv(index_label="date", float_format="%.4f")
        aws.s3.put_object(Bucket=aws.settings.input_bucket, Key=key, Body=body.encode())


def jobs_cli(aws: Aws, *argv: str) -> int:
    """`python -m jobs ARGV` on this executor (the CLI's own dispatch)."""
    ns: argparse.Namespace = build_parser().parse_args(list(argv))
    return run_command(ns, aws.settings, aws.executor)


def run_in_container(
    command: Sequence[str], env: Mapping[str, str], batch_env: Mapping[str, str] | None = None
) -> int:
    """Run a job's command as its container would (python -m MODULE ARGS), in this process."""
    assert list(command[:2]) == ["python", "-m"], command
    module, args = command[2], list(command[3:])
    full = {**os.environ, **env, **(batch_env or {})}
    entry = {
        "engine.backtest": engine.backtest.main,
        "engine.sweep.collect": engine.sweep.collect.main,
    }
    return int(entry[module](args, full))


def container_env(params: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in params["containerOverrides"].get("environment", [])}


# --- 1. retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("absent_matches_star", [False, True])
def test_every_job_retries_platform_failures_and_never_bad_input(
    aws: Aws, capsys: pytest.CaptureFixture[str], absent_matches_star: bool
) -> None:
    """Run, sweep children and collect (as submitted) and the three job definitions (as
    registered) all decide like this, whether or not Batch lets `*` match an absent field."""
    put_prices(aws, ["retry/a.csv"])
    src, dst = aws.settings.input_bucket, aws.settings.result_bucket
    assert jobs_cli(aws, "submit", src, "retry/a.csv", dst) == 0
    assert jobs_cli(aws, "sweep", src, "retry/a.csv", dst, "--range", "fast=5:10:5",
                    "--range", "slow=20:30:10", "--children", "2") == 0  # fmt: skip
    capsys.readouterr()
    strategies = {p["jobName"].split("-")[0]: p["retryStrategy"] for p in aws.submits.params}
    assert set(strategies) == {"run", "sweep", "collect"}
    for kind in KINDS:
        (definition,) = aws.executor.batch.describe_job_definitions(
            jobDefinitionName=f"backtest-{kind}", status="ACTIVE"
        )["jobDefinitions"]
        strategies[f"definition {kind}"] = definition["retryStrategy"]
    for who, strategy in strategies.items():
        assert strategy["attempts"] == 3, who
        decided = [
            retry_decision(strategy, attempt, absent_matches_star=absent_matches_star)
            for attempt, _ in EXPECTED
        ]
        assert decided == [want for _, want in EXPECTED], who


# --- 6. console-style use ----------------------------------------------------------------------


def snippet_commands() -> list[str]:
    """The `aws batch submit-job` commands of the docs snippet (continuation lines joined)."""
    text = SNIPPET.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("aws batch")]


def definitions(aws: Aws) -> dict[str, dict[str, Any]]:
    out = {}
    for kind in KINDS:
        (d,) = aws.executor.batch.describe_job_definitions(
            jobDefinitionName=f"backtest-{kind}", status="ACTIVE"
        )["jobDefinitions"]
        out[d["jobDefinitionName"]] = d
    return out


def test_every_ref_parameter_has_a_default(aws: Aws) -> None:
    for name, d in definitions(aws).items():
        refs = {
            p[len("Ref::") :] for p in d["containerProperties"]["command"] if p.startswith("Ref::")
        }
        assert refs, name
        assert refs <= set(d.get("parameters", {})), name


def test_the_documented_cli_submits_run_each_definitions_own_command(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every `aws batch submit-job` line of docs/aws-cli-submit.txt, sent as the AWS CLI sends it
    (it refuses a line without --job-name), then run as Batch would start it: the definition's
    command with its Ref:: placeholders filled, and no override."""
    put_prices(aws, ["prices.csv"])  # the run definition's documented key
    src, dst = aws.settings.input_bucket, aws.settings.result_bucket
    sweep_id = f"console-{uuid.uuid4().hex[:6]}"
    assert jobs_cli(aws, "sweep", src, "prices.csv", dst, "--range", "fast=5:10:5",
                    "--range", "slow=20:30:10", "--children", "1",
                    "--sweep-id", sweep_id) == 0  # fmt: skip
    capsys.readouterr()
    defs = definitions(aws)
    commands = snippet_commands()
    assert [c.split("--job-definition ")[1].split()[0] for c in commands] == [
        "backtest-run", "backtest-sweep", "backtest-collect"
    ]  # fmt: skip
    for line in commands:
        kwargs = submit_job_kwargs(line.replace("RESULT_BUCKET", dst).replace("SWEEP_ID", sweep_id))
        job_id = aws.executor.batch.submit_job(**kwargs)["jobId"]
        assert aws.executor.get(job_id).status is JobStatus.SUCCEEDED
        d = defs[kwargs["jobDefinition"]]
        command = resolve_command(
            d["containerProperties"]["command"], d["parameters"], kwargs.get("parameters", {})
        )
        assert not any("Ref::" in part for part in command), command
        assert run_in_container(command, {}, {"AWS_BATCH_JOB_ID": job_id}) == 0, command
    out = capsys.readouterr().out
    assert f"s3://{dst}/runs/" in out  # the run printed its result prefix
    listed = aws.s3.list_objects_v2(Bucket=dst, Prefix=f"sweeps/{sweep_id}/")["Contents"]
    keys = {o["Key"].split(f"{sweep_id}/", 1)[1] for o in listed}
    assert {"chunks/0.parquet", "summary.parquet", "_SUCCESS"} <= keys


# --- 5. eventual consistency -------------------------------------------------------------------


def test_submit_and_sweep_survive_jobs_missing_from_describe_jobs(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each new job is missing from the first 3 DescribeJobs/ListJobs answers that would show it."""
    hidden = HiddenJobs(aws.executor.batch, describes=3)
    put_prices(aws, ["consistency/a.csv"])
    src, dst = aws.settings.input_bucket, aws.settings.result_bucket
    assert jobs_cli(aws, "submit", src, "consistency/a.csv", dst) == 0
    run_id = capsys.readouterr().out.split()[-1]
    shown = aws.executor.get(run_id)  # Batch does not show it yet: the job as submitted
    assert (shown.id, shown.status, shown.kind.value) == (run_id, JobStatus.SUBMITTED, "run")
    assert shown.result_prefix and shown.result_prefix.startswith(f"s3://{dst}/runs/")
    listed = aws.executor.list(limit=5)  # ListJobs does not show it yet either: still listed
    assert listed[0].id == run_id and listed[0].status is JobStatus.SUBMITTED
    assert [r.id for r in aws.executor.describe([run_id, "no-such-job"])] == [run_id]

    sweep_id = f"consistency-{uuid.uuid4().hex[:6]}"
    assert jobs_cli(aws, "sweep", src, "consistency/a.csv", dst, "--range", "fast=5:10:5",
                    "--range", "slow=20:30:10", "--children", "2",
                    "--sweep-id", sweep_id) == 0  # fmt: skip
    collect_id = capsys.readouterr().out.split()[-1]
    array_submit, collect_submit = aws.submits.params[-2:]
    assert collect_submit["jobName"] == f"collect-{sweep_id}"
    array_id = collect_submit["dependsOn"][0]["jobId"]
    assert array_submit["arrayProperties"] == {"size": 2}
    stored = aws.s3.get_object(Bucket=dst, Key=f"sweeps/{sweep_id}/spec.json")["Body"].read()
    assert json.loads(stored)["jobs"] == {
        "array": array_id,
        "collect": collect_id,
        "backend": "aws",
    }
    assert hidden.hidden_answers >= 1  # the layer did hide them from this executor
    for job_id in (run_id, array_id, collect_id):  # once Batch shows them, Batch's state
        for _ in range(4):
            record = aws.executor.get(job_id)
        assert record.status is JobStatus.SUCCEEDED, job_id


def failing_collect_submits(client: Any, failures: int) -> list[str]:
    """The first ``failures`` collect SubmitJobs answer ClientException (every one when < 0)."""
    seen: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params["jobName"].startswith("collect-"):
            seen.append(params["jobName"])
            if failures < 0 or len(seen) <= failures:
                raise ClientError(
                    {"Error": {"Code": "ClientException", "Message": "dependent job not found"}},
                    "SubmitJob",
                )

    client.meta.events.register("provide-client-params.batch.SubmitJob", refuse)
    return seen


def test_a_sweep_gets_its_collect_job_after_refused_submits(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = failing_collect_submits(aws.executor.batch, failures=2)
    put_prices(aws, ["consistency/b.csv"])
    src, dst = aws.settings.input_bucket, aws.settings.result_bucket
    assert jobs_cli(aws, "sweep", src, "consistency/b.csv", dst, "--range", "fast=5:10:5",
                    "--range", "slow=20:30:10", "--children", "2") == 0  # fmt: skip
    collect_id = capsys.readouterr().out.split()[-1]
    assert len(seen) == 3
    assert aws.executor.get(collect_id).depends_on  # submitted, after its array


def test_a_sweep_whose_collect_cannot_be_submitted_is_stopped(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    failing_collect_submits(aws.executor.batch, failures=-1)
    terminated: list[str] = []
    aws.executor.batch.meta.events.register(
        "provide-client-params.batch.TerminateJob",
        lambda params, **_: terminated.append(params["jobId"]),
    )
    put_prices(aws, ["consistency/c.csv"])
    src, dst = aws.settings.input_bucket, aws.settings.result_bucket
    with pytest.raises(InfraError) as failed:  # the CLI prints it as one line, exit 1
        jobs_cli(aws, "sweep", src, "consistency/c.csv", dst, "--range", "fast=5:10:5",
                 "--range", "slow=20:30:10", "--children", "2")  # fmt: skip
    message = str(failed.value)
    assert "\n" not in message and failed.value.exit_code == 1
    assert "collect job could not be submitted" in message and "terminated" in message
    assert len(terminated) == 1 and terminated[0] in message


# --- 4. limits ---------------------------------------------------------------------------------


def fanout_keys(n: int, tag: str) -> list[str]:
    keys = [f"fanout/{tag}/{'k' * 55}-{i:03d}.csv" for i in range(n)]
    keys = [k.replace("k" * 55, "k" * (55 + 80 - len(k))) for k in keys]
    assert {len(k) for k in keys} == {80}
    return keys


def test_a_sweep_over_100_files_with_80_character_keys_submits_and_runs(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = fanout_keys(100, uuid.uuid4().hex[:6])
    put_prices(aws, keys, n_bars=60)
    src, dst = aws.settings.input_bucket, aws.settings.result_bucket
    sweep_id = f"fanout-{uuid.uuid4().hex[:6]}"
    assert jobs_cli(aws, "sweep", src, *keys, dst, "--range", "fast=5:10:5",
                    "--range", "slow=20:30:10", "--children", "4",
                    "--sweep-id", sweep_id) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "4 combinations x 100 file(s) in array of 4" in out
    array, collect = aws.submits.params[-2:]
    assert max(aws.submits.lengths[-2:]) < 2000  # the overrides do not grow with the files
    uri = f"s3://{dst}/sweeps/{sweep_id}/spec.json"
    for params in (array, collect):  # the spec travels as its address only
        assert json.loads(container_env(params)["BACKTEST_JOB_SPEC"]) == {
            "spec_uri": uri,
            "sweep_id": sweep_id,
        }
    shown = aws.executor.get(collect["dependsOn"][0]["jobId"]).spec or {}  # the Jobs page view
    assert shown["extra_keys"] == keys[1:] and shown["base"]["source_key"] == keys[0]

    for index in range(array["arrayProperties"]["size"]):  # each child, as Batch starts it
        command = array["containerOverrides"]["command"]
        batch_env = {"AWS_BATCH_JOB_ARRAY_INDEX": str(index), "AWS_BATCH_JOB_ATTEMPT": "1"}
        assert run_in_container(command, container_env(array), batch_env) == 0
    assert run_in_container(collect["containerOverrides"]["command"], container_env(collect)) == 0
    summary = aws.s3.get_object(Bucket=dst, Key=f"sweeps/{sweep_id}/summary.parquet")
    frame = pd.read_parquet(io.BytesIO(summary["Body"].read()))
    assert len(frame) == 400 and set(frame["source_key"]) == set(keys)


def test_submit_takes_several_files_one_run_each(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = fanout_keys(3, uuid.uuid4().hex[:6])
    put_prices(aws, keys)
    src, dst = aws.settings.input_bucket, aws.settings.result_bucket
    assert jobs_cli(aws, "submit", src, *keys, dst, "--param", "fast=5") == 0
    ids = capsys.readouterr().out.split()[-3:]
    sent = aws.submits.params[-3:]
    assert [p["containerOverrides"]["command"][4] for p in sent] == keys
    assert [aws.executor.get(i).spec["source_key"] for i in ids] == keys
    for params in sent:
        assert run_in_container(params["containerOverrides"]["command"], container_env(params)) == 0
    prefixes = capsys.readouterr().out.split()
    assert len(set(prefixes)) == 3 and all(p.startswith(f"s3://{dst}/runs/") for p in prefixes)


def test_overrides_longer_than_ecs_allows_are_refused_before_submitting(aws: Aws) -> None:
    before = len(aws.submits.params)
    with pytest.raises(BacktestError, match="7168"):
        aws.executor.submit_command(["true"], name="big", kind="run", env={"X": "x" * 8000})
    assert len(aws.submits.params) == before  # nothing sent
