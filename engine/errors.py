"""Error types shared by the engine, the CLI and the services.

Every error a *user* can cause is a :class:`BacktestError` whose message is one actionable line;
the CLI prints it and exits 2. :class:`InfraError` is for the environment (S3 unreachable,
permissions, a full disk); the CLI prints it and exits 1. Anything else is a bug.
"""

from __future__ import annotations


class BacktestError(Exception):
    """A user mistake: bad data, bad parameters, bad arguments. Exit code 2."""

    kind = "bad_input"
    exit_code = 2

    def __init__(self, message: str) -> None:
        # Keep it one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class DataError(BacktestError):
    """The price file cannot be used (missing columns, NaN, high < low, ...)."""

    kind = "bad_data"


class ParamError(BacktestError):
    """Unknown strategy, unknown parameter, value out of bounds, violated constraint."""

    kind = "bad_parameters"


class NotFoundError(BacktestError):
    """A bucket, key, run or sweep that does not exist."""

    kind = "not_found"


class InfraError(Exception):
    """The environment failed: storage unreachable, access denied, disk full. Exit code 1."""

    kind = "infrastructure"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)
