"""Terminal commands the dashboard prints, built so that they work exactly as printed.

The jobs CLI resolves the same settings as the dashboard (jobs/settings.py: defaults, the
config file, BACKTEST_* variables), so a command typed in a terminal reaches the same storage
and job database when it sees the same inputs. A hint block therefore starts with ``cd`` into
the checkout (``python -m jobs`` imports from there), repeats as ``export`` lines the BACKTEST_*
variables the dashboard was started with (paths made absolute), and names the interpreter that
runs the dashboard (``.venv/bin/python`` in a checkout). No Streamlit here.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from app.seed import SAMPLES
from engine.store.objects import Store
from jobs.settings import DEFAULT_CONFIG, Settings, env_var

CHECKOUT = Path(__file__).resolve().parents[1]
PATH_VARS = ("BACKTEST_CONFIG", "BACKTEST_STORAGE_ROOT", "BACKTEST_JOBS_DIR")


def python_command(executable: str | None = None) -> str:
    """How to name this interpreter from the checkout: .venv/bin/python when it is that one."""
    exe = Path(executable or sys.executable)
    venv_python = CHECKOUT / ".venv" / "bin" / exe.name
    if exe.parent == venv_python.parent and exe.name.startswith("python"):
        return str(Path(".venv") / "bin" / exe.name)
    return shlex.quote(str(exe))


def setting_values(env: Mapping[str, str], cwd: Path) -> list[tuple[str, str]]:
    """(variable, value) for each settings variable set in ``env``, paths made absolute."""
    names = ["BACKTEST_CONFIG", *(env_var(f.name) for f in fields(Settings))]
    values: dict[str, str] = {}
    for name in names:
        value = env.get(name, "")
        if value:
            values[name] = value
    if "BACKTEST_CONFIG" not in values and (cwd / DEFAULT_CONFIG).is_file() and cwd != CHECKOUT:
        values["BACKTEST_CONFIG"] = DEFAULT_CONFIG  # the dashboard read ./backtest.toml there
    return [
        (name, str((cwd / Path(raw).expanduser()).absolute()) if name in PATH_VARS else raw)
        for name, raw in values.items()
    ]


def setting_exports(env: Mapping[str, str], cwd: Path) -> list[str]:
    """``export VAR=value`` for each settings variable set in ``env`` (paths absolute)."""
    return [f"export {name}={shlex.quote(value)}" for name, value in setting_values(env, cwd)]


def terminal_line(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    executable: str | None = None,
) -> str:
    """One shell line for ``python -m jobs ARGS`` with the dashboard's settings (for captions)."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    assigns = [f"{name}={shlex.quote(value)}" for name, value in setting_values(env, cwd)]
    words = [*assigns, python_command(executable), "-m", "jobs", *(shlex.quote(a) for a in args)]
    return f"cd {shlex.quote(str(CHECKOUT))} && {' '.join(words)}"


def terminal_block(
    commands: Sequence[Sequence[str] | str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    executable: str | None = None,
) -> str:
    """A shell block: cd to the checkout, the dashboard's settings, then each jobs command.

    A command is an argument list for ``python -m jobs`` (quoted here), or a ready line in
    which ``{jobs}`` stands for ``<python> -m jobs``.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    jobs = f"{python_command(executable)} -m jobs"
    lines = [f"cd {shlex.quote(str(CHECKOUT))}", *setting_exports(env, cwd)]
    for command in commands:
        if isinstance(command, str):
            lines.append(command.replace("{jobs}", jobs))
        else:
            lines.append(" ".join([jobs, *(shlex.quote(a) for a in command)]))
    return "\n".join(lines)


def tour_commands(settings: Settings, sample_key: str | None) -> list[Sequence[str] | str]:
    """The start page's terminal tour: list the jobs, submit a run of a sample and wait."""
    commands: list[Sequence[str] | str] = [["ls"]]
    if sample_key:
        submit = " ".join(
            shlex.quote(a)
            for a in ("submit", settings.input_bucket, sample_key, settings.result_bucket)
        )
        commands.append(f"ID=$({{jobs}} {submit} | tail -n 1)")
        commands.append('{jobs} wait "$ID" --timeout 600')
        commands.append('{jobs} show "$ID"')
    commands.append(["config"])
    return commands


def start_page_block(settings: Settings, store: Store) -> str:
    """The start page's block; the submit lines only where the first sample file exists."""
    sample: str | None = next(iter(SAMPLES))
    if settings.storage != "local" or not store.exists(settings.input_bucket, str(sample)):
        sample = None
    return terminal_block(tour_commands(settings, sample))
