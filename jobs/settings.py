"""One settings object for the dashboard, the jobs CLI and the infra CLI.

Resolution order: field defaults, then the TOML file named by ``BACKTEST_CONFIG`` (default
``./backtest.toml``), then ``BACKTEST_*`` environment variables. Each field's metadata names
its environment variable and carries help text, so the CLI, the environment and the UI read
the same source. :func:`load_settings` also reports where each value came from.

Storage (``storage`` / ``BACKTEST_STORAGE``): ``local`` keeps the buckets as folders under
``storage_root``, ``s3`` uses S3 (or ``AWS_ENDPOINT_URL_S3``). The default, ``auto``, is
``local`` for the local backend and ``s3`` for ``aws``, and a local ``storage_root`` that no
file or variable names is the checkout's ``.data`` folder (:data:`CHECKOUT_DATA`). So the
dashboard (``make run``) and the CLI (``python -m jobs ...``) share the same buckets and the
same job database (``<storage_root>/_jobs/jobs.db``) unless a config file or a variable
chooses otherwise.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.errors import BacktestError

DEFAULT_CONFIG = "backtest.toml"
CHECKOUT_DATA = Path(__file__).resolve().parents[1] / ".data"
STORAGE_KINDS = ("auto", "local", "s3")


def _f(default: Any, env: str, help: str) -> Any:
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    backend: str = _f(
        "local", "BACKTEST_BACKEND", "where jobs run: local (embedded) or aws (Batch)"
    )
    region: str = _f("us-east-1", "BACKTEST_REGION", "AWS region of the stack")
    storage: str = _f(
        "auto",
        "BACKTEST_STORAGE",
        "where buckets live: local (folders under storage_root) or s3; "
        "auto = local for the local backend, s3 for aws",
    )
    storage_root: str = _f(
        "",
        "BACKTEST_STORAGE_ROOT",
        "folder standing in for S3 (setting it means storage=local); "
        "default for local storage: the checkout's .data",
    )
    input_bucket: str = _f("backtest-input", "BACKTEST_INPUT_BUCKET", "bucket with price files")
    result_bucket: str = _f("backtest-results", "BACKTEST_RESULT_BUCKET", "bucket for results")
    job_queue: str = _f("", "BACKTEST_JOB_QUEUE", "AWS Batch job queue name or ARN")
    job_definition: str = _f(
        "", "BACKTEST_JOB_DEFINITION", "AWS Batch job definition for single runs"
    )
    sweep_job_definition: str = _f(
        "", "BACKTEST_SWEEP_JOB_DEFINITION", "job definition for sweep children (default: runs')"
    )
    collect_job_definition: str = _f(
        "", "BACKTEST_COLLECT_JOB_DEFINITION", "job definition for sweep collect (default: runs')"
    )
    concurrency: int = _f(0, "BACKTEST_CONCURRENCY", "local executor slots; 0 = number of cores")
    job_timeout: int = _f(3600, "BACKTEST_JOB_TIMEOUT", "per-attempt timeout in seconds")
    attempts: int = _f(1, "BACKTEST_ATTEMPTS", "attempts per job (1 = no retry)")
    user: str = _f("", "BACKTEST_USER", "who submits (recorded on runs); default: OS user")
    jobs_dir: str = _f(
        "",
        "BACKTEST_JOBS_DIR",
        "local executor records and logs; default <storage_root>/_jobs, "
        "or ~/.cache/batch-backtest/_jobs when storage_root is empty",
    )
    poll_ms: int = _f(200, "BACKTEST_POLL_MS", "how often executors and waits poll, in ms")
    kill_grace: int = _f(
        10, "BACKTEST_KILL_GRACE", "seconds between SIGTERM and SIGKILL on terminate/timeout"
    )
    worker_idle: int = _f(
        600,
        "BACKTEST_WORKER_IDLE",
        "a CLI-started local worker exits after this many idle seconds "
        "(and at once when its jobs folder is deleted)",
    )
    log_group: str = _f("/aws/batch/job", "BACKTEST_LOG_GROUP", "CloudWatch log group of jobs")
    upload_max_mb: int = _f(
        50, "BACKTEST_UPLOAD_MAX_MB", "largest price file the dashboard uploads, MB"
    )
    fargate_vcpu_hour: float = _f(
        0.04048, "BACKTEST_FARGATE_VCPU_HOUR", "Fargate list price per vCPU-hour, USD (estimates)"
    )
    fargate_gb_hour: float = _f(
        0.004445, "BACKTEST_FARGATE_GB_HOUR", "Fargate list price per GB-hour, USD (estimates)"
    )


ENV_PREFIX = "BACKTEST_"


def _coerce(name: str, raw: Any, kind: type) -> Any:
    try:
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind is float:
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise BacktestError(f"setting {name} must be {kind.__name__}, got {raw!r}") from None


def load_settings(
    env: Mapping[str, str] | None = None, config_path: str | Path | None = None
) -> tuple[Settings, dict[str, str]]:
    """Resolve settings; return them with a map field -> 'default' | file path | env var name."""
    env = os.environ if env is None else env
    path = Path(config_path or env.get("BACKTEST_CONFIG") or DEFAULT_CONFIG)
    values: dict[str, Any] = {}
    where: dict[str, str] = {f.name: "default" for f in fields(Settings)}
    types = {f.name: type(f.default) for f in fields(Settings)}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BacktestError(f"config file {path} is not valid TOML: {exc}") from None
        section = data.get("backtest", data)
        for key, raw in section.items():
            if key not in types:
                raise BacktestError(
                    f"config file {path}: unknown key {key!r}; known: {', '.join(sorted(types))}"
                )
            values[key] = _coerce(key, raw, types[key])
            where[key] = str(path)
    for f in fields(Settings):
        var = f.metadata["env"]
        if var in env and env[var] != "":
            values[f.name] = _coerce(var, env[var], types[f.name])
            where[f.name] = f"${var}"
    settings = replace(Settings(), **values)
    if settings.backend not in ("local", "aws"):
        raise BacktestError(f"backend must be 'local' or 'aws', got {settings.backend!r}")
    return resolve_storage(settings, where), where


def resolve_storage(settings: Settings, where: dict[str, str]) -> Settings:
    """Settle ``storage`` to local or s3 and give local storage its root (see module doc).

    ``where`` is updated for the values decided here.
    """
    kind, root = settings.storage.strip().lower(), settings.storage_root.strip()
    if kind not in STORAGE_KINDS:
        raise BacktestError(f"storage must be one of {', '.join(STORAGE_KINDS)}, got {kind!r}")
    if kind == "s3" and root:
        raise BacktestError(
            f"storage is s3 ({where['storage']}) but storage_root is set "
            f"({where['storage_root']}); drop one of them"
        )
    if kind == "auto":
        kind = "local" if root or settings.backend == "local" else "s3"
        where["storage"] = f"default (auto: {kind} for backend {settings.backend})"
    if kind == "s3":
        return replace(settings, storage="s3", storage_root="")
    if not root:
        root = str(CHECKOUT_DATA)
        where["storage_root"] = "default (the checkout's .data)"
    return replace(settings, storage="local", storage_root=str(Path(root).expanduser().absolute()))


def settings_help() -> list[tuple[str, str, str]]:
    """(field, env var, help) for every setting: the one source for CLI/UI help."""
    return [(f.name, f.metadata["env"], f.metadata["help"]) for f in fields(Settings)]
