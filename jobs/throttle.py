"""Back off and retry read calls that AWS throttles (the Batch backend's polling path).

Real clients from :mod:`jobs.factory` already retry in botocore's adaptive mode; this layer
covers what still gets through (and clients configured without it), so a polling loop slows
down instead of hammering the API or failing on the first ``TooManyRequestsException``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# Error codes AWS answers when a caller is over its request rate.
THROTTLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
    }
)


def is_throttle(exc: BaseException) -> bool:
    """Whether an exception is a botocore ClientError whose code says "throttled"."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in THROTTLE_CODES


@dataclass(frozen=True)
class Backoff:
    """Exponential delays with jitter, capped; ``attempts`` calls at most (first one included)."""

    base: float = 0.5
    cap: float = 20.0
    attempts: int = 8

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds before retry number ``retry`` (0-based): base * 2**retry, capped, x[0.5, 1).

        Consecutive delays never decrease below the cap: the upper end of one retry's range is
        the lower end of the next one's.
        """
        return min(self.cap, self.base * 2**retry) * (0.5 + rng() / 2)


@dataclass(frozen=True)
class Pacing:
    """How the Batch executor waits: the backoff of throttled reads, and the sleep it calls for
    those delays and between polls (tests pass a recorder instead of ``time.sleep``)."""

    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] = time.sleep


def retry_throttled(call: Callable[[], T], backoff: Backoff, sleep: Callable[[float], None]) -> T:
    """``call()``; while it is throttled, sleep a growing delay and call again.

    Other errors, and the throttle of the last attempt, propagate unchanged.
    """
    from botocore.exceptions import ClientError

    for retry in range(max(backoff.attempts, 1) - 1):
        try:
            return call()
        except ClientError as exc:
            if not is_throttle(exc):
                raise
        sleep(backoff.delay(retry))
    return call()
