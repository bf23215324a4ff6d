"""Where `python -m jobs sweep` hands over to the sweeps work (jobs/sweeps.py).

:func:`submit_sweep` takes the :class:`SweepRequest` the CLI parsed and calls
``jobs.sweeps.submit_request(executor, request, store)``, which writes the SweepSpec, submits
the array of ``python -m engine.backtest --sweep s3://.../spec.json`` children and a collect job
with ``depends_on=(array id,)`` and returns a ``jobs.sweeps.SweepSubmission`` (both records).
The import stays lazy so the CLI starts fast and a broken sweeps module is one clean error.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import BacktestError
from engine.spec import SimOptions
from jobs.base import Executor

if TYPE_CHECKING:
    from engine.store import Store
    from jobs.sweeps import SweepSubmission

SWEEPS_MODULE = "jobs.sweeps"


@dataclass(frozen=True)
class SweepRequest:
    """What the CLI parsed for a sweep: data, strategy, the space (name -> values or
    "start:stop:step" text), options, and optional plan overrides."""

    source_bucket: str
    source_key: str
    result_bucket: str
    strategy: str
    grid: dict[str, Any]
    options: SimOptions = field(default_factory=SimOptions)
    sweep_id: str | None = None
    user: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # fixed (not swept) parameters
    children: int | None = None  # force this many chunks instead of the timed plan
    target_child_seconds: float | None = None
    top_n: int | None = None
    extra_keys: tuple[str, ...] = ()  # more input files: the sweep runs on each (file-major)


def submit_sweep(
    executor: Executor,
    request: SweepRequest,
    module: str = SWEEPS_MODULE,
    store: Store | None = None,
) -> SweepSubmission:
    """Delegate to <module>.submit_request; a clean one-line error when that module is absent."""
    try:
        impl = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise BacktestError(
            "python -m jobs sweep is not implemented yet (the sweeps work adds jobs/sweeps.py); "
            "submit single runs with python -m jobs submit"
        ) from None
    result: SweepSubmission = impl.submit_request(executor, request, store)
    return result
