"""Checks for the New run form (no Streamlit): the text shown is the value checked and sent.

Numbers on the form are text inputs, so nothing clamps or drops what the user typed: each
check here parses exactly that text against the strategy registry (``Param``) or
:class:`SimOptions` and returns the typed value, or raises :class:`ParamError` with one line
naming the field. Sweep steps have their own rule (a positive number, whole for int
parameters), not the parameter's bounds. The warm-up check compares the bars a run needs
(``warmup + 1``, as the engine does) with each chosen file's bar count.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from app.forms import FORM_OPTIONS, OPTIONAL_ZERO_OFF, FieldSpec, option_fields
from engine.errors import ParamError
from engine.sim.strategies import Param, Strategy, get_strategy
from engine.spec import SimOptions
from engine.sweep.spec import ParamSpace

SWEEP_MODES = ("fixed", "list", "range")
LIST_PREVIEW = 6  # values shown when describing a long list


# --- showing numbers -------------------------------------------------------------------------


def format_number(value: Any) -> str:
    """The shortest text that reads back as exactly ``value`` (no exponent, no rounding):
    10 -> "10", 100000.0 -> "100000", 0.0005 -> "0.0005", None -> ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        if f.is_integer() and abs(f) < 1e15:
            return str(int(f))
        return str(np.format_float_positional(f, unique=True, trim="-"))
    return str(value)


def format_percent(rate: float) -> str:
    """A rate as an exact percentage: 0.001 -> "0.1%", 0.0005 -> "0.05%"."""
    return format_number(float(Decimal(repr(float(rate))) * 100)) + "%"


def describe_option(name: str, value: Any) -> str:
    """One option as shown in hints and the confirmation, e.g. "commission 0.001 (0.1%)"."""
    label = name.replace("_", " ")
    if value is None:
        return f"{label} off"
    if name == "commission":
        return f"{label} {format_number(value)} ({format_percent(value)} of each fill)"
    if name == "slippage_bps":
        pct = format_percent(float(Decimal(repr(float(value))) / 10_000))
        return f"slippage {format_number(value)} bps ({pct} of each fill price)"
    if name in OPTIONAL_ZERO_OFF:
        return f"{label} {format_number(value)}% from entry"
    if isinstance(value, bool):
        return f"{label} {'yes' if value else 'no'}"
    return f"{label} {format_number(value)}"


# --- one field -------------------------------------------------------------------------------


def _clip(raw: Any, limit: int = 40) -> str:
    """Typed text as quoted in a message: at most ``limit`` characters."""
    text = str(raw)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(raw: Any) -> Any:
    return raw.strip() if isinstance(raw, str) else raw


def check_value(param: Param, raw: Any, label: str | None = None) -> Any:
    """``raw`` (the typed text) as ``param``'s kind within its bounds; ParamError otherwise."""
    label = label or param.name
    raw = _text(raw)
    if raw is None or raw == "":
        raise ParamError(f"{label}: enter a value ({param.allowed()})")
    try:
        value = param.coerce(raw)
    except ParamError:
        raise ParamError(f"{label}: {_clip(raw)} is not {_kind_words(param)}") from None
    if param.kind in ("int", "float") and (
        (param.low is not None and value < param.low)
        or (param.high is not None and value > param.high)
    ):
        raise ParamError(f"{label}: {_clip(raw)} is out of range; allowed {param.allowed()}")
    return value


def _kind_words(param: Param) -> str:
    if param.kind == "int":
        return f"a whole number; allowed {param.allowed()}"
    if param.kind == "float":
        return f"a number; allowed {param.allowed()}"
    return f"allowed; choose {param.allowed()}"


def check_step(param: Param, raw: Any) -> int | float:
    """A sweep step: a positive number (whole for int parameters). Its own rule, not the
    parameter's bounds: slow is 2..10000 but its step may be 1."""
    label = f"{param.name} step"
    raw = _text(raw)
    if raw is None or raw == "":
        raise ParamError(f"{label}: enter a step (a positive number)")
    kind = "int" if param.kind == "int" else "float"
    whole = " whole" if kind == "int" else ""
    try:
        step = Param(label, kind, 1).coerce(raw)
    except ParamError:
        raise ParamError(f"{label}: {_clip(raw)} is not a positive{whole} number") from None
    if not step > 0:
        raise ParamError(f"{label}: must be a positive{whole} number, got {_clip(raw)}")
    return step


@dataclass(frozen=True)
class AxisInput:
    """What the sweep form holds for one parameter: a fixed value, a list text, or a range
    (start, stop and step as typed)."""

    mode: str = "fixed"  # fixed | list | range
    value: Any = None
    text: str = ""
    start: Any = None
    stop: Any = None
    step: Any = None


def check_axis(param: Param, axis: AxisInput) -> Any:
    """A fixed value, or the :class:`ParamSpace` of a list or range; ParamError naming it."""
    if axis.mode == "fixed":
        return check_value(param, axis.value)
    if axis.mode == "list":
        return ParamSpace.parse(str(axis.text), param.name).resolve(param)
    if axis.mode != "range":
        raise ParamError(f"{param.name}: sweep mode must be one of {', '.join(SWEEP_MODES)}")
    if param.kind not in ("int", "float"):
        raise ParamError(f"{param.name}: a range needs a number; {param.name} is {param.kind}")
    start = check_value(param, axis.start, f"{param.name} start")
    stop = check_value(param, axis.stop, f"{param.name} stop")
    step = check_step(param, axis.step)
    if stop < start:
        raise ParamError(
            f"{param.name}: stop {format_number(stop)} is below start {format_number(start)}"
        )
    return ParamSpace(start=start, stop=stop, step=step).resolve(param)


def build_space(
    strategy_name: str, axes: Mapping[str, AxisInput]
) -> tuple[dict[str, Any], dict[str, ParamSpace]]:
    """(fixed parameters, swept spaces) from the sweep form; the first problem as ParamError."""
    strategy = get_strategy(strategy_name)
    fixed: dict[str, Any] = {}
    space: dict[str, ParamSpace] = {}
    for name, axis in axes.items():
        checked = check_axis(strategy.param(name), axis)
        if isinstance(checked, ParamSpace):
            space[name] = checked
        else:
            fixed[name] = checked
    if not space:
        raise ParamError("a sweep needs at least one parameter given as a list or a range")
    return fixed, space


def parse_params(strategy_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Each typed value checked, then the strategy's own validation (constraints)."""
    strategy = get_strategy(strategy_name)
    checked = {k: check_value(strategy.param(k), v) for k, v in values.items()}
    return strategy.validate(checked)


def check_option(spec: FieldSpec, raw: Any) -> Any:
    """One option's typed value: empty or 0 turns a stop off; numbers checked by SimOptions."""
    if spec.kind == "bool":
        return bool(raw)
    if spec.kind == "choice":
        if raw not in spec.options:
            raise ParamError(f"{spec.name} must be one of {', '.join(map(str, spec.options))}")
        return raw
    text = "" if raw is None else str(raw).strip()
    if text == "" and spec.name in OPTIONAL_ZERO_OFF:
        return None
    if text == "":
        raise ParamError(f"{spec.label}: enter a number")
    try:
        value = float(text)
    except ValueError:
        raise ParamError(f"{spec.label}: {_clip(text)} is not a number") from None
    if not math.isfinite(value):
        raise ParamError(f"{spec.label}: {_clip(text)} is not a finite number")
    if spec.name in OPTIONAL_ZERO_OFF and value == 0:
        return None
    SimOptions().with_overrides(**{spec.name: value}).validate()
    return value


def parse_options(values: Mapping[str, Any]) -> SimOptions:
    """SimOptions from the form's values (texts for numbers); ParamError for the first bad one."""
    specs = {s.name: s for s in option_fields()}
    data = {k: check_option(specs[k], v) for k, v in values.items() if k in FORM_OPTIONS}
    return SimOptions().with_overrides(**data).validate()


# --- warm-up against the chosen files --------------------------------------------------------


def _extremes(space: ParamSpace) -> tuple[Any, ...]:
    if space.is_range:
        return (space.value_at(0), space.value_at(space.size() - 1))
    values = space.values
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return (min(values), max(values))
    return values


def sweep_warmup(
    strategy: Strategy, fixed: Mapping[str, Any], space: Mapping[str, ParamSpace]
) -> tuple[int, dict[str, Any]]:
    """The longest warm-up over the sweep and the swept values giving it.

    Evaluated at every corner of the space (each axis at its lowest and highest value): exact
    for warm-ups that grow or shrink with each parameter, as every built-in's (the longest
    window) does.
    """
    base = {**strategy.defaults(), **fixed}
    names = list(space)
    best: tuple[int, dict[str, Any]] = (-1, {})
    for corner in itertools.product(*(_extremes(space[n]) for n in names)):
        swept = dict(zip(names, corner, strict=True))
        warmup = int(strategy.warmup_fn({**base, **swept}))
        if warmup > best[0]:
            best = (warmup, swept)
    return best


def bar_problems(bars_by_file: Mapping[str, int], warmup: int, what: str) -> list[str]:
    """One line per file too short for ``warmup`` (the engine needs warmup + 1 bars)."""
    needed = warmup + 1
    out = []
    for key, bars in bars_by_file.items():
        if bars <= 0:
            out.append(f"{key} does not validate as a price file; open it on Data to see why")
        elif bars < needed:
            out.append(
                f"{key} has {bars:,} bars; {what} needs at least {needed:,} "
                f"(a warm-up of {warmup:,} bars plus one)"
            )
    return out


def params_text(params: Mapping[str, Any]) -> str:
    """``fast=10, slow=50`` with exact numbers."""
    return ", ".join(f"{k}={format_number(v)}" for k, v in params.items())


# --- the confirmation: what was sent, read back ----------------------------------------------


def describe_space(space: ParamSpace) -> str:
    """``2..10000 step 1 (9,999 values)`` or ``5, 10, 20 (3 values)``."""
    n = space.size()
    count = f"{n:,} value{'s' if n != 1 else ''}"
    if space.is_range:
        first, last = space.value_at(0), space.value_at(n - 1)
        return (
            f"{format_number(first)}..{format_number(last)} step {format_number(space.step)} "
            f"({count})"
        )
    shown = [format_number(v) for v in space.values[:LIST_PREVIEW]]
    more = ", ..." if n > LIST_PREVIEW else ""
    return f"{', '.join(shown)}{more} ({count})"


def option_lines(options: Mapping[str, Any]) -> list[str]:
    """Every option on the form, as sent (from a spec's ``options`` dict)."""
    return [describe_option(name, options.get(name)) for name in FORM_OPTIONS if name in options]


def describe_run(spec: Mapping[str, Any]) -> str:
    """A submitted run's spec in one line: file, strategy with every parameter."""
    params = dict(spec.get("params") or {})
    return f"{spec.get('source_key')}: {spec.get('strategy')}({params_text(params)})"


def describe_sweep(record: Mapping[str, Any]) -> list[str]:
    """A submitted sweep's spec.json: size, swept and fixed parameters, files."""
    base = dict(record.get("base") or {})
    keys = [str(base.get("source_key")), *[str(k) for k in record.get("extra_keys") or []]]
    n = int(record.get("n_combinations") or 0)
    mode = str(record.get("mode", "grid"))
    if mode == "random":
        mode = f"random: n={record.get('n')}, seed={record.get('seed')}"
    lines = [
        f"{plural(n, 'combination')} x {plural(len(keys), 'file')} = "
        f"{plural(n * len(keys), 'backtest')} of {base.get('strategy')} ({mode})"
    ]
    for item in record.get("space") or []:
        rest = {k: v for k, v in item.items() if k != "name"}
        lines.append(f"{item['name']}: {describe_space(ParamSpace.from_dict(rest, item['name']))}")
    fixed = dict(base.get("params") or {})
    if fixed:
        lines.append(f"fixed: {params_text(fixed)}")
    lines.append(f"files: {', '.join(keys)}")
    return lines


def plural(n: int, word: str) -> str:
    """``1 run``, ``3 runs``, ``1,000 combinations``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def submit_label(mode: str, n_files: int, n_combinations: int = 0) -> str:
    """The Submit button: "Submit 1 run", "Submit 3 runs", "Submit sweep of 42 combinations"."""
    if mode != "Sweep":
        return f"Submit {plural(n_files, 'run')}"
    label = f"Submit sweep of {plural(n_combinations, 'combination')}"
    return label if n_files == 1 else f"{label} x {plural(n_files, 'file')}"


def text_defaults(values: Sequence[Any]) -> list[str]:
    """Numbers as the text a form field starts with."""
    return [format_number(v) for v in values]
