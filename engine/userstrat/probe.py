"""The validation probe: ``python -m engine.userstrat.probe RESULT_PATH`` (a subprocess).

Reads ``{"source", "filename", "memory_mb"}`` as JSON on stdin, limits its address space to
``memory_mb`` (RLIMIT_AS) before importing anything heavy, imports the file
(:mod:`engine.userstrat.loader`), checks the schema (:mod:`engine.sim.contract`) and that
the defaults satisfy the constraints, then runs ``signal`` on a synthetic series
(:func:`engine.sim.synthetic.random_walk`, :data:`N_BARS` bars) and checks:

- the output: a float64 array, one finite target per bar;
- determinism: a second call returns the same bytes;
- no look-ahead: for several k the signal on the first k bars equals (by sign, the target) the
  first k values of the full signal.

It writes ``{"ok": true, "schema": {...}}`` or ``{"ok": false, "error": "<one line>"}`` to
RESULT_PATH (not stdout: the user's code may print). The parent (:func:`validate_source`)
enforces the time limit.
"""

from __future__ import annotations

import json
import sys
from typing import Any

N_BARS = 1000
LOOKAHEAD_CUTS = (120, 250, 500, 750, 999)
SEED = 20240611


def _limit_memory(memory_mb: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    limit = int(memory_mb) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _lookahead(fn: Any, bars: Any, p: dict[str, Any], full: Any, filename: str) -> None:
    import numpy as np

    from engine.sim.contract import fail
    from engine.userstrat.loader import check_target

    for k in LOOKAHEAD_CUTS:
        head = check_target(fn(bars.head(k), dict(p)), k, filename)
        differ = np.flatnonzero(np.sign(head) != np.sign(full[:k]))
        if differ.size:
            t = int(differ[0])
            raise fail(
                filename,
                f"look-ahead: the target at bar {t} changes when bars after it are added "
                f"(signal on the first {k} bars vs on all {len(full)})",
                "use only data up to and including each bar (e.g. shift(x, 1), not x[t + 1])",
            )


def probe(source: str, filename: str) -> dict[str, Any]:
    """Import, check and exercise the file; the schema JSON (raises StrategyError)."""
    from pathlib import Path

    from engine.errors import ParamError
    from engine.sim import contract as ct
    from engine.sim.strategies import Bars
    from engine.sim.synthetic import random_walk
    from engine.userstrat.loader import (
        as_bytes,
        check_target,
        import_module,
        strategy_from_module,
        user_error,
    )

    data = as_bytes(source)
    module = import_module(data, filename)
    path = Path(str(module.__file__))
    try:
        strategy = strategy_from_module(module, filename, data)
    except Exception as exc:
        raise user_error(exc, path, filename, "the schema") from None
    try:
        p = strategy.validate(None)
    except ParamError as exc:
        raise ct.fail(
            filename,
            f"the defaults break a constraint: {exc}",
            "change the defaults or the constraint",
        ) from None
    fn = module.signal
    bars = Bars.from_frame(random_walk(N_BARS, seed=SEED))
    try:
        full = check_target(fn(bars, dict(p)), N_BARS, filename)
        again = check_target(fn(bars, dict(p)), N_BARS, filename)
        if full.tobytes() != again.tobytes():
            raise ct.fail(
                filename,
                "signal is not deterministic: two calls on the same bars differ",
                "remove randomness (or seed it) and global state",
            )
        _lookahead(fn, bars, p, full, filename)
    except Exception as exc:
        raise user_error(exc, path, filename, "signal") from None
    schema = ct.schema_json(strategy.name, strategy.description, strategy.params, ())
    schema["constraints"] = [c.message for c in strategy.constraints]
    return schema


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m engine.userstrat.probe RESULT_PATH < request.json", file=sys.stderr)
        return 2
    request = json.loads(sys.stdin.read())
    filename = str(request.get("filename") or "strategy.py")
    _limit_memory(int(request.get("memory_mb") or 1024))
    result: dict[str, Any]
    try:
        result = {"ok": True, "schema": probe(str(request["source"]), filename)}
    except MemoryError:
        result = {
            "ok": False,
            "error": f"{filename}: used more than {request.get('memory_mb')} MB while being "
            "validated; use less memory (smaller arrays, no copies of the bars)",
        }
    except Exception as exc:  # StrategyError, or one the loader could not place
        from engine.errors import ProjectError

        text = str(exc) if isinstance(exc, ProjectError) else f"{type(exc).__name__}: {exc}"
        result = {"ok": False, "error": " ".join(text.split())}
    with open(args[0], "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
