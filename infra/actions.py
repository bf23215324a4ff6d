"""A plan is a list of actions; `up` computes the plan, prints it, then applies it in order."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.errors import InfraError

VERBS = ("create", "update", "delete", "noop")


@dataclass(frozen=True)
class Action:
    """One step: what would happen to which resource, why, and the call that does it."""

    verb: str
    kind: str
    name: str
    reason: str
    run: Callable[[], None] | None = None

    @property
    def changes(self) -> bool:
        """True unless the resource already matches (a no-op)."""
        return self.verb != "noop"

    def line(self) -> str:
        """One printable line: ``create  bucket  NAME  (reason)``."""
        return f"{self.verb:<7} {self.kind:<15} {self.name}  ({self.reason})"


def noop(kind: str, name: str, reason: str = "up to date") -> Action:
    """An action that changes nothing."""
    return Action("noop", kind, name, reason)


def apply(actions: Iterable[Action], echo: Callable[[str], None]) -> int:
    """Run every changing action in order, echoing each; return how many ran."""
    count = 0
    for action in actions:
        if action.changes and action.run is not None:
            echo(action.line())
            action.run()
            count += 1
    return count


@dataclass(frozen=True)
class Waiter:
    """Polls a condition (AWS Batch state changes are asynchronous); moto answers at once."""

    timeout: float = 600.0
    interval: float = 5.0

    def until(self, what: str, check: Callable[[], bool]) -> None:
        """Return once ``check()`` is true; InfraError naming ``what`` after the timeout."""
        deadline = time.monotonic() + self.timeout
        while not check():
            if time.monotonic() > deadline:
                raise InfraError(
                    f"timed out after {self.timeout:.0f}s waiting for {what}; "
                    "check the AWS Batch console and run the command again"
                )
            time.sleep(self.interval)
