"""Validate and count a sweep of a stored strategy file in an engine subprocess.

The submitting process (the jobs CLI, the dashboard) never imports a strategy file, yet a
sweep's combinations depend on its CONSTRAINTS, which are code. :func:`check` sends the sweep
spec and the file's exact source to ``python -m jobs.stored_sweep`` on stdin (time and
address-space limits, no credentials in its environment, an empty working folder); the child
loads the file as a sweep child does, then runs the very calls the children and the collect
run (``SweepSpec.validate``, ``expansion_stats``, ``count_and_warmup``; for a TPE search
:func:`jobs.search.search_space`, :func:`check_search`), so the count shown at submit is the
count that runs. It answers one JSON line: the validated spec, (candidates,
valid, dropped) and the largest warm-up, or the one-line error of the user's file or of the
spec.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from engine.errors import ParamError, ProjectError, StrategyError
from engine.sweep.spec import ExpansionStats, SweepSpec
from engine.userstrat import sandbox

TIMEOUT_S = 120.0  # counting a 1,000,000-candidate grid through Python constraints: seconds
MEMORY_MB = 2048


@dataclass(frozen=True)
class CheckedSweep:
    """A stored strategy's sweep as the engine sees it: the validated spec, its counts and the
    largest warm-up among its valid combinations."""

    spec: SweepSpec
    stats: ExpansionStats
    warmup: int


PROBE = sandbox.Sandbox(
    module="jobs.stored_sweep",
    timeout_s=TIMEOUT_S,
    memory_mb=MEMORY_MB,
    what="counting the sweep's combinations",
    slow_hint="narrow the sweep or simplify CONSTRAINTS",
)


@dataclass(frozen=True)
class CheckedSearch:
    """A stored strategy's TPE search as the engine sees it: the validated spec, its valid
    combinations (None: too many to count, :data:`jobs.search.COUNT_LIMIT`) and warm-up."""

    spec: SweepSpec
    valid: int | None
    warmup: int


def _ask(spec: SweepSpec, source: str, sha256: str, *, search: bool) -> dict[str, Any]:
    name = spec.base.strategy
    request: dict[str, Any] = {
        "spec": spec.to_dict(),
        "source": source,
        "sha256": sha256,
        "name": name,
    }
    if search:
        request["search"] = True
    answer = sandbox.ask(PROBE, name, request)
    if "error" in answer:
        kind = StrategyError if answer.get("kind") == "strategy" else ParamError
        raise kind(str(answer["error"]))
    return answer


def check_search(spec: SweepSpec, source: str, sha256: str) -> CheckedSearch:
    """A TPE search's :func:`jobs.search.search_space` with ``source`` loaded in the same
    subprocess as :func:`check` (the submitting process never imports the file)."""
    answer = _ask(spec, source, sha256, search=True)
    valid = answer["valid"]
    return CheckedSearch(
        SweepSpec.from_dict(answer["spec"]),
        None if valid is None else int(valid),
        int(answer["warmup"]),
    )


def check(spec: SweepSpec, source: str, sha256: str) -> CheckedSweep:
    """Validate and count ``spec`` with the strategy file ``source`` loaded in a subprocess;
    ParamError or StrategyError (one line) when the spec or the file is refused."""
    answer = _ask(spec, source, sha256, search=False)
    candidates, valid, dropped = (int(n) for n in answer["stats"])
    return CheckedSweep(
        SweepSpec.from_dict(answer["spec"]),
        ExpansionStats(candidates, valid, dropped),
        int(answer["warmup"]),
    )


def _answer(data: dict[str, Any]) -> dict[str, Any]:
    """Child side: load the file (its sha256 checked), then validate and count."""
    from engine.sim.strategies import register_file_strategy
    from engine.sweep.spec import expansion_stats
    from engine.userstrat.loader import load_source, materialise, sha256_hex, user_error
    from jobs.sweeps import count_and_warmup

    name, source = str(data["name"]), str(data["source"])
    if sha256_hex(source.encode("utf-8")) != data["sha256"]:
        raise StrategyError(f"{name}.py: the source sent does not have its sha256")
    strategy = load_source(source, f"{name}.py", os.environ)
    if strategy.name != name:
        raise StrategyError(f"{name}.py defines NAME = {strategy.name!r}, not {name!r}")
    register_file_strategy(strategy)  # this process only: it exits after answering
    try:
        spec = SweepSpec.from_dict(data["spec"]).validate()
        if data.get("search"):  # a TPE search: valid combinations (None: uncounted), warm-up
            from jobs.search import search_space

            valid, warmup = search_space(spec)
            return {"spec": spec.to_dict(), "valid": valid, "warmup": warmup}
        stats = expansion_stats(spec)
        _, warmup = count_and_warmup(spec)
    except ProjectError:
        raise
    except Exception as exc:  # the user's constraint code: its type, message and line
        path = materialise(source.encode("utf-8"), str(data["sha256"]), os.environ)
        raise user_error(exc, path, f"{name}.py", "CONSTRAINTS") from None
    return {"spec": spec.to_dict(), "stats": list(stats), "warmup": warmup}


def main() -> int:
    """JSON in on stdin, one JSON line out on stdout (after anything the user's code printed)."""
    data = json.loads(sys.stdin.read())
    try:
        answer = _answer(data)
    except StrategyError as exc:
        answer = {"error": str(exc), "kind": "strategy"}
    except ProjectError as exc:
        answer = {"error": str(exc), "kind": "param"}
    sys.stdout.write("\n" + json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
