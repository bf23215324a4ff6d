"""Validate a strategy file without importing it: :func:`validate_source`.

The file is imported and exercised by ``python -m engine.userstrat.probe`` in a subprocess
with a time limit (killed after ``timeout_s``) and an address-space limit (RLIMIT_AS,
``memory_mb``), from an empty working folder, with one thread per numeric library. The
calling process (the dashboard, the jobs CLI) only reads back the schema as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from engine.errors import StrategyError
from engine.sim import contract as ct
from engine.sim.strategies import Param
from engine.userstrat.loader import as_bytes, as_text, sha256_hex
from engine.userstrat.sandbox import probe_env

MAX_SOURCE_BYTES = 1_000_000


@dataclass(frozen=True)
class StrategyInfo:
    """A strategy file's schema and identity, read without running its code (the sidecar)."""

    name: str
    description: str
    params: tuple[Param, ...]
    constraints: tuple[str, ...]
    sha256: str
    source: str
    added_by: str | None = None
    added_at: str | None = None

    def to_json(self, *, with_source: bool = False) -> dict[str, Any]:
        """The sidecar's JSON (the source only when asked)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "params": [ct.param_json(p) for p in self.params],
            "constraints": list(self.constraints),
            "sha256": self.sha256,
            "added_by": self.added_by,
            "added_at": self.added_at,
        }
        if with_source:
            out["source"] = self.source
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> StrategyInfo:
        return cls(
            name=str(data["name"]),
            description=str(data["description"]),
            params=tuple(ct.param_from_json(p) for p in data.get("params") or ()),
            constraints=tuple(str(c) for c in data.get("constraints") or ()),
            sha256=str(data["sha256"]),
            source=source,
            added_by=data.get("added_by"),
            added_at=data.get("added_at"),
        )


def validate_source(
    source: str | bytes, filename: str, *, timeout_s: float = 20, memory_mb: int = 1024
) -> StrategyInfo:
    """Check a strategy file in a subprocess; its :class:`StrategyInfo`, else StrategyError.

    Never imports ``source`` in this process. The refusal is one line naming ``filename``, the
    rule broken and the fix.
    """
    data = as_bytes(source)
    if len(data) > MAX_SOURCE_BYTES:
        raise ct.fail(
            filename, f"{len(data):,} bytes is too large", f"keep it under {MAX_SOURCE_BYTES:,}"
        )
    text = as_text(data, filename)
    if not text.strip():
        raise ct.fail(filename, "the file is empty", "write NAME, DESCRIPTION, PARAMS and signal")
    request = json.dumps({"source": text, "filename": filename, "memory_mb": int(memory_mb)})
    with tempfile.TemporaryDirectory(prefix="strategy-probe-") as work:
        result_path = os.path.join(work, "result.json")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "engine.userstrat.probe", result_path],
                input=request,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=work,
                env=probe_env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ct.fail(
                filename,
                f"validation took longer than {timeout_s:g} s (import, then signal on "
                "1,000 synthetic bars a few times)",
                "make the import and signal faster, or remove an endless loop",
            ) from None
        result = _read_result(result_path)
    if result is None:
        raise _crash(filename, proc, memory_mb)
    if not result.get("ok"):
        raise StrategyError(str(result.get("error") or f"{filename}: refused"))
    schema = result["schema"]
    return StrategyInfo(
        name=schema["name"],
        description=schema["description"],
        params=tuple(ct.param_from_json(p) for p in schema["params"]),
        constraints=tuple(schema["constraints"]),
        sha256=sha256_hex(data),
        source=text,
    )


def _read_result(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _crash(filename: str, proc: subprocess.CompletedProcess[str], memory_mb: int) -> StrategyError:
    """The probe ended without a result: killed (memory), or exited from user code."""
    tail = " ".join((proc.stderr or "").strip().splitlines()[-1:])[:200]
    if proc.returncode < 0 or "MemoryError" in tail:
        return ct.fail(
            filename,
            f"the validation process was stopped (exit {proc.returncode}) after using more "
            f"than the {memory_mb} MB limit or crashing{': ' + tail if tail else ''}",
            "use less memory",
        )
    return ct.fail(
        filename,
        f"the validation process ended early (exit {proc.returncode})"
        + (f": {tail}" if tail else ""),
        "do not call exit() or os._exit() in a strategy",
    )
