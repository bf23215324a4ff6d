"""Rotating the OIDC client secret: put a new value in Secrets Manager, rerun `up --dashboard`
with the same flags, and the listener's authenticate-oidc action holds the new value; a rerun
without a rotation changes nothing. DescribeListeners answers as a real account does (never the
ClientSecret), so `up` cannot see the secret itself: the listener is tagged with the version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import settings as moto_settings

from infra import dashboard_lb
from tests._infra_helpers import REGION, Recorder, recorder_on_moto
from tests.infra.test_infra_dashboard_cli import _tls_server
from tests.realaws import ListenersAsAws

DOMAIN = "backtest.example.com"


@pytest.fixture
def rec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    yield from recorder_on_moto(monkeypatch, tmp_path)


def _held_secret() -> str:
    """The ClientSecret the load balancer holds (moto's own answer; a real account never
    shows it): read with a client without the real-AWS layer."""
    elbv2 = boto3.client("elbv2", region_name=REGION)
    lb = dashboard_lb.find_load_balancer(elbv2, "backtest-dash")
    assert lb is not None
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    https = next(item for item in listeners if item["Port"] == 443)
    return str(https["DefaultActions"][0]["AuthenticateOidcConfig"]["ClientSecret"])


@pytest.mark.slow
def test_a_rotated_secret_is_pushed_by_the_next_up_and_only_then(
    rec: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layer = ListenersAsAws(rec.clients.elbv2)
    server, pem = _tls_server(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    issuer = f"https://localhost:{server.server_address[1]}"
    sm = rec.clients.secretsmanager
    secret = sm.create_secret(Name="oidc", SecretString="first-secret")
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1)
    cert = rec.clients.acm.request_certificate(DomainName=DOMAIN, ValidationMethod="DNS")
    argv = ["up", "--dashboard", "--domain", DOMAIN, "--certificate-arn", cert["CertificateArn"]]
    argv += ["--oidc-issuer", issuer, "--oidc-client-id", "client-1"]
    argv += ["--oidc-client-secret-arn", secret["ARN"]]
    try:
        assert rec.run(*argv) == 0
        assert _held_secret() == "first-secret"
        assert rec.run(*argv) == 0
        assert rec.mutating() == []  # nothing rotated: nothing sent
        assert layer.stripped > 0  # up saw listeners without their secret, as on AWS

        rotated = sm.put_secret_value(SecretId=secret["ARN"], SecretString="second-secret")
        capsys.readouterr()
        assert rec.run("plan", *argv[1:]) == 0  # plan shows the push, and sends nothing
        assert rec.mutating() == [] and _held_secret() == "first-secret"
        planned = capsys.readouterr().out
        assert "update  listener        backtest-dash:443  (OIDC client secret" in planned
        assert "dashboard: 0 to create, 1 to update, 0 to delete" in planned
        assert rec.run(*argv) == 0
        out, err = capsys.readouterr()
        assert _held_secret() == "second-secret"
        assert rec.mutating() == ["ModifyListener", "AddTags"]
        (modify,) = rec.sent("ModifyListener")
        oidc = modify["DefaultActions"][0]["AuthenticateOidcConfig"]
        assert oidc["ClientSecret"] == "second-secret" and oidc["ClientId"] == "client-1"
        version = rotated["VersionId"]
        line = f"update  listener        backtest-dash:443  (OIDC client secret: version {version}"
        assert line in out
        assert "second-secret" not in out + err  # never printed

        assert rec.run(*argv) == 0
        assert rec.mutating() == []
        assert "dashboard: nothing to change" in capsys.readouterr().out
        assert _held_secret() == "second-secret"
    finally:
        server.shutdown()
