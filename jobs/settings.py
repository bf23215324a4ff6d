"""One settings object for the dashboard, the jobs CLI and the infra CLI.

Resolution order: field defaults, then the TOML file named by ``BACKTEST_CONFIG`` (default
``./backtest.toml``), then ``BACKTEST_*`` environment variables: a field's variable is its name
in capitals (:func:`env_var`: ``job_queue`` -> ``BACKTEST_JOB_QUEUE``) and its metadata carries
the help text, so the CLI, the environment and the UI read the same source.
:func:`load_settings` returns the settings; :func:`settings_with_sources` also where each value
came from.

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
ENV_PREFIX = "BACKTEST_"


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def env_var(name: str) -> str:
    """The environment variable of a setting: BACKTEST_ + the field name in capitals."""
    return ENV_PREFIX + name.upper()


@dataclass(frozen=True)
class Settings:
    backend: str = _f("local", "where jobs run: local (embedded) or aws (Batch)")
    region: str = _f("us-east-1", "AWS region of the stack")
    storage: str = _f(
        "auto",
        "where buckets live: local (folders under storage_root) or s3; "
        "auto = local for the local backend, s3 for aws",
    )
    storage_root: str = _f(
        "",
        "folder standing in for S3 (setting it means storage=local); "
        "default for local storage: the checkout's .data",
    )
    input_bucket: str = _f("backtest-input", "bucket with price files")
    result_bucket: str = _f("backtest-results", "bucket for results")
    job_queue: str = _f("", "AWS Batch job queue name or ARN")
    job_definition: str = _f("", "AWS Batch job definition for single runs")
    sweep_job_definition: str = _f("", "job definition for sweep children (default: runs')")
    collect_job_definition: str = _f("", "job definition for sweep collect (default: runs')")
    concurrency: int = _f(0, "local executor slots; 0 = number of cores")
    job_timeout: int = _f(3600, "per-attempt timeout in seconds")
    attempts: int = _f(1, "attempts per job (1 = no retry)")
    user: str = _f("", "who submits (recorded on runs); default: OS user")
    jobs_dir: str = _f(
        "",
        "local executor records and logs; default <storage_root>/_jobs, "
        "or ~/.cache/batch-backtest/_jobs when storage_root is empty",
    )
    poll_ms: int = _f(200, "how often executors and waits poll, in ms")
    kill_grace: int = _f(10, "seconds between SIGTERM and SIGKILL on terminate/timeout")
    worker_idle: int = _f(
        600,
        "a CLI-started local worker exits after this many idle seconds "
        "(and at once when its jobs folder is deleted)",
    )
    log_group: str = _f("/aws/batch/job", "CloudWatch log group of jobs")
    upload_max_mb: int = _f(50, "largest price file the dashboard uploads, MB")
    fargate_vcpu_hour: float = _f(0.04048, "Fargate list price per vCPU-hour, USD (estimates)")
    fargate_gb_hour: float = _f(0.004445, "Fargate list price per GB-hour, USD (estimates)")


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
) -> Settings:
    """The resolved settings (see the module docstring); their sources: settings_with_sources."""
    return settings_with_sources(env, config_path)[0]


def settings_with_sources(
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
        var = env_var(f.name)
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
    return [(f.name, env_var(f.name), f.metadata["help"]) for f in fields(Settings)]
