"""A second `up` is a no-op against Describe answers shaped as real AWS shapes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.compare import differing_keys, differs
from tests._infra_helpers import Recorder, recorder_on_moto
from tests.realaws import RealDescribeShapes


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    yield from recorder_on_moto(monkeypatch, tmp_path)


def test_second_up_makes_no_mutating_call_against_real_shapes(aws, capsys):
    RealDescribeShapes(aws.clients.batch, aws.clients.logs, account_retention=365)
    assert aws.run("up") == 0
    assert "RegisterJobDefinition" in aws.calls
    jd = aws.clients.batch.describe_job_definitions(jobDefinitionName="backtest-run")
    props = jd["jobDefinitions"][0]["containerProperties"]
    assert props["logConfiguration"]["secretOptions"] == [] and props["mountPoints"] == []
    group = aws.clients.logs.describe_log_groups(logGroupNamePrefix="/aws/batch/backtest")
    assert group["logGroups"][0]["inheritedProperties"] == ["ACCOUNT_DATA_PROTECTION"]
    capsys.readouterr()
    assert aws.run("up") == 0
    assert aws.mutating() == []
    assert "nothing to change" in capsys.readouterr().out
    for kind in ("run", "sweep", "collect"):
        revisions = aws.clients.batch.describe_job_definitions(jobDefinitionName=f"backtest-{kind}")
        assert [d["revision"] for d in revisions["jobDefinitions"]] == [1]


def test_a_real_change_still_shows_against_real_shapes(aws, capsys):
    RealDescribeShapes(aws.clients.batch, aws.clients.logs)
    assert aws.run("up") == 0
    assert aws.run("up", "--size", "run=2:4096", "--log-retention-days", "7") == 0
    assert sorted(aws.mutating()) == ["PutRetentionPolicy", "RegisterJobDefinition"]


def test_an_account_level_retention_on_a_group_without_its_own_is_replaced_once(aws):
    RealDescribeShapes(aws.clients.batch, aws.clients.logs, account_retention=365)
    aws.clients.logs.create_log_group(logGroupName="/aws/batch/backtest")  # made by someone else
    assert aws.run("up") == 0
    assert "PutRetentionPolicy" in aws.mutating()
    assert aws.run("up") == 0
    assert aws.mutating() == []


def test_compare_only_what_was_sent():
    sent = {
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
        "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "retry": [{"onExitCode": "*", "action": "EXIT"}],
        "parameters": {},
    }
    described = {
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "g"},
            "secretOptions": [],
        },
        "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
        "retry": [{"onExitCode": "*", "action": "exit"}],
        "mountPoints": [],
    }
    assert differing_keys(sent, described) == []
    assert differs({"options": {"awslogs-group": "g"}}, {"options": {"awslogs-group": "h"}})
    assert differs([{"name": "A", "value": "1"}], [])
    assert differs({"image": "x@sha256:1"}, {"image": "x:latest"})
    assert differing_keys({"a": 1, "b": 2}, {"a": 1, "b": 3}) == ["b"]


def test_job_definition_differences_on_sent_keys_only():
    import copy

    from infra.config import StackConfig
    from infra.jobdef_sync import differences
    from infra.jobdefs import desired
    from infra.network import Network
    from tests.realaws import _real_job_definition

    cfg = StackConfig(account="123456789012")
    net = Network(("subnet-1",), ("sg-1",), "ENABLED", "given")
    want = desired(cfg, "run", "repo@sha256:1", net)
    have = copy.deepcopy({k: v for k, v in want.items() if k != "jobDefinitionName"})
    _real_job_definition(have)  # empty lists, runtimePlatform, reordered env, lowercase actions
    assert have["containerProperties"]["logConfiguration"]["secretOptions"] == []
    assert differences(want, have) == []
    have["containerProperties"]["image"] = "repo@sha256:2"
    have["timeout"] = {"attemptDurationSeconds": 60}
    assert differences(want, have) == ["timeout", "container.image"]
