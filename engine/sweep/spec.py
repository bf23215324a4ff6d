"""SweepSpec: a base run plus a parameter space; expansion into combinations.

A sweep is one :class:`~engine.spec.RunSpec` (data, strategy, options, fixed parameters) times a
parameter space (per parameter an explicit list or an inclusive ``start:stop:step`` range), on
one or more input files. Combinations are expanded in a stable order; a combination's *id* is
its index in that order (column :data:`COMBO_ID`), so chunks written by array children can be
merged and checked for gaps. Nothing here evaluates user text: ranges and lists are parsed with
``int``/``float``/:class:`decimal.Decimal` and the strategy schema's ``Param.check``.

How the work is cut into array children is :mod:`engine.sweep.plan`.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from engine.errors import ParamError
from engine.spec import RunSpec, check_run_id
from engine.sweep.robustness import SplitSpec
from engine.sweep.search_spec import SearchSpec
from engine.sweep.wf_windows import WalkForwardSpec

COMBO_ID = "combo_id"
MODES = ("grid", "random", "tpe")  # tpe: engine/sweep/search_spec.py
DEFAULT_MAX_COMBINATIONS = 1_000_000
_PERMUTE_LIMIT = 2_000_000  # random mode: grids up to this size are permuted exactly


# --- one parameter's values ------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpace:
    """The values one parameter takes: an explicit list, or an inclusive range start:stop:step.

    ``ParamSpace.parse("5:50:5")`` is 5, 10, ..., 50; ``parse("a,b,c")`` is a list of the raw
    tokens (typed later against the strategy schema by :meth:`resolve`). Float ranges are
    computed as ``start + i * step`` in decimal arithmetic, so ``0.1:0.3:0.1`` is exactly
    ``(0.1, 0.2, 0.3)`` with no accumulated float error.
    """

    values: tuple[Any, ...] = ()
    start: int | float | None = None
    stop: int | float | None = None
    step: int | float | None = None

    @property
    def is_range(self) -> bool:
        return self.start is not None

    @classmethod
    def parse(cls, text: str, name: str = "parameter") -> ParamSpace:
        """Parse ``"start:stop:step"``, ``"a,b,c"`` or a single value (never evaluated)."""
        text = str(text).strip()
        if not text:
            raise ParamError(f"{name}: empty value list; give a list 'a,b,c' or a range 5:50:5")
        if ":" in text:
            parts = [p.strip() for p in text.split(":")]
            if len(parts) != 3 or not all(parts):
                raise ParamError(f"{name}: range {text!r} must be start:stop:step, e.g. 5:50:5")
            start, stop, step = (_number(p, name) for p in parts)
            return cls(start=start, stop=stop, step=step).check_range(name)
        tokens = [t.strip() for t in text.split(",")]
        if not all(tokens):
            raise ParamError(f"{name}: empty item in list {text!r}; use a,b,c")
        return cls(values=tuple(tokens))

    @classmethod
    def from_value(cls, value: Any, name: str = "parameter") -> ParamSpace:
        """Build from a string, a list/tuple, a Python ``range``, a dict or a ParamSpace."""
        if isinstance(value, ParamSpace):
            return value
        if isinstance(value, str):
            return cls.parse(value, name)
        if isinstance(value, Mapping):
            return cls.from_dict(value, name)
        if isinstance(value, range | Sequence | np.ndarray):
            return cls(values=tuple(_plain(v) for v in value))
        return cls(values=(_plain(value),))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "parameter") -> ParamSpace:
        if "values" in data and set(data) == {"values"}:
            return cls(values=tuple(data["values"]))
        if set(data) == {"start", "stop", "step"}:
            nums = [_number(data[k], name) for k in ("start", "stop", "step")]
            return cls(start=nums[0], stop=nums[1], step=nums[2]).check_range(name)
        raise ParamError(f"{name}: space must be {{'values': [...]}} or {{start, stop, step}}")

    def to_dict(self) -> dict[str, Any]:
        if self.is_range:
            return {"start": self.start, "stop": self.stop, "step": self.step}
        return {"values": list(self.values)}

    def check_range(self, name: str) -> ParamSpace:
        """ParamError naming ``name`` for step <= 0 or stop < start; return self."""
        if self.step is None or self.step <= 0:
            raise ParamError(f"{name}: step must be > 0, got {self.step}")
        if self.stop is None or self.start is None or self.stop < self.start:
            raise ParamError(f"{name}: stop {self.stop} is below start {self.start}")
        return self

    def size(self) -> int:
        """Number of values, without materialising a range."""
        if not self.is_range:
            return len(self.values)
        start, stop, step = (_dec(v) for v in (self.start, self.stop, self.step))
        return int((stop - start) // step) + 1

    def expand(self) -> tuple[Any, ...]:
        """All values in order (a range as ints when start and step are ints, else floats)."""
        if not self.is_range:
            return self.values
        return tuple(self.value_at(i) for i in range(self.size()))

    def value_at(self, i: int) -> Any:
        """The ``i``-th value without expanding: ``start + i * step`` (decimal for floats)."""
        if not self.is_range:
            return self.values[i]
        if isinstance(self.start, int) and isinstance(self.step, int):
            return self.start + i * self.step
        return float(_dec(self.start) + i * _dec(self.step))

    def resolve(self, param: Any) -> ParamSpace:
        """Typed against a strategy ``Param``: values coerced and bound-checked (ParamError)."""
        if self.is_range:
            if param.kind not in ("int", "float"):
                raise ParamError(
                    f"{param.name}: a range needs a numeric parameter; {param.name} is "
                    f"{param.kind} ({param.allowed()}): give a list a,b,c"
                )
            if param.kind == "int" and not all(
                float(v or 0).is_integer() for v in (self.start, self.stop, self.step)
            ):
                raise ParamError(f"{param.name}: an int range needs whole numbers, got {self}")
            cast = int if param.kind == "int" else float
            start, stop, step = (cast(v or 0) for v in (self.start, self.stop, self.step))
            resolved = ParamSpace(start=start, stop=stop, step=step)
            for i in (0, resolved.size() - 1):  # a range is monotonic: check both ends
                param.check(resolved.value_at(i))
            return resolved
        if not self.values:
            raise ParamError(f"{param.name}: empty value list; allowed {param.allowed()}")
        checked = tuple(param.check(v) for v in self.values)
        if len(set(checked)) != len(checked):
            raise ParamError(f"{param.name}: duplicate values in {list(self.values)}")
        return ParamSpace(values=checked)

    def __str__(self) -> str:
        if self.is_range:
            return f"{self.start}:{self.stop}:{self.step}"
        return ",".join(str(v) for v in self.values)


def _number(text: Any, name: str) -> int | float:
    if isinstance(text, bool):
        raise ParamError(f"{name}: {text!r} is not a number")
    if isinstance(text, int | float):
        value: int | float = text
    else:
        try:
            value = int(str(text).strip())
        except ValueError:
            try:
                value = float(str(text).strip())
            except ValueError:
                raise ParamError(f"{name}: {text!r} is not a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"{name}: {text!r} is not a finite number")
    return value


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError):  # pragma: no cover - _number guards this
        raise ParamError(f"{value!r} is not a number") from None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- the sweep spec --------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSpec:
    """A parameter sweep: ``base`` run x ``space`` (x extra input files).

    ``base.params`` fixes parameters that are not swept (a parameter in ``space`` overrides
    ``base.params``). Expansion order is the order of ``space``'s keys (kept in JSON, which
    stores the space as a list). ``mode="random"`` draws ``n`` distinct valid combinations
    with ``seed``. ``max_combinations`` bounds files x combinations.
    """

    sweep_id: str
    base: RunSpec
    space: dict[str, ParamSpace]
    mode: str = "grid"
    n: int | None = None
    seed: int = 0
    extra_keys: tuple[str, ...] = ()
    max_combinations: int = DEFAULT_MAX_COMBINATIONS
    top_n: int = 10
    target_child_seconds: float = 120.0
    split: SplitSpec | None = None
    walk_forward: WalkForwardSpec | None = None  # a walk-forward sweep (engine/sweep/wf_*.py)
    search: SearchSpec | None = None  # mode="tpe": rounds and objectives (search_spec.py)

    def __post_init__(self) -> None:
        # accept plain values ("5:50:5", [1, 2], {"kind": ...}) and store the typed forms
        if not isinstance(self.space, Mapping):
            raise ParamError("sweep space must be a mapping name -> values or range")
        space = {str(k): ParamSpace.from_value(v, str(k)) for k, v in self.space.items()}
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "extra_keys", tuple(self.extra_keys or ()))
        if self.split is not None and not isinstance(self.split, SplitSpec):
            object.__setattr__(self, "split", SplitSpec.from_value(self.split))
        if self.walk_forward is not None and not isinstance(self.walk_forward, WalkForwardSpec):
            object.__setattr__(self, "walk_forward", WalkForwardSpec.from_value(self.walk_forward))
        if self.search is not None and not isinstance(self.search, SearchSpec):
            object.__setattr__(self, "search", SearchSpec.from_value(self.search))

    @property
    def source_keys(self) -> tuple[str, ...]:
        """Every input file: the base run's key, then ``extra_keys`` (the fan-out)."""
        return (self.base.source_key, *self.extra_keys)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["base"] = self.base.to_dict()
        out["space"] = [{"name": k, **v.to_dict()} for k, v in self.space.items()]
        out["extra_keys"] = list(self.extra_keys)
        out["split"] = None if self.split is None else self.split.to_dict()
        if self.walk_forward is None:  # absent, not null: spec.json of a plain sweep unchanged
            out.pop("walk_forward")
        else:
            out["walk_forward"] = self.walk_forward.to_dict()
        if self.search is None:  # absent, not null, like walk_forward
            out.pop("search")
        else:
            out["search"] = self.search.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        """Structural parse (types, unknown fields); :meth:`validate` checks the strategy."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParamError(f"unknown SweepSpec field(s): {', '.join(unknown)}")
        missing = [k for k in ("sweep_id", "base", "space") if k not in data]
        if missing:
            raise ParamError(f"incomplete SweepSpec: missing {', '.join(missing)}")
        d = dict(data)
        base = d["base"]
        d["base"] = base if isinstance(base, RunSpec) else RunSpec.from_dict(dict(base))
        d["space"] = _space_from(d["space"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str | bytes) -> SweepSpec:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParamError(f"sweep spec is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ParamError("sweep spec must be a JSON object")
        return cls.from_dict(data)

    def validate(self) -> SweepSpec:
        """Check everything against the strategy schema; return a copy with typed spaces.

        ParamError (naming the parameter) for an unknown parameter, a value out of bounds, an
        empty range, step <= 0, stop < start, a bad mode/n/seed/split, or more than
        ``max_combinations`` backtests. Idempotent.
        """
        from engine.sim.strategies import get_strategy

        check_run_id(self.sweep_id)
        _positive_int("max_combinations", self.max_combinations)
        _positive_int("top_n", self.top_n, allow_zero=True)
        t = self.target_child_seconds
        if (
            isinstance(t, bool)
            or not isinstance(t, int | float)
            or not (math.isfinite(t) and t > 0)
        ):
            raise ParamError(f"target_child_seconds must be a number > 0, got {t!r}")
        strategy = get_strategy(self.base.strategy)
        self.base.options.validate()
        if not self.space:
            raise ParamError("the sweep space is empty; give at least one parameter to sweep")
        space = {name: sp.resolve(strategy.param(name)) for name, sp in self.space.items()}
        base_params = {k: strategy.param(k).check(v) for k, v in self.base.params.items()}
        keys = self.source_keys
        if len(set(keys)) != len(keys):
            raise ParamError(f"duplicate input file in the sweep: {', '.join(keys)}")
        if self.mode not in MODES:
            raise ParamError(f"sweep mode must be grid, random or tpe, got {self.mode!r}")
        if self.mode == "random":
            _positive_int("n (random sample size)", self.n)
            _positive_int("seed", self.seed, allow_zero=True)
        if self.mode == "tpe":
            _positive_int("n (the search's budget of trials)", self.n)
            _positive_int("seed", self.seed, allow_zero=True)
            _check_tpe(self)
        elif self.search is not None:
            raise ParamError(f"search settings apply to mode tpe only, not {self.mode!r}")
        out = replace(
            self,
            base=replace(self.base, params=base_params),
            space=space,
            split=None if self.split is None else self.split.validate(),
            walk_forward=None if self.walk_forward is None else self.walk_forward.validate(),
            search=(self.search or SearchSpec()).validate() if self.mode == "tpe" else None,
        )
        candidates = out.n if out.mode in ("random", "tpe") else grid_size(out)
        total = int(candidates or 0) * len(keys)
        if total > self.max_combinations:
            what = {"random": "sample size n", "tpe": "budget n"}.get(out.mode, "grid")
            raise ParamError(
                f"too many combinations: {what} {candidates:,} x {len(keys)} file(s) = "
                f"{total:,} backtests exceeds the ceiling of {self.max_combinations:,}; "
                "narrow the ranges, use a larger step, sample (random mode) or raise "
                "max_combinations"
            )
        return out


def _check_tpe(spec: SweepSpec) -> None:
    """What a TPE search cannot do (one line each, saying what to do instead). A budget above
    the space's valid combinations is the submit's to cut (jobs/search_jobs.py)."""
    if spec.walk_forward is not None:
        raise ParamError(
            "a TPE search cannot be walk-forward: run the walk-forward as a grid or random "
            "sweep, or the search without walk-forward windows"
        )
    if spec.extra_keys:
        raise ParamError(
            f"a TPE search runs on one input file, got {1 + len(spec.extra_keys)}: search each "
            "file on its own, or sweep several files in grid or random mode"
        )


def _space_from(raw: Any) -> dict[str, ParamSpace]:
    if isinstance(raw, Mapping):
        return {str(k): ParamSpace.from_value(v, str(k)) for k, v in raw.items()}
    if isinstance(raw, list):
        out: dict[str, ParamSpace] = {}
        for item in raw:
            if not isinstance(item, Mapping) or "name" not in item:
                raise ParamError("each sweep space entry needs a 'name'")
            rest = {k: v for k, v in item.items() if k != "name"}
            out[str(item["name"])] = ParamSpace.from_dict(rest, str(item["name"]))
        return out
    raise ParamError("sweep space must be a mapping name -> values or range")


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParamError(f"{name} must be an integer >= {low}, got {value!r}")


# --- expansion -------------------------------------------------------------------------------


class ExpansionStats(NamedTuple):
    """How many combinations a sweep has: ``candidates`` drawn, ``valid`` kept, ``dropped``."""

    candidates: int
    valid: int
    dropped: int


def grid_size(spec: SweepSpec) -> int:
    """Size of the full Cartesian grid (before constraints), computed without expansion."""
    return math.prod(sp.size() for sp in spec.space.values())


def _candidates(spec: SweepSpec) -> Iterator[tuple[Any, ...]]:
    """Value tuples (in space order) in expansion order, before constraints."""
    spaces = list(spec.space.values())
    sizes = [sp.size() for sp in spaces]
    total = math.prod(sizes)
    if spec.mode == "grid" or total <= _PERMUTE_LIMIT:
        axes = [sp.expand() for sp in spaces]  # grid: bounded by max_combinations
    if spec.mode == "grid":
        yield from itertools.product(*axes)
        return
    rng = np.random.default_rng(spec.seed)
    if total <= _PERMUTE_LIMIT:  # exact sampling without replacement
        for flat in rng.permutation(total):
            idx = np.unravel_index(int(flat), sizes)
            yield tuple(a[i] for a, i in zip(axes, idx, strict=True))
        return
    # huge grid: draw per-axis indices, skip repeats, values computed lazily
    if max(sizes) > 2**62:
        raise ParamError("a sweep range has more than 2^62 values; use a larger step")
    seen: set[int] = set()
    budget = 50 * int(spec.n or 0) + 1000  # bounded: stop drawing if valid ones are too rare
    while budget > 0:
        batch = np.stack([rng.integers(0, s, size=4096) for s in sizes], axis=1)
        for row in batch[:budget].tolist():
            budget -= 1
            flat = 0
            for i, size in zip(row, sizes, strict=True):
                flat = flat * size + i
            if flat not in seen:
                seen.add(flat)
                yield tuple(sp.value_at(i) for sp, i in zip(spaces, row, strict=True))


def _expand(spec: SweepSpec) -> Iterator[tuple[bool, tuple[Any, ...]]]:
    """(valid, values in space order) per candidate; stops after ``n`` valid in random mode."""
    from engine.sim.strategies import get_strategy

    strategy = get_strategy(spec.base.strategy)
    full = {**strategy.defaults(), **spec.base.params}  # reused: only swept keys change
    names = list(spec.space)
    checks = [c.check for c in strategy.constraints]
    limit = spec.n if spec.mode == "random" else None
    kept = 0
    for values in _candidates(spec):
        full.update(zip(names, values, strict=True))
        ok = all(check(full) for check in checks)
        yield ok, values
        kept += ok
        if limit is not None and kept >= limit:
            return


def _as_params(spec: SweepSpec, values: tuple[Any, ...]) -> dict[str, Any]:
    return {**spec.base.params, **dict(zip(spec.space, values, strict=True))}


def combinations(
    spec: SweepSpec, start: int = 0, stop: int | None = None
) -> Iterator[dict[str, Any]]:
    """Valid combinations ``start..stop-1`` (ids) in expansion order, as parameter dicts.

    Each dict holds the fixed ``base.params`` plus the swept values (space order). Grid mode is
    the Cartesian product with the last parameter varying fastest; random mode draws distinct
    grid points with ``seed`` (without replacement) until ``n`` valid ones. Combinations that
    violate the strategy's constraints (e.g. fast >= slow) are skipped and do not get an id.
    """
    spec = spec.validate()
    if spec.mode == "tpe":  # the trials are asked round by round (engine/sweep/search_rounds.py)
        raise ParamError(
            f"sweep {spec.sweep_id} is a TPE search: its trials come from its round files "
            "(search/round-<r>.json), not from the space"
        )
    valid = (values for ok, values in _expand(spec) if ok)
    for values in itertools.islice(valid, start, stop):
        yield _as_params(spec, values)


def expansion_stats(spec: SweepSpec) -> ExpansionStats:
    """Count candidates, valid and dropped combinations without keeping them in memory.

    ParamError when every candidate violates a constraint (the message says which rule).
    """
    spec = spec.validate()
    from engine.sim.strategies import get_strategy

    strategy = get_strategy(spec.base.strategy)
    if spec.mode == "tpe":  # n trials, asked later; each is checked against the rules then
        return ExpansionStats(int(spec.n or 0), int(spec.n or 0), 0)
    if spec.mode == "grid" and not strategy.constraints:
        n = grid_size(spec)
        return ExpansionStats(n, n, 0)
    candidates = valid = 0
    first: tuple[Any, ...] | None = None
    for ok, values in _expand(spec):
        candidates += 1
        valid += ok
        first = first or values
    if valid == 0 and first is not None:
        try:
            strategy.validate(_as_params(spec, first))
        except ParamError as exc:
            raise ParamError(f"no valid combination in the sweep space: {exc}") from None
    return ExpansionStats(candidates, valid, candidates - valid)


def count_combinations(spec: SweepSpec) -> int:
    """Number of valid combinations (the ids run 0..count-1)."""
    return expansion_stats(spec).valid


def combinations_frame(spec: SweepSpec, start: int = 0, stop: int | None = None) -> pd.DataFrame:
    """Combinations ``start..stop-1`` as a DataFrame: :data:`COMBO_ID` + one column per param."""
    rows = list(combinations(spec, start, stop))
    frame = pd.DataFrame(rows)
    frame.insert(0, COMBO_ID, np.arange(start, start + len(rows), dtype=np.int64))
    return frame


def space_values(name: str, value: Any) -> list[Any]:
    """One parameter's values for a sweep: SweepSpec text ("5:50:5" inclusive, "a,b,c"), a
    {start, stop, step} or {values} dict, any other iterable as is, or a single value.

    >>> space_values("fast", "5:20:5"), space_values("fast", range(5, 20, 5))
    ([5, 10, 15, 20], [5, 10, 15])
    """
    if isinstance(value, str | Mapping | ParamSpace):
        return list(ParamSpace.from_value(value, name).expand())
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        return list(value)
    return [value]
