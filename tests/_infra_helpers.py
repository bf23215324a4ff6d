"""Shared by the infra tests: clients on in-process moto that record every call they make."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from infra.cli import main
from infra.clients import Clients, make_clients
from tests.realaws import batch_uses_its_service_linked_role

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
READ_PREFIXES = ("Describe", "List", "Get", "Head", "BatchGet")


class Recorder:
    """Clients plus the name and parameters of every API call they make (botocore hooks)."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self.calls: list[str] = []
        self.params: list[tuple[str, dict[str, Any]]] = []
        for client in clients.all():
            client.meta.events.register("before-call.*.*", self._record)
            client.meta.events.register("provide-client-params.*.*", self._params)

    def _record(self, model: object, **_: object) -> None:
        self.calls.append(str(getattr(model, "name", "")))

    def _params(self, params: dict[str, Any], model: object, **_: object) -> None:
        self.params.append((str(getattr(model, "name", "")), copy.deepcopy(params)))

    def mutating(self) -> list[str]:
        return [c for c in self.calls if not c.startswith(READ_PREFIXES)]

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """Parameters of each call to ``operation``, as our code passed them."""
        return [p for name, p in self.params if name == operation]

    def run(self, *argv: str) -> int:
        self.calls.clear()
        self.params.clear()
        return main(list(argv), clients=self.clients)


@cache
def _shared_loader() -> Any:
    from botocore.loaders import create_loader

    return create_loader()  # caches the service models it loads (ec2's alone takes ~1 s)


def session(region: str = REGION) -> Any:
    """A boto3 Session whose service models are loaded once per test process."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=core, region_name=region)


def clients(region: str = REGION) -> Clients:
    """Clients for in-process moto (no endpoint override)."""
    return make_clients(region, {}, session(region))


def moto_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials for moto, no endpoint override, a config file of this test's own."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("BACKTEST_CONFIG", str(tmp_path / "backtest.toml"))
    batch_uses_its_service_linked_role(monkeypatch)


def recorder_on_moto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    """A Recorder over in-process moto (Batch without docker); use as a fixture's body."""
    moto_env(monkeypatch, tmp_path)
    with mock_aws(config={"batch": {"use_docker": False}}):
        yield Recorder(clients(REGION))


def frozen_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of the dashboard image's build context, used as the checkout CodeBuild builds
    from: files edited in the working tree while a test runs do not change its source (nor
    the ``src-<sha>`` tag a second ``up --remote`` looks for)."""
    import shutil

    from infra import build_context

    root = tmp_path / "checkout"
    ignore = "infra/dashboard.Dockerfile.dockerignore"
    rules = build_context.ignore_rules(build_context.REPO_ROOT / ignore)
    for rel in [*build_context.files(build_context.REPO_ROOT, rules), ignore]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build_context.REPO_ROOT / rel, root / rel)
    monkeypatch.setattr(build_context, "REPO_ROOT", root)
    return root
