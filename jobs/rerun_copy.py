"""`python -m jobs submit ... --strategy-source URI --strategy-sha256 HEX`: a rerun from an old
run's recorded copy (``s3://RESULT/runs/<id>/strategy.py`` and the sha256 in its spec.json).

The copy is checked at submit as New run checks it: it must exist and have that sha256 (else one
line, before anything is submitted), and the parameters are checked against the copy's own
schema, read in the validation subprocess (this process never imports it), not against
``strategies/<NAME>.py`` as it is now, which may have changed or been removed. The engine then
loads the copy (sha256 checked again) and the new run stores it as its own strategy.py.
Every other spec goes through :func:`jobs.strategy_cli.checked_specs` as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import StrategyError
from engine.sim.strategies import STRATEGIES
from engine.spec import RunSpec
from engine.store.objects import Store


def checked_copy_spec(store: Store, spec: RunSpec) -> RunSpec:
    """``spec`` (pinned to a copy by the command line), checked against that copy."""
    from engine.userstrat import sidecar_key, validate_source
    from engine.userstrat.pin import read_copy
    from jobs.strategy_cli import check_params

    if spec.strategy_source is None or spec.strategy_sha256 is None:
        raise StrategyError("give --strategy-source with --strategy-sha256")
    fix = (
        f"leave out --strategy-source and --strategy-sha256 to run strategies/{spec.strategy}.py "
        "as it is now"
    )
    if not store.exists(spec.source_bucket, sidecar_key(spec.strategy)):
        fix = (
            f"strategies/{spec.strategy}.py is not stored either: add it again with python -m "
            "jobs strategy add FILE"
        )
    data = read_copy(store, spec.strategy_source, spec.strategy_sha256, fix=fix)
    info = validate_source(data, f"{spec.strategy}.py")  # its schema, in a subprocess
    if info.name != spec.strategy:
        raise StrategyError(
            f"{spec.strategy_source} declares NAME = {info.name!r}, not {spec.strategy!r}; "
            f"use --strategy {info.name}"
        )
    check_params(spec.strategy, spec.params, tuple(info.params))
    return spec


def checked_submit_specs(store: Store, specs: Sequence[RunSpec]) -> list[RunSpec]:
    """The runs of `jobs submit`, all checked before any is submitted: a strategy file pinned by
    the command line against its copy, everything else by :func:`checked_specs`."""
    from jobs.strategy_cli import checked_specs

    out = []
    for spec in specs:
        pinned = spec.strategy not in STRATEGIES and spec.strategy_source is not None
        out.append(checked_copy_spec(store, spec) if pinned else checked_specs(store, [spec])[0])
    return out
