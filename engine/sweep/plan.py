"""How a sweep's work is cut into array children: the one planner.

Work for array jobs is the flat list ``files x combinations`` (file-major: task ``t`` is file
``t // n_combinations``, combination ``t % n_combinations``). :func:`plan` sizes it from each
input file's bar count at :data:`COST_PER_BAR_COMBINATION_S` and cuts it into contiguous chunks
of about ``spec.target_child_seconds`` each (or into exactly ``n_children`` when forced);
:func:`chunk_indices` gives child ``i``'s half-open slice and :func:`tasks_by_file` splits a
slice by input file. The New run page's estimate and the submit both call :func:`plan`, so the
page shows the children that are submitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.errors import ParamError
from engine.sweep.spec import SweepSpec, count_combinations

# Seconds per bar per combination of a sweep child: bench/sweep_bench.py measured 7.8e-9
# (10,000 sma_cross combinations x 100,000 bars in 7.8 s on one busy core, load and write
# included); rounded up for strategies with costlier signals.
COST_PER_BAR_COMBINATION_S = 1e-8
MAX_CHILDREN = 10_000


class ChunkPlan(NamedTuple):
    """``n_children`` chunks of ``chunk_size`` tasks (the last may be shorter)."""

    n_children: int
    chunk_size: int

    @property
    def is_array(self) -> bool:
        """True for an array job (2+ children); False for one plain job."""
        return self.n_children > 1


@dataclass(frozen=True)
class SweepPlan:
    """A sweep's size and cut: valid combinations per file, each file's bars, the chunks."""

    n_combinations: int
    bars: tuple[int, ...]  # per input file, in ``spec.source_keys`` order
    chunks: ChunkPlan
    compute_seconds: float  # estimated, summed over all children

    @property
    def n_files(self) -> int:
        return len(self.bars)

    @property
    def n_tasks(self) -> int:
        """Backtests: combinations x files."""
        return self.n_combinations * self.n_files


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _split(n_tasks: int, wanted: int, max_children: int) -> ChunkPlan:
    """About ``wanted`` equal contiguous chunks (1..max_children, never an empty one)."""
    n_children = max(1, min(wanted, max_children, n_tasks))
    if n_children == 1:
        return ChunkPlan(1, n_tasks)
    chunk_size = math.ceil(n_tasks / n_children)
    return ChunkPlan(math.ceil(n_tasks / chunk_size), chunk_size)


def plan_chunks(
    n_combinations: int,
    n_bars: int,
    cost_per_bar_combination_s: float,
    target_child_seconds: float,
    max_children: int = MAX_CHILDREN,
) -> ChunkPlan:
    """Split ``n_combinations`` tasks so each child works about ``target_child_seconds``.

    Estimated work = n_combinations x n_bars x cost. When it fits in one target duration the
    plan is one plain job; otherwise 2..``max_children`` children of equal size (no empty
    chunk). ParamError for a non-positive count, cost or target.
    """
    _count("number of combinations", n_combinations)
    _count("max_children", max_children)
    if not (cost_per_bar_combination_s > 0 and target_child_seconds > 0 and n_bars > 0):
        raise ParamError(
            "plan_chunks needs n_bars, cost_per_bar_combination_s and target_child_seconds > 0"
        )
    total = n_combinations * n_bars * cost_per_bar_combination_s
    return _split(n_combinations, math.ceil(total / target_child_seconds), max_children)


def fixed_plan(n_tasks: int, n_children: int) -> ChunkPlan:
    """Exactly ``n_children`` equal chunks (fewer when there are fewer tasks)."""
    if isinstance(n_children, bool) or not isinstance(n_children, int) or n_children < 1:
        raise ParamError(f"children must be an integer >= 1, got {n_children!r}")
    return _split(_count("number of tasks", n_tasks), n_children, MAX_CHILDREN)


def plan(
    spec: SweepSpec,
    bars: Sequence[int],
    *,
    n_combinations: int | None = None,
    n_children: int | None = None,
    cost_s: float | None = None,
) -> SweepPlan:
    """The plan of ``spec`` over input files of ``bars`` bars each (``spec.source_keys`` order).

    Work = valid combinations x the sum of the files' bars x ``cost_s`` (default
    :data:`COST_PER_BAR_COMBINATION_S`), cut into chunks of about ``spec.target_child_seconds``;
    ``n_children`` forces that many chunks instead. ``n_combinations`` (the valid count, when the
    caller has counted it already) saves counting the space again. A file's bar count below 1
    counts as 1. ParamError when the bars do not match the files or nothing is valid.
    """
    if len(bars) != len(spec.source_keys):
        raise ParamError(
            f"the plan needs one bar count per input file: {len(spec.source_keys)} file(s), "
            f"{len(bars)} count(s)"
        )
    counts = tuple(max(1, int(b)) for b in bars)
    valid = count_combinations(spec) if n_combinations is None else int(n_combinations)
    if valid < 1:
        raise ParamError("the sweep has no valid combination")
    cost = COST_PER_BAR_COMBINATION_S if cost_s is None else float(cost_s)
    if not (cost > 0 and math.isfinite(cost)):
        raise ParamError(f"the cost per bar and combination must be > 0, got {cost_s!r}")
    compute = valid * sum(counts) * cost
    n_tasks = valid * len(counts)
    if n_children is not None:
        chunks = fixed_plan(n_tasks, n_children)
    else:
        chunks = _split(n_tasks, math.ceil(compute / spec.target_child_seconds), MAX_CHILDREN)
    return SweepPlan(valid, counts, chunks, compute)


def chunk_indices(i: int, plan: ChunkPlan, n: int) -> range:
    """Child ``i``'s half-open slice of task indices ``range(start, stop)``."""
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < plan.n_children:
        raise ParamError(f"array index {i!r} is out of range 0..{plan.n_children - 1}")
    start = i * plan.chunk_size
    return range(min(start, n), min(start + plan.chunk_size, n))


def tasks_by_file(
    tasks: range, n_combinations: int, keys: Sequence[str]
) -> list[tuple[str, range]]:
    """Split a chunk of flat task indices (file-major) into (source key, combination ids).

    Task ``t`` is file ``keys[t // n_combinations]``, combination ``t % n_combinations``.
    """
    out: list[tuple[str, range]] = []
    t = tasks.start
    while t < tasks.stop:
        f, c = divmod(t, n_combinations)
        end = min(tasks.stop, (f + 1) * n_combinations)
        out.append((keys[f], range(c, c + end - t)))
        t = end
    return out
