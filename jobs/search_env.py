"""The environment a TPE search's step job is submitted with: the submitter's settings as
``BACKTEST_*`` variables and any endpoint override, never credentials."""

from __future__ import annotations

import os
from collections.abc import Mapping

from jobs.base import Executor
from jobs.settings import env_var

# the settings a step job needs to submit the next round where this one was submitted
STEP_SETTINGS = (
    "backend",
    "region",
    "storage",
    "input_bucket",
    "result_bucket",
    "job_queue",
    "job_definition",
    "sweep_job_definition",
    "collect_job_definition",
    "job_timeout",
    "attempts",
    "log_group",
    "poll_ms",
)
ENDPOINTS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_BATCH")


def step_env(executor: Executor, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a step job needs to submit the next round like this one: the executor's
    settings (``BACKTEST_*``; the local jobs folder and storage root) and any endpoint override."""
    env_in = os.environ if environ is None else environ
    settings = getattr(executor, "settings", None)
    out: dict[str, str] = {}
    if settings is not None:
        for name in STEP_SETTINGS:
            out[env_var(name)] = str(getattr(settings, name))
        user = str(getattr(executor, "user", "") or settings.user)
        if user:
            out[env_var("user")] = user
        if executor.backend == "local":
            from jobs.local import jobs_dir_for

            out[env_var("jobs_dir")] = str(jobs_dir_for(settings))
            if settings.storage_root:
                out[env_var("storage_root")] = str(settings.storage_root)
    out.update({k: env_in[k] for k in ENDPOINTS if env_in.get(k)})
    return out


__all__ = ["ENDPOINTS", "STEP_SETTINGS", "step_env"]
