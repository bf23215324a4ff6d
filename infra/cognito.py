"""The dashboard's Cognito login (``--cognito``): user pool, app client, hosted domain; invites.

The pool admits only users an administrator creates (no self sign-up); the app client is the
load balancer's (a client secret, the authorization-code flow, ``openid email`` scopes, the
callback ``https://DOMAIN/oauth2/idpresponse`` the ALB serves). The pool holds the users, so
teardown removes it only when asked to delete data.
Reached by ``python -m infra up --dashboard --cognito`` and ``python -m infra users add EMAIL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import InfraError, UserError
from infra.actions import Action, noop


@dataclass(frozen=True)
class Login:
    """What the listener's authenticate-cognito action needs."""

    pool_arn: str
    client_id: str
    domain: str  # the hosted domain's prefix

    def action(self) -> dict[str, Any]:
        """The authenticate-cognito action (without Order)."""
        config = {
            "UserPoolArn": self.pool_arn,
            "UserPoolClientId": self.client_id,
            "UserPoolDomain": self.domain,
            "OnUnauthenticatedRequest": "authenticate",
            "Scope": "openid email",
        }
        return {"Type": "authenticate-cognito", "AuthenticateCognitoConfig": config}


def find_pool(idp: Any, name: str) -> dict[str, Any] | None:
    """The user pool named ``name`` (id, name), or None."""
    for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == name:
                return dict(pool)
    return None


def find_client(idp: Any, pool_id: str, name: str) -> dict[str, Any] | None:
    """The app client named ``name`` in the pool, or None."""
    found = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    return next((dict(c) for c in found if c["ClientName"] == name), None)


def _client_args(pool_id: str, name: str, site: str) -> dict[str, Any]:
    return {
        "UserPoolId": pool_id,
        "ClientName": name,
        "GenerateSecret": True,
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthScopes": ["openid", "email"],
        "AllowedOAuthFlowsUserPoolClient": True,
        "CallbackURLs": [f"https://{site}/oauth2/idpresponse"],
        "SupportedIdentityProviders": ["COGNITO"],
    }


def plan(idp: Any, name: str, site: str, domain_prefix: str) -> list[Action]:
    """Pool, app client and hosted domain, each created when absent."""

    def pool_id() -> str:
        found = find_pool(idp, name)
        if found is None:
            raise InfraError(f"user pool {name} not found")
        return str(found["Id"])

    def make_pool() -> None:
        idp.create_user_pool(
            PoolName=name,
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
        )

    def make_client() -> None:
        idp.create_user_pool_client(**_client_args(pool_id(), name, site))

    def make_domain() -> None:
        idp.create_user_pool_domain(Domain=domain_prefix, UserPoolId=pool_id())

    pool = find_pool(idp, name)
    if pool is None:
        return [
            Action("create", "user pool", name, "invited users only", make_pool),
            Action("create", "app client", name, f"callback https://{site}", make_client),
            Action("create", "hosted domain", domain_prefix, "Cognito login page", make_domain),
        ]
    actions = [noop("user pool", name)]
    if find_client(idp, pool["Id"], name) is None:
        actions.append(Action("create", "app client", name, f"callback {site}", make_client))
    else:
        actions.append(noop("app client", name))
    described = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    if described.get("Domain") == domain_prefix:
        actions.append(noop("hosted domain", domain_prefix))
    else:
        actions.append(Action("create", "hosted domain", domain_prefix, "login page", make_domain))
    return actions


def login(idp: Any, name: str) -> Login:
    """The pool ARN, client id and domain for the listener (after ``plan`` is applied)."""
    pool = find_pool(idp, name)
    if pool is None:
        raise InfraError(f"user pool {name} not found")
    described = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
    client = find_client(idp, pool["Id"], name)
    if client is None:
        raise InfraError(f"app client {name} not found")
    return Login(str(described["Arn"]), str(client["ClientId"]), str(described.get("Domain")))


def add_user(idp: Any, name: str, email: str) -> None:
    """Invite ``email``: Cognito mails a temporary password (AdminCreateUser)."""
    pool = find_pool(idp, name)
    if pool is None:
        raise UserError(
            f"user pool {name} not found: run `python -m infra up --dashboard --cognito` first"
        )
    idp.admin_create_user(
        UserPoolId=pool["Id"],
        Username=email,
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ],
        DesiredDeliveryMediums=["EMAIL"],
    )


def teardown(idp: Any, name: str, delete_data: bool) -> list[Action]:
    """Delete domain and pool (its users with it) only with ``delete_data``."""
    pool = find_pool(idp, name)
    if pool is None:
        return []
    if not delete_data:
        return [noop("user pool", name, "kept: its users are data (--delete-data removes it)")]
    described = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]

    def run(pool_id: str = pool["Id"], domain: str | None = described.get("Domain")) -> None:
        if domain:
            idp.delete_user_pool_domain(Domain=domain, UserPoolId=pool_id)
        idp.delete_user_pool(UserPoolId=pool_id)

    return [Action("delete", "user pool", name, "its users and hosted domain too", run)]
