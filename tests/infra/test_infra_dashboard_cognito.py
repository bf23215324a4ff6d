"""The dashboard's Cognito login against moto: pool, client, domain, invites, teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from engine.errors import UserError
from infra import cognito
from infra.actions import apply
from tests._infra_helpers import READ_PREFIXES, session

SITE = "backtest.example.com"


@pytest.fixture
def idp(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = session().client("cognito-idp")
        calls: list[str] = []
        client.meta.events.register(
            "before-call.*.*", lambda model, **_: calls.append(str(model.name))
        )
        yield client, calls


def test_pool_client_domain_invites_and_teardown(idp: tuple[Any, list[str]]) -> None:
    client, calls = idp
    assert apply(cognito.plan(client, "bt-dash", SITE, "bt-dash-login"), lambda _: None) == 3
    pool = cognito.find_pool(client, "bt-dash")
    assert pool is not None
    described = client.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    assert described["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert described["Domain"] == "bt-dash-login"
    app = cognito.find_client(client, pool["Id"], "bt-dash")
    assert app is not None
    full = client.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=app["ClientId"])
    settings = full["UserPoolClient"]
    assert settings["CallbackURLs"] == [f"https://{SITE}/oauth2/idpresponse"]
    assert settings["AllowedOAuthFlows"] == ["code"] and settings["ClientSecret"]
    action = cognito.login(client, "bt-dash").action()
    assert action["Type"] == "authenticate-cognito"
    config = action["AuthenticateCognitoConfig"]
    assert (config["UserPoolArn"], config["UserPoolClientId"], config["UserPoolDomain"]) == (
        described["Arn"],
        app["ClientId"],
        "bt-dash-login",
    )

    calls.clear()
    assert apply(cognito.plan(client, "bt-dash", SITE, "bt-dash-login"), lambda _: None) == 0
    assert [c for c in calls if not c.startswith(READ_PREFIXES)] == []

    cognito.add_user(client, "bt-dash", "carol@example.com")
    users = client.list_users(UserPoolId=pool["Id"])["Users"]
    emails = [a["Value"] for u in users for a in u["Attributes"] if a["Name"] == "email"]
    assert emails == ["carol@example.com"]

    kept = cognito.teardown(client, "bt-dash", delete_data=False)
    assert [a.verb for a in kept] == ["noop"] and "--delete-data" in kept[0].reason
    assert apply(cognito.teardown(client, "bt-dash", delete_data=True), lambda _: None) == 1
    assert cognito.find_pool(client, "bt-dash") is None
    with pytest.raises(UserError, match="run `python -m infra up --dashboard --cognito` first"):
        cognito.add_user(client, "bt-dash", "dan@example.com")
