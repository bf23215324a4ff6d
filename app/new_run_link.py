"""The one builder of "open New run prefilled" links: the query New run's own parser
(app.forms.prefill_from_query) reads back. Used by Run results ("Rerun with changes") and Sweep
results (a combination's "New run with these parameters")."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from app.forms import PARAM_PREFIX, space_texts
from app.run_format import non_default_options


def new_run_query(
    strategy: str,
    params: Mapping[str, Any],
    *,
    files: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    space: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """file=<k1,k2> (when given), strategy=<name>, p_<param>=<value>, the ``options`` to carry
    (JSON; give only those that differ from the defaults) and a sweep's ``space`` (JSON name ->
    "5:50:5"); empty values are left out.

    >>> new_run_query("sma_cross", {"fast": 5}, files=["a.csv"])
    {'file': 'a.csv', 'strategy': 'sma_cross', 'p_fast': '5'}
    """
    out = {"file": ",".join(str(f) for f in files if f), "strategy": str(strategy)}
    out.update({f"{PARAM_PREFIX}{name}": query_value(value) for name, value in params.items()})
    if options:
        out["options"] = json.dumps(dict(options), sort_keys=True)
    if space:
        out["space"] = json.dumps(dict(space))
    return {k: v for k, v in out.items() if v}


def rerun_query(spec: Mapping[str, Any] | None) -> dict[str, str]:
    """The link that reopens New run prefilled from a run's spec.json or a sweep's SweepSpec:
    its files, strategy, parameters, non-default options, (for a sweep) its space and, for a
    strategy file, ``from_run``/``from_sweep`` (New run then offers that run's recorded copy)."""
    if not spec:
        return {}
    raw_base = spec.get("base")
    base: Mapping[str, Any] = raw_base if isinstance(raw_base, Mapping) else spec
    keys = [str(k) for k in (base.get("source_key"), *(spec.get("extra_keys") or [])) if k]
    query = new_run_query(
        str(base.get("strategy") or ""),
        dict(base.get("params") or {}),
        files=keys,
        options=non_default_options(base),
        space=space_texts(spec.get("space")),
    )
    from app.rerun_source import link_params  # a strategy file: where its recorded copy is

    return {**query, **link_params(spec)}


def query_value(value: Any) -> str:
    """A parameter value as URL text (booleans lower-case, as the engine CLI reads them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
