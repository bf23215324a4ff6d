"""The dashboard's service context: settings, the object store and the executor, built once.

No Streamlit here: pages get the context from ``app.loaders.get_context()`` (cached per
settings), services take it as an argument, and tests build one directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.store.objects import Store
from jobs.base import Executor
from jobs.factory import make_executor, make_store
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


def build_context(env: Mapping[str, str] | None = None) -> AppContext:
    """Resolve settings and build the store and executor (a worker thread for local)."""
    settings = load_settings(env)
    store = make_store(settings, env)
    executor = make_executor(settings, worker="thread", env=env)
    return AppContext(settings=settings, store=store, executor=executor)
