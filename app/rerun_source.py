"""Which strategy source a rerun runs: an old run's (or sweep's) recorded copy, or the stored file.

A "Rerun with changes" link of a run of a stored strategy file carries ``from_run=<run id>``
(``from_sweep=<sweep id>`` for a sweep). New run then offers the copy that run kept
(``runs/<id>/strategy.py``, read and checked against the sha256 in its spec.json by
:func:`engine.userstrat.pin.recorded_copy`) and, when the file is still stored, the current
``strategies/<NAME>.py``; it says whether the stored file changed since. The form is built from
the schema of the source chosen (the copy's PARAMS are read in the validation subprocess: no
user code runs here), and the run or sweep submitted names that copy as ``strategy_source``
with its sha256. The engine loads those bytes (sha256 checked) and the new run records them as
its own ``runs/<new id>/strategy.py``. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.cli_hints import python_command
from app.context import AppContext
from app.strategy_service import SHA_SHORT, StrategyRow, form_strategy, stored_row, validate
from engine.errors import ParamError, ProjectError
from engine.sim.strategies import STRATEGIES

FROM_RUN = "from_run"
FROM_SWEEP = "from_sweep"


@dataclass(frozen=True)
class PinnedSource:
    """The exact copy a submit pins its runs (or sweep) to: ``uri`` and ``sha256`` become the
    RunSpec's ``strategy_source`` and ``strategy_sha256``; ``row`` is the schema the form was
    built from (read from those bytes)."""

    uri: str
    sha256: str
    row: StrategyRow
    origin: str  # "run <id>" | "sweep <id>"


@dataclass(frozen=True)
class RerunSource:
    """What New run knows about the source of a rerun of ``origin``'s strategy ``name``."""

    name: str
    origin: str
    copy: PinnedSource | None  # None when the recorded copy cannot be used (see ``problem``)
    problem: str | None
    current_sha256: str | None  # the stored file now; None when it is no longer stored

    def copy_label(self) -> str:
        """The choice that runs the recorded copy."""
        sha = self.copy.sha256[:SHA_SHORT] if self.copy else "?"
        return f"Recorded copy of {self.origin} (sha256 {sha})"

    def current_label(self) -> str:
        """The choice that runs the stored file as it is now."""
        sha = (self.current_sha256 or "")[:SHA_SHORT]
        return f"Current file strategies/{self.name}.py (sha256 {sha})"

    def status(self) -> str:
        """One line: has the stored file changed since the recorded copy?"""
        where = f"strategies/{self.name}.py"
        if self.current_sha256 is None and self.copy is None:
            return (
                f"{where} is no longer stored either: add it again ({python_command()} -m jobs "
                "strategy add FILE, or the Strategies page), or rerun a run that kept its copy."
            )
        if self.current_sha256 is None:
            return f"{where} is no longer stored; only the recorded copy can run."
        if self.copy is None:
            return f"The stored file {where} is at sha256 {self.current_sha256[:SHA_SHORT]}."
        if self.current_sha256 == self.copy.sha256:
            return f"The stored file {where} is unchanged since {self.origin} (same sha256)."
        return (
            f"The stored file {where} has changed since {self.origin}: now sha256 "
            f"{self.current_sha256[:SHA_SHORT]}, recorded {self.copy.sha256[:SHA_SHORT]}."
        )


def origin_of(query: Mapping[str, Any]) -> tuple[str, str] | None:
    """``("run", id)`` or ``("sweep", id)`` from a link's ``from_run`` / ``from_sweep``."""
    for key, kind in ((FROM_RUN, "run"), (FROM_SWEEP, "sweep")):
        value = query.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return kind, str(value)
    return None


def link_params(spec: Mapping[str, Any]) -> dict[str, str]:
    """The link keys naming where a run's or sweep's spec (and its recorded copy) is: ``from_run``
    for a run spec with a run id, ``from_sweep`` for a SweepSpec; {} for a built-in."""
    base = spec.get("base") if isinstance(spec.get("base"), Mapping) else spec
    if not isinstance(base, Mapping) or str(base.get("strategy") or "") in STRATEGIES:
        return {}
    if spec.get("sweep_id") and base is not spec:
        return {FROM_SWEEP: str(spec["sweep_id"])}
    return {FROM_RUN: str(spec["run_id"])} if spec.get("run_id") else {}


def copy_row(source: str, origin: str) -> tuple[StrategyRow | None, str | None]:
    """(the schema row of a recorded copy, None) read in the validation subprocess, or (None,
    one line) when the copy is refused now. The row's ``added_by`` names ``origin``."""
    try:
        info = validate(source, "strategy.py")
    except ProjectError as exc:
        return None, f"the recorded copy of {origin} cannot be read: {exc}"
    return replace(stored_row(info), added_by=origin), None


SchemaReader = Callable[[str, str], tuple[StrategyRow | None, str | None]]


def rerun_source(
    ctx: AppContext,
    origin: tuple[str, str],
    name: str,
    current: StrategyRow | None,
    schema: SchemaReader = copy_row,
) -> RerunSource | None:
    """The recorded copy of ``origin`` (a ``("run"|"sweep", id)``) of the strategy ``name`` and
    the stored file now (``current``, its sidecar row; None when removed). None when the origin
    ran a built-in.

    ``schema`` reads a copy's schema (:func:`copy_row`; the page passes a cached one)."""
    from engine.userstrat.pin import recorded_copy

    kind, ident = origin
    bucket = ctx.settings.result_bucket
    now = current.sha256 if current is not None else None
    label = f"{kind} {ident}"
    try:
        found = recorded_copy(
            ctx.store,
            bucket,
            run_id=ident if kind == "run" else None,
            sweep_id=ident if kind == "sweep" else None,
        )
    except ProjectError as exc:
        return RerunSource(name, label, None, str(exc), now)
    if found is None:
        return None
    try:
        source = found.source.decode("utf-8")
    except UnicodeDecodeError:
        not_text = f"the recorded copy of {label} ({found.uri}) is not UTF-8 text"
        return RerunSource(found.name, found.origin, None, not_text, now)
    row, problem = schema(source, found.origin)
    if row is not None and row.name != found.name:
        problem = f"the recorded copy of {label} declares NAME = {row.name!r}, not {found.name!r}"
        row = None
    pinned = None if row is None else PinnedSource(found.uri, found.sha256, row, found.origin)
    return RerunSource(found.name, found.origin, pinned, problem, now)


def check_pin(ctx: AppContext, pin: PinnedSource) -> None:
    """The copy still holds the bytes shown (sha256), else one line; called at submit."""
    from engine.userstrat.pin import read_copy

    read_copy(ctx.store, pin.uri, pin.sha256, fix="choose the current file, or reload the page")


def pinned_params(ctx: AppContext, pin: PinnedSource, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked against the copy's schema and rules (the probe runs the copy's code)."""
    from app.strategy_service import rule_problem

    check_pin(ctx, pin)
    validated = form_strategy(pin.row).validate(params)
    problem = rule_problem(pin.row, validated)
    if problem:
        raise ParamError(problem)
    return validated
