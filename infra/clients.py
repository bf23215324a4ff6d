"""The one place boto3 clients are created; every infra module receives them from here.

``AWS_ENDPOINT_URL`` (and a service-specific ``AWS_ENDPOINT_URL_<SERVICE>``) points every client
at another endpoint, e.g. a local moto server in the tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

SERVICES = ("s3", "ecr", "iam", "logs", "batch", "ec2", "sts", "codebuild")
# The hosted dashboard's services: field name -> boto3 service name (a field cannot hold "-").
DASHBOARD_SERVICES = {
    "elbv2": "elbv2",
    "ecs": "ecs",
    "idp": "cognito-idp",
    "acm": "acm",
    "secretsmanager": "secretsmanager",
}


@dataclass(frozen=True)
class Clients:
    """One boto3 client per service the stack touches, all in one region."""

    region: str
    s3: Any
    ecr: Any
    iam: Any
    logs: Any
    batch: Any
    ec2: Any
    sts: Any
    codebuild: Any
    elbv2: Any
    ecs: Any
    idp: Any  # cognito-idp
    acm: Any
    secretsmanager: Any

    def all(self) -> list[Any]:
        """Every client (for event hooks, e.g. recording the API calls a command makes)."""
        return [getattr(self, f.name) for f in fields(self) if f.name != "region"]


def endpoint_for(service: str, env: Mapping[str, str]) -> str | None:
    """The endpoint override for a service, or None for the real AWS endpoint."""
    specific = env.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}")
    return specific or env.get("AWS_ENDPOINT_URL") or None


def make_clients(
    region: str, env: Mapping[str, str] | None = None, session: Any | None = None
) -> Clients:
    """Create the clients once, at the CLI entry point (``session``: a boto3 Session to use)."""
    import boto3
    from botocore.config import Config

    env = os.environ if env is None else env
    session = session or boto3.session.Session(region_name=region)
    config = Config(retries={"max_attempts": 8, "mode": "standard"})
    names = {**{name: name for name in SERVICES}, **DASHBOARD_SERVICES}
    made = {
        field: session.client(name, endpoint_url=endpoint_for(name, env), config=config)
        for field, name in names.items()
    }
    return Clients(region=region, **made)
