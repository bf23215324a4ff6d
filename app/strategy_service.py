"""Strategies page and New run services: the built-ins and the team's stored strategy files.

No Streamlit here, and no user code: the dashboard never imports a strategy file. Validation
runs it in a subprocess (:func:`engine.userstrat.validate_source`, time and memory limits);
lists, the New run form and parameter checks read the sidecar's schema (``strategies/<NAME>.json``
beside the file in the input bucket). Constraint functions are code, so they are evaluated in
the probe subprocess of :mod:`app.constraint_probe`, never here.

Hosted mode (login on, see :mod:`app.auth`): only a signed-in user may add or remove a strategy,
and the sidecar records that user, the time and the sha256 of the bytes stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.auth import AuthConfig
from app.context import AppContext
from engine.errors import NotFoundError, ParamError
from engine.sim.strategies import STRATEGIES, Constraint, Param, Strategy, list_strategies
from engine.sweep.spec import ExpansionStats, SweepSpec
from engine.sweep.wf_windows import WalkForwardSpec
from jobs.base import default_user

BUILTIN = "built-in"
STORED = "stored"
SHA_SHORT = 12
SIGN_IN_FIRST = "sign in to add or remove strategies (hosted mode records who changed what)"


@dataclass(frozen=True)
class StrategyRow:
    """One strategy as the dashboard shows it (a built-in or a stored file's sidecar)."""

    name: str
    kind: str  # built-in | stored
    description: str
    params: tuple[Param, ...]
    constraints: tuple[str, ...]
    sha256: str = ""
    source: str = ""
    added_by: str = ""
    added_at: str = ""

    @property
    def stored(self) -> bool:
        """True for a team's strategy file (it can be replaced and deleted)."""
        return self.kind == STORED

    def params_text(self) -> str:
        """``window=15 (int 2..500)``, comma separated; "none" without parameters."""
        return ", ".join(f"{p.name}={_default(p)} ({p.allowed()})" for p in self.params) or "none"


def _default(p: Param) -> str:
    from app.form_checks import format_number

    return format_number(p.default)


def builtin_source(name: str) -> str:
    """The text of a built-in's module (engine/sim/builtin/<name>.py), read, not imported;
    "" when it is not there."""
    import engine.sim

    path = Path(engine.sim.__file__).parent / "builtin" / f"{name}.py"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def builtin_row(strategy: Strategy) -> StrategyRow:
    """A registry strategy as a row: its module's source, no sha256 (it ships with the engine)."""
    return StrategyRow(
        strategy.name,
        BUILTIN,
        strategy.description,
        strategy.params,
        tuple(c.message for c in strategy.constraints),
        source=builtin_source(strategy.name),
    )


def stored_row(info: Any) -> StrategyRow:
    """A :class:`engine.userstrat.StrategyInfo` (read from its sidecar) as a row."""
    return StrategyRow(
        str(info.name),
        STORED,
        str(info.description),
        tuple(info.params),
        tuple(str(c) for c in info.constraints),
        str(info.sha256),
        str(info.source),
        str(info.added_by or ""),
        str(info.added_at or ""),
    )


def stored_strategies(ctx: AppContext) -> list[StrategyRow]:
    """The input bucket's strategy files (their sidecars), name order; [] without the bucket."""
    from engine.userstrat import list_strategies as stored

    bucket = ctx.settings.input_bucket
    if not ctx.store.bucket_exists(bucket):
        return []
    return sorted((stored_row(i) for i in stored(ctx.store, bucket)), key=lambda r: r.name)


def catalogue(ctx: AppContext) -> list[StrategyRow]:
    """Built-ins first (name order), then the stored strategies."""
    return [builtin_row(s) for s in list_strategies()] + stored_strategies(ctx)


def get_row(ctx: AppContext, name: str) -> StrategyRow:
    """The built-in ``name``, else the stored one; NotFoundError naming where it looked."""
    if name in STRATEGIES:
        return builtin_row(STRATEGIES[name])
    from engine.userstrat import get_strategy as get_stored

    return stored_row(get_stored(ctx.store, ctx.settings.input_bucket, name))


def strategy_names(ctx: AppContext) -> list[str]:
    """Every strategy a run can use: built-ins, then stored ones."""
    return [r.name for r in catalogue(ctx)]


# -- who may change them -----------------------------------------------------------------------


def change_user(config: AuthConfig, signed_in: str | None, settings_user: str) -> str:
    """Who a change is recorded as: the signed-in user when login is on (refused without one),
    else the ``user`` setting or the OS login name (local mode)."""
    if config.enabled:
        if not signed_in:
            raise ParamError(SIGN_IN_FIRST)
        return signed_in
    return signed_in or default_user(settings_user)


def may_change(config: AuthConfig, signed_in: str | None) -> str | None:
    """Why this visitor cannot add or remove strategies, or None when they can."""
    return SIGN_IN_FIRST if config.enabled and not signed_in else None


# -- validate, save, delete --------------------------------------------------------------------


def sha256_text(source: str) -> str:
    """The sha256 of the UTF-8 bytes that would be stored."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def validate(source: str, filename: str) -> Any:
    """The parsed schema (StrategyInfo) of ``source``, checked in a subprocess; StrategyError
    (one line naming the file, the rule and the fix) when refused."""
    from engine.userstrat import validate_source

    if not source.strip():
        raise ParamError(f"{filename}: the file is empty; upload or paste a strategy file")
    return validate_source(source, filename)


def existing(ctx: AppContext, name: str) -> StrategyRow | None:
    """The stored strategy ``name``, or None."""
    if name in STRATEGIES:
        return None
    try:
        return get_row(ctx, name)
    except NotFoundError:
        return None


def save(
    ctx: AppContext,
    source: str,
    *,
    user: str,
    replace_sha256: str | None = None,
    filename: str = "strategy.py",
) -> StrategyRow:
    """Validate and store ``source`` as ``strategies/<NAME>.py``, recording ``user``.

    A stored strategy of that NAME is replaced only with ``replace_sha256``, and only while it
    is still that file (the one the user was shown when they confirmed): a file changed by
    someone else in between is not silently overwritten.
    """
    from engine.userstrat import put_strategy

    if not source.strip():
        raise ParamError(f"{filename}: the file is empty; upload or paste a strategy file")
    if replace_sha256 is not None:
        info = validate(source, filename)
        now = existing(ctx, str(info.name))
        if now is not None and now.sha256 != replace_sha256:
            raise ParamError(
                f"strategies/{info.name}.py changed since you were asked (now sha256 "
                f"{now.sha256[:SHA_SHORT]} by {now.added_by or '-'}); review it and save again"
            )
    info = put_strategy(
        ctx.store,
        ctx.settings.input_bucket,
        source,
        user=user,
        overwrite=replace_sha256 is not None,
        filename=filename,
    )
    return stored_row(info)


def delete(ctx: AppContext, name: str, *, user: str) -> None:
    """Remove the stored strategy ``name`` (a built-in cannot be removed)."""
    from engine.userstrat import delete_strategy

    if name in STRATEGIES:
        raise ParamError(f"{name} is a built-in strategy; only stored strategies can be removed")
    delete_strategy(ctx.store, ctx.settings.input_bucket, name, user=user)


# -- the New run form's view of a strategy -----------------------------------------------------


def _no_signal(*_: Any) -> Any:
    raise ParamError("a stored strategy's signal runs in the engine, not in the dashboard")


def form_strategy(row: StrategyRow) -> Strategy:
    """A registry-shaped :class:`Strategy` for the form: the schema only. Its constraints are
    not evaluated here (``check`` always holds): :func:`broken_rules` asks the probe."""
    if row.kind == BUILTIN:
        return STRATEGIES[row.name]
    names = tuple(p.name for p in row.params)
    rules = tuple(Constraint(names, lambda _p: True, text) for text in row.constraints)
    return Strategy(row.name, row.description, row.params, rules, _no_signal, lambda _p: 0)


def broken_rules(row: StrategyRow, params: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """For each parameter dict, the names of the stored strategy's constraints it breaks
    (evaluated in the probe subprocess; [] for built-ins, which the registry checks)."""
    if row.kind == BUILTIN or not row.constraints:
        return [[] for _ in params]
    from app.constraint_probe import evaluate

    return evaluate(row.source, row.name, [dict(p) for p in params])


def rule_problem(row: StrategyRow, params: Mapping[str, Any]) -> str | None:
    """One line naming the first broken constraint of ``params``, or None."""
    broken = broken_rules(row, [params])[0]
    if not broken:
        return None
    from app.form_checks import params_text

    shown = params_text(params)
    return f"{row.name}: rule {broken[0]!r} does not hold (got {shown})"


def stored_schemas(rows: Sequence[StrategyRow]) -> dict[str, Strategy]:
    """The stored rows' form strategies by name (for the URL prefill)."""
    return {r.name: form_strategy(r) for r in rows if r.stored}


def validate_params(ctx: AppContext, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked as a run of ``name`` will be: a built-in's registry validation, else
    the stored file's schema (bounds, defaults) and its constraints (in the probe)."""
    return checked_run(ctx, name, params).params


@dataclass(frozen=True)
class CheckedRun:
    """A run's validated parameters and, for a stored file, the bytes they were checked
    against (``strategy_source``, ``strategy_sha256`` of the RunSpec; None for a built-in)."""

    params: dict[str, Any]
    source: str | None = None
    sha256: str | None = None


def checked_run(
    ctx: AppContext, name: str, params: Mapping[str, Any], pin: Any = None
) -> CheckedRun:
    """Validate ``params`` and pin a stored strategy's run to the file read for the check:
    ``strategies/<NAME>.py`` of the input bucket and its sha256. The engine refuses other bytes,
    so a file replaced while the run waits in the queue fails in one line instead of running a
    version nobody checked.

    ``pin`` (an :class:`app.rerun_source.PinnedSource`: an old run's recorded copy) runs that
    copy instead: the parameters are checked against its schema and rules."""
    if name in STRATEGIES:
        return CheckedRun(STRATEGIES[name].validate(params))
    if pin is not None:
        from app.rerun_source import pinned_params

        if pin.row.name != name:
            raise ParamError(f"the pinned copy {pin.uri} is {pin.row.name!r}, not {name!r}")
        return CheckedRun(pinned_params(ctx, pin, params), pin.uri, pin.sha256)
    from engine.userstrat import source_key

    row = get_row(ctx, name)
    validated = form_strategy(row).validate(params)
    problem = rule_problem(row, validated)
    if problem:
        raise ParamError(problem)
    uri = ctx.store.uri(ctx.settings.input_bucket, source_key(name))
    return CheckedRun(validated, uri, row.sha256)


# -- a sweep of a stored strategy --------------------------------------------------------------


def pinned_sweep(
    ctx: AppContext,
    source: Any,
    sweep: SweepSpec,
    *,
    holdout: bool = True,
    walk_forward: WalkForwardSpec | None = None,
) -> SweepSpec:
    """A stored strategy's sweep (as :func:`jobs.sweeps.build_sweep_spec` left it: checked at
    submit, in an engine subprocess) with the form's holdout and walk-forward choice, its base
    run pinned to the bytes the page shows: ``source`` is the stored file's row
    (``strategies/<NAME>.py`` at its sha256) or an old run's recorded copy
    (:class:`app.rerun_source.PinnedSource`). The count shown and the submit both use those
    bytes, and a file replaced in between is refused in one line."""
    from engine.userstrat import source_key

    if isinstance(source, StrategyRow):
        uri = ctx.store.uri(ctx.settings.input_bucket, source_key(source.name))
        sha = source.sha256
    else:
        uri, sha = source.uri, source.sha256
    base = replace(sweep.base, strategy_source=uri, strategy_sha256=sha)
    split = sweep.split if holdout else None
    return replace(sweep, base=base, split=split, walk_forward=walk_forward)


def stored_sweep_stats(ctx: AppContext, sweep: SweepSpec) -> ExpansionStats:
    """(candidates, valid, dropped) of a stored strategy's sweep, validated and counted with
    its rules by the submit's own check (one engine subprocess; never imported here)."""
    from jobs.sweeps import check_sweep

    return check_sweep(ctx.store, sweep).stats


# -- the Strategies page's code editor -----------------------------------------------------------


@dataclass(frozen=True)
class EditorState:
    """The Strategies page's source buffer: ``text`` is what Validate and Save use, the text the
    editor last reported (its events carry a fresh ``id`` each time). The editor is given
    ``text`` on every run but takes it only when it is (re)mounted, so keystrokes typed while
    the page reruns are kept; text loaded from elsewhere (an upload, "Edit a copy") therefore
    opens a new editor instance (a new ``revision``, hence a new widget key)."""

    text: str = ""
    revision: int = 0
    seen: str = ""
    filename: str = "strategy.py"

    @property
    def key(self) -> str:
        """The editor widget's key (one per loaded text)."""
        return f"sg_editor_{self.revision}"

    def load(self, text: str, filename: str) -> EditorState:
        """Show ``text`` (from an upload or a stored file) in a new editor instance."""
        return EditorState(text, self.revision + 1, "", filename)

    def apply(self, event: Any) -> EditorState:
        """The state after the editor's ``event`` ({"id", "type", "text", ...}; the id is "" until
        the user edits): a new event's text becomes the text; anything else changes nothing."""
        if not isinstance(event, Mapping):
            return self
        ident, text = event.get("id"), event.get("text")
        if not ident or ident == self.seen or not isinstance(text, str):
            return self
        return replace(self, text=text, seen=str(ident))

    def describe(self) -> str:
        """``name.py · sha256 <12 hex> · N bytes``: what Validate and Save would send."""
        size = len(self.text.encode("utf-8"))
        return f"{self.filename} · sha256 {sha256_text(self.text)[:SHA_SHORT]} · {size:,} bytes"
