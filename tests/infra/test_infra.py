"""infra CLI against in-process moto: plan is read-only, up is idempotent, down goes in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import parliament
import pytest

from infra.config import JobSize, StackConfig
from infra.network import discover
from jobs.settings import load_settings, settings_with_sources
from tests._infra_helpers import ACCOUNT, REGION, Recorder, recorder_on_moto

INPUT = f"backtest-input-{ACCOUNT}-{REGION}"
RESULTS = f"backtest-results-{ACCOUNT}-{REGION}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    yield from recorder_on_moto(monkeypatch, tmp_path)


def _config(tmp_path: Path) -> Path:
    return tmp_path / "backtest.toml"


def test_plan_on_empty_account_lists_everything_and_only_reads(aws, capsys, tmp_path):
    assert aws.run("plan") == 0
    out = capsys.readouterr().out
    expected = [
        ("bucket", INPUT),
        ("bucket", RESULTS),
        ("ecr repository", "backtest-engine"),
        ("log group", "/aws/batch/backtest"),
        ("iam role", "backtest-batch-execution"),
        ("iam role", "backtest-batch-job"),
        ("compute env", "backtest-fargate-spot"),
        ("compute env", "backtest-fargate"),
        ("job queue", "backtest-queue"),
        ("job definition", "backtest-run"),
        ("job definition", "backtest-sweep"),
        ("job definition", "backtest-collect"),
    ]
    lines = out.splitlines()
    for kind, name in expected:
        assert any(
            line.startswith("create") and kind in line and f" {name} " in line for line in lines
        ), (kind, name, out)
    assert aws.calls, "plan made no API calls at all"
    assert aws.mutating() == []
    assert not _config(tmp_path).exists()
    # and nothing was created
    assert aws.clients.s3.list_buckets()["Buckets"] == []
    assert aws.clients.batch.describe_job_queues()["jobQueues"] == []


def test_up_creates_everything_with_the_asserted_properties(aws, tmp_path):
    assert aws.run("up") == 0
    c = aws.clients
    for bucket in (INPUT, RESULTS):
        enc = c.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = c.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
    rules = c.s3.get_bucket_lifecycle_configuration(Bucket=RESULTS)["Rules"]
    runs_rule = next(r for r in rules if r["Filter"].get("Prefix") == "runs/")
    assert runs_rule["Expiration"]["Days"] == 90 and runs_rule["Status"] == "Enabled"
    input_rules = c.s3.get_bucket_lifecycle_configuration(Bucket=INPUT)["Rules"]
    assert not any("Expiration" in r for r in input_rules)  # price files never expire

    repo = c.ecr.describe_repositories(repositoryNames=["backtest-engine"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    policy = json.loads(
        c.ecr.get_lifecycle_policy(repositoryName="backtest-engine")["lifecyclePolicyText"]
    )
    assert policy["rules"][0]["selection"]["countType"] == "imageCountMoreThan"
    assert policy["rules"][0]["selection"]["countNumber"] == 10

    group = c.logs.describe_log_groups(logGroupNamePrefix="/aws/batch/backtest")["logGroups"][0]
    assert group["retentionInDays"] == 30

    job_doc = c.iam.get_role_policy(RoleName="backtest-batch-job", PolicyName="backtest-batch-job")
    resources: set[str] = set()
    batch: dict[str, set[str]] = {}  # a TPE search's step job submits its next round
    for st in job_doc["PolicyDocument"]["Statement"]:
        res = st["Resource"]
        res = {res} if isinstance(res, str) else set(res)
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        if all(a.startswith("batch:") for a in actions):
            for a in actions:
                batch.setdefault(a, set()).update(res)
            continue
        resources |= res
        assert all(a.startswith("s3:") for a in actions)
    bucket_arns = {f"arn:aws:s3:::{INPUT}", f"arn:aws:s3:::{RESULTS}"}
    assert resources == bucket_arns | {f"{b}/*" for b in bucket_arns}
    assert set(batch) == {"batch:SubmitJob", "batch:TagResource", "batch:DescribeJobs"}
    arn, kinds = f"arn:aws:batch:{REGION}:{ACCOUNT}", ("sweep", "collect")
    defs = {f"{arn}:job-definition/backtest-{k}{r}" for k in kinds for r in ("", ":*")}
    assert batch["batch:SubmitJob"] == {f"{arn}:job-queue/backtest-queue", f"{arn}:job/*", *defs}
    assert batch["batch:DescribeJobs"] == {"*"}  # no resource-level permissions
    findings = parliament.analyze_policy_string(json.dumps(job_doc["PolicyDocument"])).findings
    assert [(f.issue, f.detail) for f in findings] == []
    trust = c.iam.get_role(RoleName="backtest-batch-execution")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}

    envs = {
        e["computeEnvironmentName"]: e
        for e in c.batch.describe_compute_environments()["computeEnvironments"]
    }
    assert envs["backtest-fargate-spot"]["computeResources"]["type"] == "FARGATE_SPOT"
    assert envs["backtest-fargate"]["computeResources"]["type"] == "FARGATE"
    assert envs["backtest-fargate"]["computeResources"]["maxvCpus"] == 16
    assert envs["backtest-fargate"]["computeResources"]["subnets"]
    queue = c.batch.describe_job_queues(jobQueues=["backtest-queue"])["jobQueues"][0]
    order = sorted(queue["computeEnvironmentOrder"], key=lambda o: o["order"])
    assert [o["computeEnvironment"].rsplit("/", 1)[-1] for o in order] == [
        "backtest-fargate-spot",
        "backtest-fargate",
    ]

    sizes = {"run": ("1", "2048"), "sweep": ("1", "2048"), "collect": ("1", "4096")}
    for kind, (vcpu, memory) in sizes.items():
        jd = c.batch.describe_job_definitions(jobDefinitionName=f"backtest-{kind}", status="ACTIVE")
        (only,) = jd["jobDefinitions"]
        props = only["containerProperties"]
        req = {r["type"]: r["value"] for r in props["resourceRequirements"]}
        assert req == {"VCPU": vcpu, "MEMORY": memory}
        assert only["platformCapabilities"] == ["FARGATE"]
        assert only["timeout"]["attemptDurationSeconds"] == 3600
        assert only["retryStrategy"]["attempts"] == 3
        assert props["networkConfiguration"]["assignPublicIp"] == "ENABLED"  # default VPC: no NAT
        assert props["logConfiguration"]["options"]["awslogs-group"] == "/aws/batch/backtest"
        assert props["image"] == f"{repo['repositoryUri']}:latest"  # no image pushed yet
        assert props["jobRoleArn"].endswith(":role/backtest-batch-job")
        assert props["executionRoleArn"].endswith(":role/backtest-batch-execution")
        assert props["command"][:2] == ["python", "-m"]

    settings, where = settings_with_sources(config_path=_config(tmp_path))
    assert settings.backend == "aws"
    assert (settings.input_bucket, settings.result_bucket) == (INPUT, RESULTS)
    assert settings.job_queue == "backtest-queue"
    assert settings.job_definition == "backtest-run"
    assert settings.sweep_job_definition == "backtest-sweep"
    assert settings.collect_job_definition == "backtest-collect"
    assert where["job_queue"] == str(_config(tmp_path))
    assert settings.log_group == "/aws/batch/backtest"  # where the jobs CLI reads job logs


def test_second_up_changes_nothing(aws, capsys):
    assert aws.run("up") == 0
    assert aws.mutating(), "the first up created nothing"
    capsys.readouterr()
    assert aws.run("up") == 0
    assert aws.mutating() == []
    assert "nothing to change" in capsys.readouterr().out
    for kind in ("run", "sweep", "collect"):
        jd = aws.clients.batch.describe_job_definitions(jobDefinitionName=f"backtest-{kind}")
        assert [d["revision"] for d in jd["jobDefinitions"]] == [1]


def test_changed_size_registers_exactly_one_new_revision(aws):
    assert aws.run("up") == 0
    assert aws.run("up", "--size", "sweep=2:4096") == 0
    assert aws.mutating() == ["RegisterJobDefinition"]
    jd = aws.clients.batch.describe_job_definitions(
        jobDefinitionName="backtest-sweep", status="ACTIVE"
    )
    latest = max(jd["jobDefinitions"], key=lambda d: d["revision"])
    assert latest["revision"] == 2
    req = {r["type"]: r["value"] for r in latest["containerProperties"]["resourceRequirements"]}
    assert req == {"VCPU": "2", "MEMORY": "4096"}


def test_up_repairs_drift(aws, capsys):
    assert aws.run("up") == 0
    aws.clients.s3.delete_public_access_block(Bucket=INPUT)
    aws.clients.logs.put_retention_policy(logGroupName="/aws/batch/backtest", retentionInDays=7)
    capsys.readouterr()
    assert aws.run("plan") == 0
    out = capsys.readouterr().out
    assert "update  bucket" in out and "public access block" in out
    assert "retention 7 -> 30 days" in out
    assert aws.mutating() == []
    assert aws.run("up") == 0
    assert sorted(aws.mutating()) == ["PutPublicAccessBlock", "PutRetentionPolicy"]


def test_up_keeps_other_keys_in_the_config_file(aws, tmp_path):
    _config(tmp_path).write_text('concurrency = 3\nuser = "ann"\nbackend = "local"\n')
    assert aws.run("up") == 0
    settings = load_settings(config_path=_config(tmp_path))
    assert (settings.concurrency, settings.user, settings.backend) == (3, "ann", "aws")


def test_down_removes_in_order_and_keeps_buckets(aws, capsys):
    assert aws.run("up") == 0
    assert aws.run("down") == 0
    calls = aws.mutating()
    order = [
        "UpdateJobQueue",
        "DeleteJobQueue",
        "UpdateComputeEnvironment",
        "DeleteComputeEnvironment",
        "DeleteSecurityGroup",
        "DeregisterJobDefinition",
        "DeleteRole",
        "DeleteLogGroup",
        "DeleteRepository",
    ]
    firsts = [calls.index(name) for name in order]
    lasts = [len(calls) - 1 - calls[::-1].index(name) for name in order]
    for before, after in zip(range(len(order)), range(1, len(order)), strict=False):
        assert lasts[before] < firsts[after], (order[before], order[after], calls)
    assert calls.count("DeleteComputeEnvironment") == 2
    assert calls.count("DeregisterJobDefinition") == 3
    assert "DeleteBucket" not in calls
    names = {b["Name"] for b in aws.clients.s3.list_buckets()["Buckets"]}
    assert {INPUT, RESULTS} <= names
    capsys.readouterr()
    assert aws.run("status") == 0
    out = capsys.readouterr().out
    assert "job queue" in out and out.count("absent") == 11  # all but the two buckets
    groups = aws.clients.ec2.describe_security_groups()["SecurityGroups"]
    assert "backtest-batch" not in {g["GroupName"] for g in groups}
    # the AWS Batch service-linked role is shared by the account and stays
    assert aws.clients.iam.list_roles(PathPrefix="/aws-service-role/batch.amazonaws.com/")["Roles"]


def test_down_with_delete_data_empties_and_deletes_buckets(aws):
    assert aws.run("up", "--versioning") == 0
    aws.clients.s3.put_object(Bucket=RESULTS, Key="runs/a/_SUCCESS", Body=b"")
    aws.clients.s3.put_object(Bucket=RESULTS, Key="runs/a/_SUCCESS", Body=b"again")
    aws.clients.s3.put_object(Bucket=INPUT, Key="prices.csv", Body=b"x")
    assert aws.run("down", "--delete-data") == 0
    names = {b["Name"] for b in aws.clients.s3.list_buckets()["Buckets"]}
    assert not {INPUT, RESULTS} & names
    assert aws.run("down") == 0
    assert aws.mutating() == []


def test_status_shows_each_resource_and_state(aws, capsys):
    assert aws.run("up") == 0
    capsys.readouterr()
    assert aws.run("status") == 0
    out = capsys.readouterr().out
    assert "ENABLED/VALID" in out
    assert "backtest-fargate-spot > backtest-fargate" in out
    assert "revision 1 ACTIVE" in out
    assert "public access blocked" in out
    assert "absent" not in out
    assert aws.mutating() == []


def test_invalid_fargate_pair_is_a_clean_error(aws, capsys):
    assert aws.run("plan", "--size", "run=1:1024") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "not a valid Fargate pair" in err and "2048..8192" in err
    with pytest.raises(Exception, match="not offered by Fargate"):
        JobSize(3, 6144).check("sweep")
    assert JobSize(0.25, 512).check("run").vcpu_text == "0.25"
    assert aws.mutating() == []


def test_bad_prefix_is_a_clean_error(aws, capsys):
    assert aws.run("plan", "--prefix", "Bad_Prefix") == 2
    assert "--prefix" in capsys.readouterr().err


def test_public_ip_disabled_behind_a_nat_gateway(aws):
    ec2 = aws.clients.ec2
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.associate_route_table(RouteTableId=table, SubnetId=private)
    sg = ec2.create_security_group(GroupName="b", Description="b", VpcId=vpc)["GroupId"]
    cfg = StackConfig(account=ACCOUNT, subnets=(private,), security_groups=(sg,))
    assert discover(ec2, cfg).assign_public_ip == "DISABLED"
    both = StackConfig(account=ACCOUNT, subnets=(private, public), security_groups=(sg,))
    assert discover(ec2, both).assign_public_ip == "ENABLED"


def test_policy_names_only_created_arns_and_lints_clean(aws, capsys):
    assert aws.run("policy") == 2  # nothing created yet: a clean error, not a policy
    assert "run python -m infra up" in capsys.readouterr().err
    assert aws.run("up") == 0
    capsys.readouterr()
    assert aws.run("policy") == 0
    policy = json.loads(capsys.readouterr().out)
    c = aws.clients
    queue_arn = c.batch.describe_job_queues(jobQueues=["backtest-queue"])["jobQueues"][0][
        "jobQueueArn"
    ]
    def_arns = [
        d["jobDefinitionArn"].rsplit(":", 1)[0]
        for d in c.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    ]
    group_arn = c.logs.describe_log_groups()["logGroups"][0]["arn"].removesuffix(":*")
    created = [queue_arn, *def_arns, f"arn:aws:s3:::{INPUT}", f"arn:aws:s3:::{RESULTS}", group_arn]
    job_arns = f"arn:aws:batch:{REGION}:{ACCOUNT}:job/*"
    by_action: dict[str, set[str]] = {}
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        res = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        for action in st["Action"]:
            by_action.setdefault(action, set()).update(res)
        for r in res:
            if r == "*":
                assert set(st["Action"]) <= {"batch:DescribeJobs", "batch:ListJobs"}
            elif r != job_arns:
                assert any(
                    r == a or r.startswith(a + ":") or r.startswith(a + "/") for a in created
                ), r
    assert {queue_arn, *def_arns} <= by_action["batch:SubmitJob"]
    assert by_action["s3:ListBucket"] == {f"arn:aws:s3:::{INPUT}", f"arn:aws:s3:::{RESULTS}"}
    assert by_action["s3:DeleteObject"] == {f"arn:aws:s3:::{INPUT}/*"}
    assert by_action["batch:CancelJob"] == by_action["batch:TerminateJob"] == {job_arns}
    assert by_action["logs:GetLogEvents"] == {f"{group_arn}:log-stream:*"}

    findings = parliament.analyze_policy_string(json.dumps(policy)).findings
    assert [(f.issue, f.detail) for f in findings] == []


def test_changed_image_count_updates_only_the_ecr_lifecycle_policy(aws):
    assert aws.run("up") == 0
    assert aws.run("up", "--keep-images", "5") == 0
    assert aws.mutating() == ["PutLifecyclePolicy"]
    text = aws.clients.ecr.get_lifecycle_policy(repositoryName="backtest-engine")
    assert json.loads(text["lifecyclePolicyText"])["rules"][0]["selection"]["countNumber"] == 5
