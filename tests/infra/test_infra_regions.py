"""infra CLI: each subcommand's own --help; ARNs and the registry from the region's partition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from infra.cli import COMMANDS, main
from infra.regions import partition_for
from tests._infra_helpers import clients as moto_clients
from tests.realaws import batch_uses_its_service_linked_role

ACCOUNT = "123456789012"


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("BACKTEST_CONFIG", str(tmp_path / "backtest.toml"))
    batch_uses_its_service_linked_role(monkeypatch)
    with mock_aws(config={"batch": {"use_docker": False}}):
        yield


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_subcommand_has_its_own_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith(f"usage: python -m infra {command} ")
    assert COMMANDS[command] in out
    assert ("--delete-data" in out) == (command == "down")
    assert ("--remote" in out) == (command in ("push-image", "up", "plan"))
    assert ("--size" in out) == (command in ("plan", "up", "push-image"))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_of_every_subcommand_is_explained(command):
    import argparse

    from infra.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    assert sub.epilog and sub.description == COMMANDS[command]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 10, action.dest
        if action.option_strings and action.nargs != 0:  # takes a value: a named one
            assert action.metavar and action.metavar != action.dest.upper(), action.dest


def test_dashboard_flags_are_shared_by_plan_and_up_and_say_what_they_need(capsys):
    helps = {}
    for command in ("plan", "up", "push-image"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = " ".join(capsys.readouterr().out.split())
    for command in ("plan", "up"):
        out = helps[command]
        assert "--cognito, or all three --oidc-* flags" in out
        for flag in ("--domain NAME", "--certificate-arn ARN", "--oidc-client-secret-arn ARN"):
            assert flag in out
        assert "--remote" in out and "exact source" in out
    assert "--dashboard build infra/dashboard.Dockerfile" in helps["push-image"]
    assert "<prefix>-dashboard-build" in helps["push-image"]
    assert "pushes that value into the listener's authenticate-oidc action" in helps["up"]


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for command, text in COMMANDS.items():
        assert command in out and " ".join(text.split()) in out
    assert "typical use:" in out and "python -m infra up --dashboard --domain" in out


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("us-east-1", "aws", "amazonaws.com"),
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
    ],
)
def test_partition_from_botocore(region, partition, suffix):
    found = partition_for(region)
    assert (found.name, found.dns_suffix) == (partition, suffix)


@pytest.mark.parametrize(
    ("region", "says"),
    [
        ("us-isob-east-1", "partition aws-iso-b"),
        ("mars-north-1", "no partition botocore knows"),
        ("eu-fake-9", "AWS Batch has no endpoint there"),
    ],
)
def test_unsupported_region_is_refused_before_any_call(region, says, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing may be called
    assert main(["plan", "--region", region]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert says in err and region in err


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
    ],
)
def test_up_and_policy_use_the_partition(moto, region, partition, suffix, capsys):
    clients = moto_clients(region)
    assert main(["up"], clients=clients) == 0
    registry = f"{ACCOUNT}.dkr.ecr.{region}.{suffix}/backtest-engine"
    queue = clients.batch.describe_job_queues(jobQueues=["backtest-queue"])["jobQueues"][0]
    for item in queue["computeEnvironmentOrder"]:
        assert item["computeEnvironment"].startswith(f"arn:{partition}:batch:{region}:{ACCOUNT}:")
    for kind in ("run", "sweep", "collect"):
        (jd,) = clients.batch.describe_job_definitions(
            jobDefinitionName=f"backtest-{kind}", status="ACTIVE"
        )["jobDefinitions"]
        props = jd["containerProperties"]
        assert props["image"] == f"{registry}:latest"
        assert props["jobRoleArn"] == f"arn:{partition}:iam::{ACCOUNT}:role/backtest-batch-job"
        assert props["executionRoleArn"].startswith(f"arn:{partition}:iam::{ACCOUNT}:role/")
    role = "backtest-batch-job"
    doc = clients.iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
    for st in doc["Statement"]:  # S3, and Batch for a TPE search's step jobs
        for res in [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]:
            # DescribeJobs has no resource-level permissions: "*" is the only resource it takes
            describe = res == "*" and st["Action"] == "batch:DescribeJobs"
            assert res.startswith(f"arn:{partition}:") or describe, st
    capsys.readouterr()
    assert main(["policy"], clients=clients) == 0
    policy = json.loads(capsys.readouterr().out)
    for st in policy["Statement"]:
        for res in [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]:
            assert res == "*" or res.startswith(f"arn:{partition}:"), res
