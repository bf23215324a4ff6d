"""Robust up/down: no serviceRole, an own egress-only security group, INVALID resources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._infra_helpers import Recorder, recorder_on_moto
from tests.realaws import InvalidBatchResources

ENVS = ("backtest-fargate-spot", "backtest-fargate")
REASON = "CLIENT_ERROR - The subnet ID 'subnet-0dead' does not exist"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    yield from recorder_on_moto(monkeypatch, tmp_path)


def _group(aws: Recorder, name: str = "backtest-batch") -> dict:
    found = aws.clients.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    (only,) = found
    return only


def test_compute_environments_are_created_without_a_service_role(aws):
    assert aws.run("up") == 0
    sent = aws.sent("CreateComputeEnvironment")
    assert len(sent) == 2
    assert all("serviceRole" not in params for params in sent)
    assert aws.sent("CreateServiceLinkedRole") == []  # Batch makes its own role


def test_up_uses_its_own_egress_only_security_group(aws, capsys):
    ec2 = aws.clients.ec2
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
    default_id = default["SecurityGroups"][0]["GroupId"]
    assert aws.run("plan") == 0
    assert "create  security group  backtest-batch" in capsys.readouterr().out
    assert aws.run("up") == 0
    group = _group(aws)
    assert group["IpPermissions"] == []
    (egress,) = group["IpPermissionsEgress"]
    assert egress["IpProtocol"] == "-1" and egress["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    envs = aws.clients.batch.describe_compute_environments(computeEnvironments=list(ENVS))
    for env in envs["computeEnvironments"]:
        assert env["computeResources"]["securityGroupIds"] == [group["GroupId"]]
        assert default_id not in env["computeResources"]["securityGroupIds"]
    assert aws.run("up") == 0
    assert aws.mutating() == []


def test_up_puts_back_a_stripped_outbound_rule_and_removes_inbound(aws, capsys):
    assert aws.run("up") == 0
    ec2 = aws.clients.ec2
    group = _group(aws)
    ec2.revoke_security_group_egress(
        GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
    )
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    capsys.readouterr()
    assert aws.run("up") == 0
    assert "update  security group  backtest-batch" in capsys.readouterr().out
    assert sorted(aws.mutating()) == [
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
    ]
    fixed = _group(aws)
    assert fixed["IpPermissions"] == []
    assert fixed["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]


def test_a_given_security_group_is_used_and_none_is_created(aws):
    ec2 = aws.clients.ec2
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    mine = ec2.create_security_group(GroupName="mine", Description="m", VpcId=vpc)["GroupId"]
    assert aws.run("up", "--subnets", subnet, "--security-group", mine) == 0
    assert aws.sent("CreateSecurityGroup") == []
    env = aws.clients.batch.describe_compute_environments(computeEnvironments=[ENVS[0]])
    assert env["computeEnvironments"][0]["computeResources"]["securityGroupIds"] == [mine]


def test_security_group_without_subnets_is_one_line(aws, capsys):
    assert aws.run("plan", "--security-group", "sg-1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--subnets" in err


def test_an_environment_going_invalid_stops_up_at_once_with_its_reason(aws, capsys):
    invalid = InvalidBatchResources(aws.clients.batch, [ENVS[0]], REASON)
    assert aws.run("up") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"compute environment {ENVS[0]} is INVALID: {REASON}" in err
    assert invalid.answers == 1  # the first look after creating it; no polling on
    assert aws.calls.count("DescribeComputeEnvironments") <= 3
    assert "CreateJobQueue" not in aws.calls

    # a rerun does not take it as fine: it re-sends the settings and stops again
    assert aws.run("plan") == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if f" {ENVS[0]} " in ln)
    assert line.startswith("update") and "INVALID" in line and REASON in line
    assert aws.run("up") == 1
    assert aws.sent("UpdateComputeEnvironment")[0]["computeEnvironment"] == ENVS[0]
    assert REASON in capsys.readouterr().err

    # once Batch says VALID again, up finishes and the next up changes nothing
    invalid.names.clear()
    assert aws.run("up") == 0
    assert aws.run("up") == 0
    assert aws.mutating() == []


def test_a_queue_going_invalid_stops_up_with_its_reason(aws, capsys):
    why = "CLIENT_ERROR - computeEnvironmentOrder refers to an INVALID environment"
    InvalidBatchResources(aws.clients.batch, ["backtest-queue"], why)
    assert aws.run("up") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"job queue backtest-queue is INVALID: {why}" in err
    assert "RegisterJobDefinition" not in aws.calls
    capsys.readouterr()
    assert aws.run("status") == 0
    assert why in capsys.readouterr().out


def test_down_gets_through_invalid_resources(aws, capsys):
    assert aws.run("up") == 0
    InvalidBatchResources(aws.clients.batch, [*ENVS, "backtest-queue"], REASON)
    capsys.readouterr()
    assert aws.run("down") == 0
    batch = aws.clients.batch
    assert batch.describe_job_queues(jobQueues=["backtest-queue"])["jobQueues"] == []
    left = batch.describe_compute_environments(computeEnvironments=list(ENVS))
    assert [e for e in left["computeEnvironments"] if e["status"] != "DELETED"] == []
    assert aws.calls.count("DeleteComputeEnvironment") == 2
