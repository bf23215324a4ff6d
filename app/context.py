"""The dashboard's service context: settings, the object store and the executor, built once.

No Streamlit here: pages get the context from ``app.loaders.get_context()`` (cached per
settings), services take it as an argument, and tests build one directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from engine.store import Store, open_store
from jobs.base import Executor
from jobs.factory import make_executor
from jobs.settings import Settings, load_settings


@dataclass
class AppContext:
    """Everything a service needs: resolved settings, the store and the job executor."""

    settings: Settings
    store: Store
    executor: Executor

    @property
    def backend_label(self) -> str:
        """A short badge: 'local' or 'AWS us-east-1 / queue-name'."""
        if self.settings.backend == "aws":
            return f"AWS Batch · {self.settings.region} · {self.settings.job_queue or '(no queue)'}"
        return "local executor · embedded storage"


def store_env(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment engine.store.open_store reads, with the settings' storage root applied."""
    out = dict(os.environ if env is None else env)
    if settings.storage_root:
        out["BACKTEST_STORAGE_ROOT"] = settings.storage_root
    else:
        out.pop("BACKTEST_STORAGE_ROOT", None)
    return out


def build_context(env: Mapping[str, str] | None = None) -> AppContext:
    """Resolve settings and build the store and executor (a worker thread for local)."""
    settings, _ = load_settings(env)
    store = open_store(store_env(settings, env))
    executor = make_executor(settings, worker="thread", env=env)
    return AppContext(settings=settings, store=store, executor=executor)
