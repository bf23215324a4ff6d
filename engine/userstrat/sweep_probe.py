"""Count a sweep of a strategy file without importing it here: :func:`count_file_sweep`.

A sweep's size depends on the file's CONSTRAINTS (user code), and the submitting process (the
dashboard, the jobs CLI) must not run user code. ``python -m engine.userstrat.sweep_probe
RESULT_PATH`` (a subprocess, with a time and an address-space limit and no credentials, like
the validation probe) loads the source, validates the SweepSpec against it and counts the
valid combinations, returning ``{"ok": true, "n_combinations": N, "warmup": W}`` or ``{"ok":
false, "error": "<one line>"}``. Meant for ``jobs.sweeps.prepare`` of a stored strategy (then
:func:`engine.userstrat.pin.pin_sweep_strategy` before spec.json is written).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from engine.errors import ParamError, StrategyError


def count_file_sweep(
    spec: Any, source: str, *, timeout_s: float = 120, memory_mb: int = 2048
) -> tuple[int, int]:
    """(valid combinations, largest warm-up) of SweepSpec ``spec`` running ``source``."""
    from engine.userstrat.validate import _probe_env, _read_result

    request = json.dumps({"spec": spec.to_dict(), "source": source, "memory_mb": memory_mb})
    with tempfile.TemporaryDirectory(prefix="sweep-probe-") as work:
        result_path = os.path.join(work, "result.json")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "engine.userstrat.sweep_probe", result_path],
                input=request,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=work,
                env=_probe_env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ParamError(
                f"counting the sweep took longer than {timeout_s:g} s (the strategy's "
                "constraints on every candidate); narrow the ranges"
            ) from None
        result = _read_result(result_path)
    if result is None:
        tail = " ".join((proc.stderr or "").strip().splitlines()[-1:])[:200]
        raise StrategyError(f"counting the sweep failed (exit {proc.returncode}): {tail}")
    if not result.get("ok"):
        raise ParamError(str(result.get("error")))
    return int(result["n_combinations"]), int(result["warmup"])


def _count(request: dict[str, Any]) -> dict[str, Any]:
    from engine.sweep.spec import SweepSpec, combinations, expansion_stats
    from engine.userstrat.loader import load_source
    from engine.userstrat.resolve import register

    spec = SweepSpec.from_dict(request["spec"])
    name = spec.base.strategy
    strategy = register(load_source(request["source"], f"strategies/{name}.py"), name)
    spec = spec.validate()
    defaults = strategy.defaults()
    count = warmup = 0
    for params in combinations(spec):
        count += 1
        warmup = max(warmup, int(strategy.warmup_fn({**defaults, **params})))
    if count == 0:
        expansion_stats(spec)  # raises the "no valid combination: <rule>" line
        raise ParamError("the sweep has no valid combination")
    return {"ok": True, "n_combinations": count, "warmup": warmup}


def main(argv: list[str] | None = None) -> int:
    from engine.errors import ProjectError
    from engine.userstrat.probe import _limit_memory

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m engine.userstrat.sweep_probe RESULT_PATH < request.json")
        return 2
    request = json.loads(sys.stdin.read())
    _limit_memory(int(request.get("memory_mb") or 2048))
    try:
        result = _count(request)
    except ProjectError as exc:
        result = {"ok": False, "error": str(exc)}
    except MemoryError:
        result = {"ok": False, "error": "counting the sweep ran out of memory; narrow it"}
    with open(args[0], "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def schema_strategy(info: Any) -> Any:
    """A :class:`Strategy` made from a sidecar's :class:`StrategyInfo` for a process that must
    not import the file: its parameters validate (bounds, types) and ``SweepSpec.validate``
    works; its constraints are not evaluated here (count with :func:`count_file_sweep`; the
    engine checks them again) and its signal refuses to run."""
    from engine.sim.strategies import Strategy

    def no_signal(bars: Any, p: Any, cache: Any) -> Any:
        raise StrategyError(
            f"{info.name} is a strategy file: it runs in the engine, not in this process"
        )

    return Strategy(
        info.name,
        info.description,
        tuple(info.params),
        (),
        no_signal,
        lambda p: 0,
        source=info.source,
        sha256=info.sha256,
    )
