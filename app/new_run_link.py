"""The one builder of "open New run prefilled" links: the query New run's own parser
(app.forms.prefill_from_query) reads back. Used by Run results ("Rerun with changes") and Sweep
results (a combination's "New run with these parameters")."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from app.forms import PARAM_PREFIX


def new_run_query(
    strategy: str,
    params: Mapping[str, Any],
    *,
    files: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """file=<k1,k2> (when given), strategy=<name>, p_<param>=<value> and the ``options`` to
    carry (JSON; give only those that differ from the defaults); empty values are left out."""
    out = {"file": ",".join(str(f) for f in files if f), "strategy": str(strategy)}
    out.update({f"{PARAM_PREFIX}{name}": query_value(value) for name, value in params.items()})
    if options:
        out["options"] = json.dumps(dict(options), sort_keys=True)
    return {k: v for k, v in out.items() if v}


def query_value(value: Any) -> str:
    """A parameter value as URL text (booleans lower-case, as the engine CLI reads them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
