"""`python -m infra plan --dashboard ...` (the flags of `up --dashboard`): it lists the
dashboard's changes without one mutating call, and a following `up` with the same flags makes
exactly the changes it listed (same verb, kind and name, in the same order)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import settings as moto_settings

from tests._infra_helpers import REGION, Recorder, frozen_checkout, recorder_on_moto
from tests.realaws import CodeBuildAsAws, CodeBuildProjectsAsAws, ListenersAsAws

DOMAIN = "backtest.example.com"
CHANGES = ("create ", "update ", "delete ")


@pytest.fixture
def rec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    frozen_checkout(monkeypatch, tmp_path)
    yield from recorder_on_moto(monkeypatch, tmp_path)


def _section(out: str, after: str, until: str) -> list[str]:
    """The changing action lines (verb, kind, name: the text before the reason) printed
    between the line starting with ``after`` and the line starting with ``until``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith(until))
    picked = [line.split("  (", 1)[0] for line in lines[start + 1 : end]]
    return [line for line in picked if line.startswith(CHANGES)]


@pytest.mark.slow
def test_plan_lists_what_up_then_does_and_mutates_nothing(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ListenersAsAws(rec.clients.elbv2)
    CodeBuildProjectsAsAws(rec.clients.codebuild)
    CodeBuildAsAws(
        rec.clients.codebuild,
        boto3.client("logs", region_name=REGION),
        digest="",
        lines=["[Container] Entering phase BUILD"],
        ecr=boto3.client("ecr", region_name=REGION),
    )
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1)
    cert = rec.clients.acm.request_certificate(DomainName=DOMAIN, ValidationMethod="DNS")
    flags = ["--dashboard", "--domain", DOMAIN, "--certificate-arn", cert["CertificateArn"]]
    flags += ["--cognito", "--remote", "--allow-cidr", "198.51.100.0/24"]

    capsys.readouterr()
    assert rec.run("plan", *flags) == 0
    assert rec.mutating() == []  # read calls only (Describe/List/Get/Head/BatchGet)
    planned = _section(capsys.readouterr().out, "up would write", "dashboard: ")
    kinds = {line.split()[1] for line in planned}
    assert {"user", "load", "listener", "ECS", "security", "image", "codebuild"} <= kinds
    assert "create  listener        backtest-dash:443" in planned

    assert rec.run("up", *flags) == 0
    done = _section(capsys.readouterr().out, "point the dashboard at it", "dashboard: https://")
    assert done == planned  # what plan listed is what up did, in order

    assert rec.run("plan", *flags) == 0
    out = capsys.readouterr().out
    assert rec.mutating() == []
    assert _section(out, "up would write", "dashboard: ") == []
    assert "dashboard: 0 to create, 0 to update, 0 to delete" in out


def test_plan_refuses_dashboard_flags_like_up(capsys: pytest.CaptureFixture[str]) -> None:
    from infra.cli import main

    assert main(["plan", "--cognito"]) == 2
    assert "--cognito needs --dashboard" in capsys.readouterr().err
    assert main(["plan", "--dashboard", "--cognito"]) == 2
    assert "--dashboard needs --domain" in capsys.readouterr().err
