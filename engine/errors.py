"""Error types shared by the engine, the CLI and the services: one hierarchy.

:class:`ProjectError` is the base: it carries a ``kind`` (a short machine word written to
``error.json`` and job records), an ``exit_code`` for the command-line tools and one actionable
``message`` line (whitespace folded, whatever the caller passed). Under it:

* :class:`UserError` (also known as :class:`BacktestError`, the name most code catches): a
  mistake the user can fix (bad data, bad parameters, bad arguments, a missing run). Exit 2.
* :class:`InfraError`: the environment failed (S3 unreachable, access denied, a full disk).
  Exit 1.

Catch ``ProjectError`` to handle both alike (the dashboard's ``views._page_guard``, the CLIs'
``error: ...`` line); catch one subclass to tell them apart. Anything else is a bug.
"""

from __future__ import annotations

from typing import ClassVar


class ProjectError(Exception):
    """A failure we can explain in one line: ``kind``, ``exit_code`` and ``message``."""

    kind: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        # Keep it one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class UserError(ProjectError):
    """A user mistake: bad data, bad parameters, bad arguments. Exit code 2."""

    kind = "bad_input"
    exit_code = 2


BacktestError = UserError
"""The user-error class under its original name (most call sites catch this one)."""


class DataError(UserError):
    """The price file cannot be used (missing columns, NaN, high < low, ...)."""

    kind = "bad_data"


class ParamError(UserError):
    """Unknown strategy, unknown parameter, value out of bounds, violated constraint."""

    kind = "bad_parameters"


class NotFoundError(UserError):
    """A bucket, key, run or sweep that does not exist."""

    kind = "not_found"


class StrategyError(UserError):
    """A strategy file that cannot be used: one line naming the file, the rule and the fix."""

    kind = "bad_strategy"


class InfraError(ProjectError):
    """The environment failed: storage unreachable, access denied, disk full. Exit code 1."""

    kind = "infrastructure"
    exit_code = 1
