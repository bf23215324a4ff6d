"""Evaluate a stored strategy's CONSTRAINTS in a subprocess (the dashboard never imports it).

:func:`evaluate` (dashboard side) sends the file's source and parameter dicts to
``python -m app.constraint_probe`` on stdin, with a time limit and an address-space limit, and
reads back, for each dict, the names of the constraints it breaks. The child imports the file
from a private temporary folder, reads CONSTRAINTS through the contract reader and calls each
function; an exception in the user's code comes back as one line with its type, message and
the line of the user's file, never a traceback.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from engine.errors import StrategyError
from engine.userstrat import sandbox

TIMEOUT_S = 20.0
MEMORY_MB = 1024
MAX_PARAMS = 200_000  # dicts per call (a sweep's candidates; the form counts at most 1e6)


PROBE = sandbox.Sandbox(
    module="app.constraint_probe",
    timeout_s=TIMEOUT_S,
    memory_mb=MEMORY_MB,
    what="checking CONSTRAINTS",
    slow_hint="make them simple comparisons of parameters",
)


def evaluate(source: str, name: str, params: list[dict[str, Any]]) -> list[list[str]]:
    """For each dict in ``params``, the constraint names it breaks; StrategyError (one line)
    when the file's constraints cannot be evaluated."""
    if len(params) > MAX_PARAMS:
        raise StrategyError(
            f"{name}.py: {len(params):,} combinations to check; at most {MAX_PARAMS:,}: "
            "narrow the sweep"
        )
    answer = sandbox.ask(PROBE, name, {"source": source, "name": name, "params": params})
    if "error" in answer:
        raise StrategyError(str(answer["error"]))
    return [[str(n) for n in row] for row in answer["broken"]]


def _user_error(exc: BaseException, path: str, filename: str, during: str) -> str:
    """``<file> line N: <Type>: <message> (in <during>)``, the format of
    :func:`engine.userstrat.loader.user_error` (not imported: the probe stays light)."""
    if isinstance(exc, SyntaxError) and exc.filename == path:
        detail = exc.msg or "invalid syntax"
        return f"{filename} line {exc.lineno}: syntax error: {detail}; fix the code and try again"
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    where = f" line {lines[-1]}" if lines else ""
    message = " ".join(str(exc).split())[:300]
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{filename}{where}: {text} (in {during}); fix the code and try again"


def _rules(module: Any, filename: str) -> list[tuple[str, Any]]:
    """CONSTRAINTS as (name, function) pairs (validation has checked the shape already)."""
    raw = getattr(module, "CONSTRAINTS", None) or []
    if not isinstance(raw, list | tuple) or not all(
        isinstance(r, list | tuple) and len(r) == 2 and callable(r[1]) for r in raw
    ):
        raise StrategyError(f"{filename}: CONSTRAINTS must be a list of (name, function) pairs")
    return [(" ".join(str(r[0]).split()), r[1]) for r in raw]


def _check(source: str, name: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    filename = f"{name}.py"
    with tempfile.TemporaryDirectory(prefix="strategy-probe-") as folder:
        path = str(Path(folder) / filename)
        Path(path).write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"_probe_{name}", path)
        if spec is None or spec.loader is None:
            return {"error": f"{filename}: cannot be imported"}
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: one line, never our traceback
            return {"error": _user_error(exc, path, filename, "import")}
        rules = _rules(module, filename)
        broken = []
        for p in params:
            row = []
            for label, check in rules:
                try:
                    ok = bool(check(dict(p)))
                except Exception as exc:  # the user's code
                    return {"error": _user_error(exc, path, filename, f"constraint {label!r}")}
                if not ok:
                    row.append(label)
            broken.append(row)
    return {"broken": broken}


def main() -> int:
    """Child side: JSON in on stdin, one JSON line out on stdout."""
    data = json.loads(sys.stdin.read())
    try:
        answer = _check(str(data["source"]), str(data["name"]), list(data["params"]))
    except StrategyError as exc:
        answer = {"error": str(exc)}
    sys.stdout.write("\n" + json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
