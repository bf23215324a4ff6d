"""SearchSpec: how a budgeted model-based sweep (``mode="tpe"``) asks for its trials.

A TPE sweep is a :class:`~engine.sweep.spec.SweepSpec` with ``mode="tpe"``, ``n`` the budget
(total trials over every round), ``seed`` the sampler's seed and ``search`` this spec: trials are
asked ``round_size`` at a time (one array job per round), told back, and asked again until the
budget is spent. ``objectives`` are one or two metric names from the metric registry; each one's
direction is the registry's ``better`` (sharpe up, max_drawdown down), so a spec cannot ask to
minimise a Sharpe ratio by mistake. Two objectives make it a multi-objective search whose result
is a Pareto front.

>>> SearchSpec.from_value({"round_size": 16, "objectives": ["sharpe", "max_drawdown"]}).directions
('maximize', 'minimize')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import ParamError
from engine.sim.metric_registry import METRICS

DEFAULT_ROUND_SIZE = 32
MAX_ROUND_SIZE = 10_000  # one round is one array job: AWS Batch's array size limit
MAX_OBJECTIVES = 2
# metrics a search can optimise: those with a direction (sizes and counts are no verdict)
OBJECTIVE_METRICS: tuple[str, ...] = tuple(
    m.name for m in METRICS if m.better is not None and m.name != "buy_hold_return"
)
_DIRECTION = {m.name: ("maximize" if m.better == "higher" else "minimize") for m in METRICS}


@dataclass(frozen=True)
class SearchSpec:
    """A model-based search's settings: trials per round and the objective metric(s)."""

    round_size: int = DEFAULT_ROUND_SIZE
    objectives: tuple[str, ...] = ("sharpe",)

    @classmethod
    def from_value(cls, value: Any) -> SearchSpec:
        """Parse ``{"round_size": 32, "objectives": ["sharpe"]}`` (or a SearchSpec)."""
        if isinstance(value, SearchSpec):
            return value.validate()
        if not isinstance(value, Mapping):
            raise ParamError('search must be {"round_size": N, "objectives": [metric, ...]}')
        extra = sorted(set(value) - {"round_size", "objectives"})
        if extra:
            raise ParamError(f"unknown search field(s): {', '.join(extra)}")
        objectives = value.get("objectives", ("sharpe",))
        if isinstance(objectives, str):
            objectives = [o for o in objectives.split(",") if o.strip()]
        if not isinstance(objectives, Sequence):
            raise ParamError("search objectives must be a list of metric names")
        return cls(
            round_size=value.get("round_size", DEFAULT_ROUND_SIZE),
            objectives=tuple(str(o).strip() for o in objectives),
        ).validate()

    def to_dict(self) -> dict[str, Any]:
        return {"round_size": self.round_size, "objectives": list(self.objectives)}

    def validate(self) -> SearchSpec:
        """ParamError for a round size outside 1..10,000 or an unknown/duplicate objective."""
        r = self.round_size
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= MAX_ROUND_SIZE:
            raise ParamError(
                f"search round_size must be an integer 1..{MAX_ROUND_SIZE:,} (trials per "
                f"array job), got {r!r}"
            )
        objs = tuple(self.objectives)
        if not 1 <= len(objs) <= MAX_OBJECTIVES:
            raise ParamError(
                f"a search takes one or two objectives (e.g. sharpe or sharpe,max_drawdown), "
                f"got {len(objs)}"
            )
        for name in objs:
            if name not in OBJECTIVE_METRICS:
                raise ParamError(
                    f"unknown search objective {name!r}; choose from {', '.join(OBJECTIVE_METRICS)}"
                )
        if len(set(objs)) != len(objs):
            raise ParamError(f"search objectives repeat a metric: {', '.join(objs)}")
        return SearchSpec(round_size=r, objectives=objs)

    @property
    def directions(self) -> tuple[str, ...]:
        """Optuna's direction per objective, from the metric registry's ``better``."""
        return tuple(_DIRECTION[o] for o in self.objectives)

    def n_rounds(self, budget: int) -> int:
        """Array jobs a budget of ``budget`` trials takes.

        >>> SearchSpec(round_size=32).n_rounds(100)
        4
        """
        return -(-int(budget) // self.round_size)


__all__ = ["DEFAULT_ROUND_SIZE", "OBJECTIVE_METRICS", "SearchSpec"]
