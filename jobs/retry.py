"""The one retry strategy of every job this project submits to AWS Batch.

Used by the job definitions (``infra/jobdefs.py``) and by every SubmitJob (``jobs/batch.py``):
a retryStrategy given at SubmitJob *replaces* the job definition's, so both must carry it.

AWS Batch's rules (API reference, EvaluateOnExit): at most 5 entries; the first entry whose
conditions all match decides; when none matches, the job is retried. Patterns are at most 512
characters of letters, digits, periods, colons and white space (exit codes: digits only), with
an optional ``*`` at the end only. So the list names what to retry first and ends with an
explicit EXIT for any exit code:

- ``Your Spot Task was interrupted*`` (status reason): Fargate Spot reclaimed the task.
- ``CannotPullContainerError*``, ``ResourceInitializationError*``, ``CannotStartContainerError*``
  (container reason): the container never started (image pull, ENI / secrets / registry auth,
  runtime start-up). With no exit code, such a failure cannot reach the EXIT entry either.
- any exit code: EXIT. The engine exits 2 for bad input or parameters and 1 for infrastructure
  or internal errors; neither is retried by Batch (rerun with ``python -m jobs retry ID``).

``Host EC2*`` (an EC2 host terminated) never happens on Fargate, so it has no entry.
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import BacktestError

MAX_RULES = 5
MAX_PATTERN = 512
SPOT_INTERRUPTED = "Your Spot Task was interrupted*"
START_FAILURES = (
    "CannotPullContainerError*",
    "ResourceInitializationError*",
    "CannotStartContainerError*",
)
EVALUATE_ON_EXIT: tuple[dict[str, str], ...] = (
    {"onStatusReason": SPOT_INTERRUPTED, "action": "RETRY"},
    *({"onReason": pattern, "action": "RETRY"} for pattern in START_FAILURES),
    {"onExitCode": "*", "action": "EXIT"},
)
_TEXT = re.compile(r"^[A-Za-z0-9.:\s]*\*?$")
_DIGITS = re.compile(r"^[0-9]*\*?$")
_FIELDS = {"onStatusReason": _TEXT, "onReason": _TEXT, "onExitCode": _DIGITS}


def check_rules(rules: Any) -> list[dict[str, str]]:
    """The rules as AWS Batch accepts them (BacktestError naming the first broken one)."""
    items = list(rules)
    if len(items) > MAX_RULES:
        raise BacktestError(f"evaluateOnExit has {len(items)} entries; AWS Batch allows 5")
    for i, rule in enumerate(items):
        if str(rule.get("action", "")).upper() not in ("RETRY", "EXIT"):
            raise BacktestError(f"evaluateOnExit[{i}]: action must be RETRY or EXIT")
        conditions = {k: v for k, v in rule.items() if k != "action"}
        if not conditions or set(conditions) - set(_FIELDS):
            raise BacktestError(f"evaluateOnExit[{i}]: conditions must be {', '.join(_FIELDS)}")
        for key, pattern in conditions.items():
            if len(pattern) > MAX_PATTERN or not _FIELDS[key].match(pattern):
                raise BacktestError(f"evaluateOnExit[{i}].{key}: {pattern!r} is not valid")
    return [dict(rule) for rule in items]


def retry_strategy(attempts: int) -> dict[str, Any]:
    """The retryStrategy for a job definition or a SubmitJob with ``attempts`` (1..10)."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise BacktestError(f"attempts must be an integer in 1..10, got {attempts!r}")
    return {"attempts": attempts, "evaluateOnExit": check_rules(EVALUATE_ON_EXIT)}
