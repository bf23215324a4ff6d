"""Find a strategy by name for the engine: a built-in first, then ``strategies/NAME.py``.

Loading a file runs its code, so only engine processes call these (a run, a sweep child, a
collect); the dashboard and the jobs CLI read sidecars (:mod:`engine.userstrat.library`) and
validate in a subprocess (:func:`engine.userstrat.validate.validate_source`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from engine.errors import NotFoundError, ParamError, StrategyError
from engine.sim.contract import is_name
from engine.sim.strategies import STRATEGIES, Strategy, get_strategy, register_file_strategy
from engine.store.objects import Store
from engine.userstrat import library
from engine.userstrat.loader import load_source, sha256_hex


def resolve_strategy(
    name: str,
    *,
    store: Store | None = None,
    bucket: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Strategy:
    """The built-in ``name``, else ``strategies/<name>.py`` of ``bucket`` (the source bucket)
    loaded into a :class:`Strategy` with a built-in's powers, and findable by
    :func:`engine.sim.strategies.get_strategy` in this process from then on.

    Without a store only built-ins (and files loaded already) are found (ParamError).
    """
    if name in STRATEGIES or store is None or bucket is None:
        return get_strategy(name)
    if not isinstance(name, str) or not is_name(name):
        return get_strategy(name)  # not a file name either: the "unknown strategy" line
    try:
        info = library.get_strategy(store, bucket, name)
    except NotFoundError:
        known = ", ".join(sorted(STRATEGIES))
        raise ParamError(
            f"unknown strategy {name!r}: not a built-in ({known}) and no strategy file "
            f"{store.uri(bucket, library.source_key(name))}; add one with python -m jobs "
            "strategy add FILE"
        ) from None
    where = store.uri(bucket, library.source_key(name))
    return register(load_source(info.source, where, env), name)


def load_pinned(  # noqa: PLR0913
    store: Store,
    bucket: str,
    key: str,
    *,
    name: str,
    sha256: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Strategy:
    """Load the exact copy at ``bucket/key`` (a run's or a sweep's ``strategy.py``); with
    ``sha256``, refuse other bytes. Registered under ``name`` like :func:`resolve_strategy`."""
    data = store.get_bytes(bucket, key)
    where = store.uri(bucket, key)
    if sha256 is not None and sha256_hex(data) != sha256:
        raise StrategyError(
            f"{where} does not have the recorded sha256 {sha256[:12]} (it was changed); "
            "rerun from a copy that was not edited"
        )
    return register(load_source(data, where, env), name)


def load_strategy_file(path: str | Path, env: Mapping[str, str] | None = None) -> Strategy:
    """A strategy file on disk as a Strategy, for the Python API (``run_backtest(prices, s)``)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise StrategyError(f"cannot read strategy file {str(p)!r}: {exc.strerror}") from None
    return register(load_source(data, str(p), env), None)


def register(strategy: Strategy, name: str | None) -> Strategy:
    """Register a loaded file strategy; its NAME must be the name it was asked for."""
    if name is not None and strategy.name != name:
        raise StrategyError(
            f"the file stored as {name!r} declares NAME = {strategy.name!r}; "
            "store it under its own NAME"
        )
    return register_file_strategy(strategy)
