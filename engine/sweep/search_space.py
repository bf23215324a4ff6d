"""What a submit can know of a TPE search's space before any trial is asked.

A TPE sweep's trials are asked round by round, so its space is never expanded
(:func:`engine.sweep.spec.combinations` refuses a ``mode="tpe"`` spec). The submit still wants
the largest warm-up a trial may need (to check the input file is long enough):
:func:`corner_warmup` takes it over the space's *corners* (every parameter at its first or last
value; a list's every value), the exact maximum for warm-ups that grow or shrink with each
parameter (a moving average's window), cheap whatever the grid's size. A trial needing more is
still refused by its child, with the file's bar count.

>>> from engine.spec import RunSpec
>>> from engine.sweep.spec import SweepSpec
>>> space = {"fast": "2:40:1", "slow": "10:120:1"}
>>> corner_warmup(SweepSpec("s", RunSpec("in", "a.csv", "out"), space, mode="tpe", n=50))
119
"""

from __future__ import annotations

import itertools
from typing import Any

from engine.errors import ParamError
from engine.sweep.spec import SweepSpec

MAX_CORNERS = 4096


def corners(spec: SweepSpec) -> list[dict[str, Any]]:
    """The corner combinations of a validated spec's space that satisfy the strategy's rules
    (full parameter dicts: defaults, fixed parameters, swept values)."""
    from engine.sim.strategies import get_strategy

    strategy = get_strategy(spec.base.strategy)
    axes = []
    for sp in spec.space.values():
        ends = (sp.value_at(0), sp.value_at(sp.size() - 1)) if sp.size() > 1 else sp.expand()
        axes.append(ends if sp.is_range else sp.values)
    out: list[dict[str, Any]] = []
    base = {**strategy.defaults(), **spec.base.params}
    for values in itertools.islice(itertools.product(*axes), MAX_CORNERS):
        params = {**base, **dict(zip(spec.space, values, strict=True))}
        if all(c.check(params) for c in strategy.constraints):
            out.append(params)
    return out


def corner_warmup(spec: SweepSpec) -> int:
    """The largest warm-up (bars) among the space's valid corners (ParamError when none is
    valid: name the rule through the strategy's own check)."""
    from engine.sim.strategies import get_strategy

    spec = spec.validate()
    strategy = get_strategy(spec.base.strategy)
    valid = corners(spec)
    if not valid:
        first = {k: sp.value_at(0) for k, sp in spec.space.items()}
        try:
            strategy.validate({**spec.base.params, **first})
        except ParamError as exc:
            raise ParamError(f"no corner of the search space is valid: {exc}") from None
        return int(strategy.warmup_fn({**strategy.defaults(), **spec.base.params, **first}))
    return max(int(strategy.warmup_fn(p)) for p in valid)


__all__ = ["corner_warmup", "corners"]
