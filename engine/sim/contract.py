"""The strategy-file contract: reading NAME, DESCRIPTION, PARAMS, CONSTRAINTS and ``signal``.

A strategy file is one Python module::

    NAME = "close_above_sma"            # [a-z][a-z0-9_]{0,63}; built-in names are taken
    DESCRIPTION = "Long while close > SMA(close, window)."
    PARAMS = {"window": {"type": "int", "default": 15, "min": 2, "max": 500, "help": "bars"}}
    CONSTRAINTS = []  # optional: [("fast < slow", lambda p: p["fast"] < p["slow"])]
    def signal(bars, p): ...  # -> float64 array, one target per bar (> 0 long, < 0 short)

This module turns an imported module's attributes into the registry's :class:`Param` and
:class:`Constraint` objects and the JSON schema the sidecar stores, refusing anything else with
one :class:`StrategyError` line naming the file, the rule and the fix. It runs no user code
except reading those attributes (the caller has imported the module: the probe subprocess or
the engine).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import StrategyError

if TYPE_CHECKING:  # imported where used: engine.sim.strategies builds its built-ins with this
    from engine.sim.strategies import Constraint, Param

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_REST = _LOWER | frozenset("0123456789_")


def is_name(text: object) -> bool:
    """A strategy NAME: ``[a-z][a-z0-9_]{0,63}``."""
    return _word(text, _LOWER)


def is_param_name(text: object) -> bool:
    """A parameter name: ``[a-z_][a-z0-9_]{0,63}``."""
    return _word(text, _LOWER | {"_"})


def _word(text: object, first: frozenset[str]) -> bool:
    return (
        isinstance(text, str)
        and 1 <= len(text) <= 64
        and text[0] in first
        and all(ch in _REST for ch in text)
    )


PARAM_KEYS = {"type", "default", "min", "max", "help", "choices"}
MAX_DESCRIPTION = 1000
MAX_PARAMS = 32
PARAM_KINDS = ("int", "float", "bool", "choice")


def fail(filename: str, rule: str, fix: str) -> StrategyError:
    """``<file>: <rule>; <fix>`` as a :class:`StrategyError`."""
    return StrategyError(f"{filename}: {rule}; {fix}")


def read_name(module: Any, filename: str, builtin_names: frozenset[str]) -> str:
    name = getattr(module, "NAME", None)
    if not isinstance(name, str) or not is_name(name):
        raise fail(
            filename,
            f"NAME must be a string matching [a-z][a-z0-9_]{{0,63}}, got {name!r}",
            'set e.g. NAME = "close_above_sma"',
        )
    if name in builtin_names:
        raise fail(
            filename,
            f"NAME {name!r} is a built-in strategy",
            "pick another name (built-ins: " + ", ".join(sorted(builtin_names)) + ")",
        )
    return name


def read_description(module: Any, filename: str) -> str:
    text = getattr(module, "DESCRIPTION", None)
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_DESCRIPTION:
        raise fail(
            filename,
            f"DESCRIPTION must be a non-empty string of at most {MAX_DESCRIPTION} characters",
            'set e.g. DESCRIPTION = "Long while close > SMA(close, window)."',
        )
    return " ".join(text.split())


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _param(filename: str, name: Any, spec: Any) -> Param:
    from engine.sim.strategies import Param

    where = f"PARAMS[{name!r}]"
    if not isinstance(name, str) or not is_param_name(name):
        raise fail(
            filename,
            f"parameter name {name!r} must match [a-z_][a-z0-9_]{{0,63}}",
            "rename it, e.g. 'window'",
        )
    if not isinstance(spec, Mapping):
        raise fail(
            filename,
            f"{where} must be a dict",
            'write {"type": "int", "default": 15, "min": 2, "max": 500, "help": "..."}',
        )
    unknown = sorted(str(k) for k in set(spec) - PARAM_KEYS)
    if unknown:
        raise fail(
            filename,
            f"{where} has unknown key(s) {', '.join(unknown)}",
            f"use only {', '.join(sorted(PARAM_KEYS))}",
        )
    kind = spec.get("type")
    if kind not in PARAM_KINDS:
        raise fail(filename, f"{where}['type'] is {kind!r}", f"use one of {', '.join(PARAM_KINDS)}")
    if "default" not in spec:
        raise fail(filename, f"{where} has no 'default'", "give every parameter a default")
    if not isinstance(spec.get("help", ""), str):
        raise fail(filename, f"{where}['help'] must be a string", "write a short help text")
    if kind != "choice" and spec.get("choices") is not None:
        raise fail(filename, f"{where}: only a choice takes 'choices'", "remove 'choices'")
    if kind in ("choice", "bool") and (spec.get("min") is not None or spec.get("max") is not None):
        raise fail(filename, f"{where}: a {kind} takes no min/max", "remove min and max")
    if kind == "choice":
        return _choice(filename, where, name, spec)
    if kind == "bool":
        if not isinstance(spec["default"], bool):
            raise fail(filename, f"{where}: default must be True or False", "fix the default")
        return Param(name, kind, spec["default"], None, None, spec.get("help", ""))
    return _numeric(filename, where, name, spec)


def _choice(filename: str, where: str, name: str, spec: Mapping[str, Any]) -> Param:
    from engine.sim.strategies import Param

    choices = spec.get("choices")
    if not isinstance(choices, list | tuple) or not choices:
        raise fail(filename, f"{where}: a choice needs 'choices'", 'e.g. "choices": ["a", "b"]')
    if not all(isinstance(c, str | int | float) and not isinstance(c, bool) for c in choices):
        raise fail(filename, f"{where}['choices'] must be strings or numbers", "fix the list")
    if len(set(choices)) != len(choices):
        raise fail(filename, f"{where}['choices'] has duplicates", "list each choice once")
    if spec["default"] not in choices:
        raise fail(filename, f"{where}: default {spec['default']!r} is not a choice", "fix it")
    return Param(name, "choice", spec["default"], None, None, spec.get("help", ""), tuple(choices))


def _numeric(filename: str, where: str, name: str, spec: Mapping[str, Any]) -> Param:
    from engine.sim.strategies import Param

    kind, low, high, default = spec["type"], spec.get("min"), spec.get("max"), spec["default"]
    for key, bound in (("min", low), ("max", high)):
        if bound is not None and not _number(bound):
            raise fail(filename, f"{where}['{key}'] must be a finite number", "fix the bound")
        if bound is not None and kind == "int" and not float(bound).is_integer():
            raise fail(filename, f"{where}['{key}'] must be a whole number", "fix the bound")
    if low is not None and high is not None and low > high:
        raise fail(filename, f"{where}: min {low} is above max {high}", "swap or fix them")
    if not (_number(default) and (kind == "float" or isinstance(default, int))):
        raise fail(filename, f"{where}: default {default!r} is not a {kind}", "fix the default")
    cast = int if kind == "int" else float
    param = Param(
        name,
        kind,
        cast(default),
        None if low is None else cast(low),
        None if high is None else cast(high),
        spec.get("help", ""),
    )
    if (param.low is not None and param.default < param.low) or (
        param.high is not None and param.default > param.high
    ):
        raise fail(
            filename,
            f"{where}: default {default!r} is outside min..max ({param.allowed()})",
            "move the default within the bounds",
        )
    return param


def read_params(module: Any, filename: str) -> tuple[Param, ...]:
    params = getattr(module, "PARAMS", None)
    if not isinstance(params, Mapping):
        raise fail(
            filename,
            "PARAMS must be a dict of name -> {type, default, min, max, help}",
            "write PARAMS = {} for a strategy without parameters",
        )
    if len(params) > MAX_PARAMS:
        raise fail(filename, f"PARAMS has {len(params)} entries", f"use at most {MAX_PARAMS}")
    return tuple(_param(filename, name, spec) for name, spec in params.items())


def read_constraints(module: Any, filename: str, names: tuple[str, ...]) -> tuple[Constraint, ...]:
    """CONSTRAINTS as registry Constraints: ``(name, function)`` pairs, optionally with a third
    element, the parameters the rule involves (shown in the refusal; default: all)."""
    from engine.sim.strategies import Constraint

    raw = getattr(module, "CONSTRAINTS", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list | tuple):
        raise fail(
            filename,
            "CONSTRAINTS must be a list of (name, function) pairs",
            'write e.g. CONSTRAINTS = [("fast < slow", lambda p: p["fast"] < p["slow"])]',
        )
    out: list[Constraint] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        ok = isinstance(item, list | tuple) and len(item) in (2, 3)
        label, check = (item[0], item[1]) if ok else (None, None)
        involved = tuple(item[2]) if ok and len(item) == 3 else names
        if (
            not ok
            or not isinstance(label, str)
            or not label.strip()
            or not callable(check)
            or not involved
            or not set(involved) <= set(names)
        ):
            raise fail(
                filename,
                f"CONSTRAINTS[{i}] must be a (name, function) pair",
                'write e.g. ("fast < slow", lambda p: p["fast"] < p["slow"])',
            )
        label = " ".join(label.split())
        if label in seen:
            raise fail(filename, f"constraint {label!r} is listed twice", "name each one once")
        seen.add(label)
        out.append(Constraint(involved, check, label))
    return tuple(out)


def read_signal(module: Any, filename: str) -> Callable[..., Any]:
    fn = getattr(module, "signal", None)
    if not callable(fn):
        raise fail(
            filename,
            "no function signal(bars, p)",
            "define def signal(bars, p): returning one float64 target per bar",
        )
    code = getattr(fn, "__code__", None)  # a plain function: does it take (bars, p)?
    if code is not None:
        n_args, n_defaults = code.co_argcount, len(getattr(fn, "__defaults__", None) or ())
        takes_more = bool(code.co_flags & 0x04)  # *args
        if n_args - n_defaults > 2 or (n_args < 2 and not takes_more):
            raise fail(
                filename, "signal must take two arguments (bars, p)", "write def signal(bars, p):"
            )
    return fn


def read_module(
    module: Any, filename: str, taken: frozenset[str]
) -> tuple[str, str, tuple[Param, ...], tuple[Constraint, ...], Callable[..., Any]]:
    """(NAME, DESCRIPTION, params, constraints, signal) of an imported strategy module; the one
    reader of the contract, for the built-ins (engine.sim.builtin) and the team's files alike.
    ``taken``: names a file may not use (the built-ins')."""
    name = read_name(module, filename, taken)
    description = read_description(module, filename)
    params = read_params(module, filename)
    constraints = read_constraints(module, filename, tuple(p.name for p in params))
    return name, description, params, constraints, read_signal(module, filename)


def schema_json(
    name: str, description: str, params: tuple[Param, ...], constraints: tuple[Constraint, ...]
) -> dict[str, Any]:
    """The schema as JSON (what the probe returns and the sidecar stores)."""
    return {
        "name": name,
        "description": description,
        "params": [param_json(p) for p in params],
        "constraints": [c.message for c in constraints],
    }


def param_json(p: Param) -> dict[str, Any]:
    return {
        "name": p.name,
        "type": p.kind,
        "default": p.default,
        "min": p.low,
        "max": p.high,
        "help": p.help,
        "choices": None if p.choices is None else list(p.choices),
    }


def param_from_json(d: Mapping[str, Any]) -> Param:
    """A :class:`Param` from :func:`param_json`'s dict (sidecars; no user code)."""
    from engine.sim.strategies import Param

    choices = d.get("choices")
    return Param(
        str(d["name"]),
        str(d["type"]),
        d["default"],
        d.get("min"),
        d.get("max"),
        str(d.get("help") or ""),
        None if choices is None else tuple(choices),
    )
