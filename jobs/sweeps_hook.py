"""Where `python -m jobs sweep` hands over to the sweeps work (jobs/sweeps.py, not yet landed).

The sweeps module is expected to define ``submit_sweep(executor, request) -> JobRecord``
taking a :class:`SweepRequest`: it writes the SweepSpec, submits the array of
``python -m engine.backtest --sweep s3://.../spec.json`` children and a collect job with
``depends_on=(parent id,)`` through ``executor.submit_command`` and returns the parent record.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from engine.errors import BacktestError
from engine.spec import SimOptions
from jobs.base import Executor
from jobs.model import JobRecord

SWEEPS_MODULE = "jobs.sweeps"


@dataclass(frozen=True)
class SweepRequest:
    """What the CLI parsed for a sweep: data, strategy, the grid (name -> values), options."""

    source_bucket: str
    source_key: str
    result_bucket: str
    strategy: str
    grid: dict[str, list[Any]]
    options: SimOptions = field(default_factory=SimOptions)
    sweep_id: str | None = None
    user: str | None = None


def submit_sweep(
    executor: Executor, request: SweepRequest, module: str = SWEEPS_MODULE
) -> JobRecord:
    """Delegate to <module>.submit_sweep; a clean one-line error until that module exists."""
    try:
        impl = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise BacktestError(
            "python -m jobs sweep is not implemented yet (the sweeps work adds jobs/sweeps.py); "
            "submit single runs with python -m jobs submit"
        ) from None
    result: JobRecord = impl.submit_sweep(executor, request)
    return result
