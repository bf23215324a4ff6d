"""Pure form helpers for New run: registry schema -> widget specs, form values -> typed values.

No Streamlit here. Pages turn each :class:`FieldSpec` into one widget (a text input for
int/float, so the text shown is the value checked; ``checkbox`` for bool, ``selectbox`` for
choice) and hand the collected values to :mod:`app.form_checks`, which parses them and raises
the project's one-line :class:`~engine.errors.ParamError` on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from engine.errors import ParamError
from engine.sim.strategies import STRATEGIES, Strategy, get_strategy
from engine.spec import FILL_MODES, SimOptions
from engine.sweep.spec import ParamSpace

# SimOptions fields shown on the form, in order (the rest keep their defaults).
FORM_OPTIONS = (
    "cash",
    "commission",
    "fee",
    "slippage_bps",
    "fill",
    "lot_size",
    "allow_short",
    "stop_loss",
    "take_profit",
)
OPTIONAL_ZERO_OFF = ("stop_loss", "take_profit")  # 0 on the form means "no stop"
PARAM_PREFIX = "p_"


@dataclass(frozen=True)
class FieldSpec:
    """One form widget: ``widget`` is "number", "checkbox" or "select"."""

    name: str
    label: str
    widget: str
    default: Any
    help: str = ""
    kind: str = "float"  # int | float | bool | choice
    min_value: float | None = None
    max_value: float | None = None
    step: float | None = None
    options: tuple[Any, ...] = ()


def _number_step(kind: str, low: float | None, high: float | None) -> float:
    if kind == "int":
        return 1
    if low is not None and high is not None and high - low <= 1:
        return 0.01
    return 0.1 if high is not None and high <= 100 else 1.0


def param_fields(strategy: Strategy) -> list[FieldSpec]:
    """One FieldSpec per strategy parameter (bounds, default and help from the registry)."""
    out = []
    for p in strategy.params:
        label = f"{p.name} ({p.allowed()})"
        if p.kind in ("int", "float"):
            cast = int if p.kind == "int" else float
            out.append(
                FieldSpec(
                    p.name,
                    label,
                    "number",
                    cast(p.default),
                    p.help,
                    p.kind,
                    None if p.low is None else cast(p.low),
                    None if p.high is None else cast(p.high),
                    _number_step(p.kind, p.low, p.high),
                )
            )
        elif p.kind == "bool":
            out.append(FieldSpec(p.name, p.name, "checkbox", bool(p.default), p.help, "bool"))
        else:
            choices = tuple(p.choices or ())
            out.append(
                FieldSpec(p.name, p.name, "select", p.default, p.help, "choice", options=choices)
            )
    return out


def constraint_text(strategy: Strategy) -> list[str]:
    """The strategy's cross-parameter rules in words (shown under the form)."""
    return [c.message for c in strategy.constraints]


def option_fields() -> list[FieldSpec]:
    """FieldSpecs for the simulation options on the form, help from SimOptions metadata."""
    by_name = {f.name: f for f in fields(SimOptions)}
    out = []
    for name in FORM_OPTIONS:
        f = by_name[name]
        default = f.default if f.default is not MISSING else None
        help_ = str(f.metadata.get("help", ""))
        if name == "fill":
            out.append(
                FieldSpec(name, name, "select", default, help_, "choice", options=FILL_MODES)
            )
        elif name == "allow_short":
            out.append(FieldSpec(name, "allow short", "checkbox", bool(default), help_, "bool"))
        else:
            if name in OPTIONAL_ZERO_OFF:
                help_ += " (empty or 0 = off)"
            upper = {"commission": 0.5, "slippage_bps": 10_000.0}.get(name)
            upper = 1_000.0 if name in OPTIONAL_ZERO_OFF else upper
            step = {"commission": 0.0005, "cash": 1000.0, "lot_size": 1.0}.get(name, 1.0)
            out.append(
                FieldSpec(
                    name,
                    name.replace("_", " "),
                    "number",
                    float(default or 0.0),
                    help_,
                    "float",
                    0.0,
                    upper,
                    step,
                )
            )
    return out


# --- query parameters (prefill and "rerun with changes") ------------------------------------


@dataclass
class Prefill:
    """What New run takes from the URL; ``problems`` lists what was ignored and why."""

    files: list[str] = field(default_factory=list)
    strategy: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    space: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _as_list(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in items:
        out += [part.strip() for part in str(item).split(",") if part.strip()]
    return out


def _json_object(raw: Any, what: str, problems: list[str]) -> dict[str, Any]:
    try:
        data = json.loads(str(raw))
    except ValueError:
        problems.append(f"{what} is not valid JSON; ignored")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{what} must be a JSON object; ignored")
        return {}
    return data


def prefill_from_query(
    query: Mapping[str, Any], stored: Mapping[str, Strategy] | None = None
) -> Prefill:
    """Parse ``file``, ``strategy``, ``params`` (JSON), ``p_<name>=value``, ``options`` (JSON)
    and ``space`` (JSON name -> "5:50:5" or "a,b") from URL query parameters.

    ``stored`` holds the stored strategies' schemas by name (besides the built-ins). Unknown
    strategies and parameters are dropped with a note in ``problems``; values are coerced with
    the schema (a bad one is dropped, so the form shows the default).
    """
    known_strategies = {**(stored or {}), **STRATEGIES}
    pre = Prefill()
    if "file" in query:
        pre.files = _as_list(query["file"])
    name = query.get("strategy")
    if name:
        if str(name) in known_strategies:
            pre.strategy = str(name)
        else:
            pre.problems.append(f"unknown strategy {name!r} in the link; ignored")
    raw: dict[str, Any] = {}
    if "params" in query:
        raw.update(_json_object(query["params"], "params", pre.problems))
    for key, value in query.items():
        if key.startswith(PARAM_PREFIX):
            raw[key[len(PARAM_PREFIX) :]] = value
    strategy = known_strategies.get(pre.strategy or "") or get_strategy("sma_cross")
    known = {p.name for p in strategy.params}
    for key, value in raw.items():
        if key not in known:
            pre.problems.append(f"{strategy.name} has no parameter {key!r}; ignored")
            continue
        try:
            pre.params[key] = strategy.param(key).check(value)
        except ParamError as exc:
            pre.problems.append(f"{exc}; using the default")
    if "options" in query:
        opts = _json_object(query["options"], "options", pre.problems)
        pre.options = _coerce_options(opts, pre.problems)
    if "space" in query:
        space = _json_object(query["space"], "space", pre.problems)
        pre.space = {k: str(v) for k, v in space.items() if k in known}
    return pre


def _coerce_options(raw: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    specs = {f.name: f for f in option_fields()}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        spec = specs.get(key)
        if spec is None:
            problems.append(f"unknown option {key!r}; ignored")
        elif spec.kind == "bool":
            out[key] = bool(value)
        elif spec.kind == "choice":
            if value in spec.options:
                out[key] = value
            else:
                problems.append(f"{key} must be one of {', '.join(spec.options)}; ignored")
        else:
            try:
                out[key] = 0.0 if value is None else float(value)
            except (TypeError, ValueError):
                problems.append(f"option {key}={value!r} is not a number; ignored")
    return out


def range_defaults(spec: FieldSpec) -> tuple[Any, Any, Any]:
    """Start, stop and step a range input starts with: default .. about 2x default."""
    default = spec.default
    high = spec.max_value if spec.max_value is not None else default * 2
    if spec.kind == "int":
        int_step = max(1, int(default) // 5)
        return int(default), int(min(high, default + 4 * int_step)), int_step
    step = float(spec.step or 0.1)
    return float(default), float(min(high, default + 4 * step)), step


def space_texts(space: Any) -> dict[str, str]:
    """SweepSpec space (JSON list or mapping) -> name -> "5:50:5" / "a,b,c"."""
    if not space:
        return {}
    items = space if isinstance(space, list) else [{"name": k, **v} for k, v in space.items()]
    out = {}
    for item in items:
        name = str(item["name"])
        rest = {k: v for k, v in item.items() if k != "name"}
        out[name] = str(ParamSpace.from_dict(rest, name))
    return out
