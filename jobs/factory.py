"""The one place that builds an executor (and, for AWS, its boto3 clients) and the object store
the settings point at."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from engine.store.objects import Store, open_store
from jobs.base import Executor
from jobs.settings import Settings


def aws_clients(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """(batch, logs) boto3 clients: adaptive retries; AWS_ENDPOINT_URL[_BATCH|_LOGS] honoured."""
    import boto3
    from botocore.config import Config

    env = os.environ if env is None else env
    config = Config(region_name=settings.region, retries={"mode": "adaptive", "max_attempts": 10})
    session = boto3.session.Session()
    common = env.get("AWS_ENDPOINT_URL") or None
    batch = session.client(
        "batch", config=config, endpoint_url=env.get("AWS_ENDPOINT_URL_BATCH") or common
    )
    logs = session.client(
        "logs", config=config, endpoint_url=env.get("AWS_ENDPOINT_URL_LOGS") or common
    )
    return batch, logs


def make_executor(
    settings: Settings, *, worker: str = "thread", env: Mapping[str, str] | None = None
) -> Executor:
    """LocalExecutor (backend=local; `worker` as in jobs.local) or BatchExecutor (backend=aws)."""
    if settings.backend == "aws":
        from jobs.batch import BatchExecutor

        batch, logs = aws_clients(settings, env)
        return BatchExecutor(settings, batch, logs)
    from jobs.local import LocalExecutor

    return LocalExecutor(settings, worker=worker)


def store_env(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment engine.store.objects.open_store reads, with the settings' storage applied:
    their storage root (local storage) or none at all (s3), whatever the environment says."""
    out = dict(os.environ if env is None else env)
    if settings.storage_root:
        out["BACKTEST_STORAGE_ROOT"] = settings.storage_root
    else:
        out.pop("BACKTEST_STORAGE_ROOT", None)
    return out


def make_store(settings: Settings, env: Mapping[str, str] | None = None) -> Store:
    """The object store the settings point at: folders under storage_root, else S3."""
    return open_store(store_env(settings, env))
