"""The dashboard's load balancer against moto: settings, a second plan with no mutating call,
teardown leaving nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from infra import dashboard_lb
from infra.actions import apply
from tests._infra_helpers import READ_PREFIXES, session

OIDC = {
    "Type": "authenticate-oidc",
    "AuthenticateOidcConfig": {
        "Issuer": "https://idp.example.com",
        "AuthorizationEndpoint": "https://idp.example.com/authorize",
        "TokenEndpoint": "https://idp.example.com/token",
        "UserInfoEndpoint": "https://idp.example.com/userinfo",
        "ClientId": "dash",
        "ClientSecret": "s3cret",
    },
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dashboard_lb.LbSpec, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto = session()
        ec2, acm, elbv2 = (boto.client(s) for s in ("ec2", "acm", "elbv2"))
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnets = tuple(sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])[:2])
        group = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
        cert = acm.request_certificate(DomainName="backtest.example.com")["CertificateArn"]
        calls: list[str] = []
        elbv2.meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(str(model.name))
        )
        spec = dashboard_lb.LbSpec("bt-dash", vpc, subnets, group, cert, OIDC)
        yield elbv2, spec, calls


def test_up_creates_every_setting_then_changes_nothing_and_down_removes_it(
    aws: tuple[Any, dashboard_lb.LbSpec, list[str]],
) -> None:
    elbv2, spec, calls = aws
    assert apply(dashboard_lb.plan(elbv2, spec), lambda _: None) == 4
    lb = dashboard_lb.find_load_balancer(elbv2, "bt-dash")
    tg = dashboard_lb.find_target_group(elbv2, "bt-dash")
    assert lb is not None and tg is not None
    assert lb["Scheme"] == "internet-facing" and lb["SecurityGroups"] == [spec.security_group]
    lb_attrs = elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "300"} in lb_attrs["Attributes"]
    assert (tg["HealthCheckPath"], tg["Port"], tg["TargetType"]) == ("/_stcore/health", 8501, "ip")
    tg_attrs = elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])
    attrs = {a["Key"]: a["Value"] for a in tg_attrs["Attributes"]}
    assert (attrs["stickiness.enabled"], attrs["stickiness.type"]) == ("true", "lb_cookie")
    listeners = {
        item["Port"]: item
        for item in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    }
    https, http = listeners[443], listeners[80]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"][0]["CertificateArn"] == spec.certificate_arn
    kinds = [(a["Order"], a["Type"]) for a in https["DefaultActions"]]
    assert kinds == [(1, "authenticate-oidc"), (2, "forward")]
    assert https["DefaultActions"][1]["TargetGroupArn"] == tg["TargetGroupArn"]
    assert http["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert http["DefaultActions"][0]["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"][0]["IsDefault"]

    calls.clear()
    again = dashboard_lb.plan(elbv2, spec)
    assert [a.verb for a in again] == ["noop"] * 4
    assert apply(again, lambda _: None) == 0
    assert [c for c in calls if not c.startswith(READ_PREFIXES)] == []

    assert apply(dashboard_lb.teardown(elbv2, "bt-dash"), lambda _: None) == 2
    assert dashboard_lb.find_load_balancer(elbv2, "bt-dash") is None
    assert dashboard_lb.find_target_group(elbv2, "bt-dash") is None
    assert dashboard_lb.teardown(elbv2, "bt-dash") == []


def test_a_drifted_setting_is_one_update(aws: tuple[Any, dashboard_lb.LbSpec, list[str]]) -> None:
    elbv2, spec, _ = aws
    apply(dashboard_lb.plan(elbv2, spec), lambda _: None)
    lb = dashboard_lb.find_load_balancer(elbv2, "bt-dash")
    assert lb is not None
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "60"}],
    )
    other = dashboard_lb.LbSpec(
        **{
            **spec.__dict__,
            "auth": {
                **OIDC,
                "AuthenticateOidcConfig": {**OIDC["AuthenticateOidcConfig"], "ClientId": "new"},
            },
        }
    )
    planned = dashboard_lb.plan(elbv2, other)
    changed = [(a.verb, a.kind, a.name) for a in planned if a.changes]
    assert changed == [
        ("update", "load balancer", "bt-dash"),
        ("update", "listener", "bt-dash:443"),
    ]
    apply(planned, lambda _: None)
    assert not [a for a in dashboard_lb.plan(elbv2, other) if a.changes]
