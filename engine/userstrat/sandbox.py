"""The one way a process that must not run strategy code asks a child to run it.

``python -m <module>`` gets a JSON request on stdin and answers one JSON line (the last line of
its stdout, after anything the user's code printed). The child runs with a time limit (killed
after ``timeout_s``), an address-space limit (RLIMIT_AS), an empty temporary working folder and
an environment without credentials (:func:`probe_env`). A child that dies, or answers no JSON
object, becomes one StrategyError line naming the file and the last line of its stderr.

Used by the dashboard's constraint checks (app/constraint_probe.py) and by the count of a stored
strategy's sweep (jobs/stored_sweep.py); validation (validate.py) shares :func:`probe_env`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import StrategyError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "CREDENTIAL", "KEY")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def probe_env() -> dict[str, str]:
    """This process's environment without credentials (a probe needs no storage), one thread
    per numeric library, and the project importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "BACKTEST_")) and not any(w in k.upper() for w in SECRET_WORDS)
    }
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + path if path else "")
    for name in THREAD_VARS:
        env[name] = "1"
    return env


def memory_limiter(memory_mb: int) -> Callable[[], None] | None:
    """A preexec function capping the child's address space (None where there is no RLIMIT)."""
    if os.name != "posix":
        return None

    def limit() -> None:  # runs in the child before exec
        import resource

        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return limit


@dataclass(frozen=True)
class Sandbox:
    """One kind of child: its module, its limits, and what to say when it is too slow.

    ``what`` names the work ("checking CONSTRAINTS"); ``slow_hint`` is the fix a user can make
    when it times out."""

    module: str
    timeout_s: float
    memory_mb: int
    what: str
    slow_hint: str


def ask(box: Sandbox, name: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run ``box``'s child on ``request`` (``name``: the strategy, for messages); its answer.

    An answer carrying ``error`` is returned as is: the caller knows its kinds."""
    with tempfile.TemporaryDirectory(prefix="strategy-probe-") as work:
        try:
            done = subprocess.run(
                [sys.executable, "-m", box.module],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=box.timeout_s,
                preexec_fn=memory_limiter(box.memory_mb),
                cwd=work,
                env=probe_env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise StrategyError(
                f"{name}.py: {box.what} took over {box.timeout_s:g} s; {box.slow_hint}"
            ) from None
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise StrategyError(f"{name}.py: {box.what} failed ({why[:200]})")
    return answer
