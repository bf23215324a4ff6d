"""Walk-forward windows: the spec (``IS:OOS[:STEP]``, rolling or anchored) and its windows.

Lengths are bar counts (``252``) or calendar periods (``2Y``, ``6M``, ``3W``, ``10D``); the
three lengths of one spec are of one kind. Window ``k`` (``k = 0, 1, ...``) over a file of ``n``
bars with timestamps ``ts``:

- bars: in-sample ``[s, s + IS)`` with ``s = k * STEP`` (rolling) or ``s = 0`` and the in-sample
  end ``IS + k * STEP`` (anchored); out-of-sample ``[is_stop, min(is_stop + OOS, n))``;
- calendar: the same in time from ``ts[0]`` (``ts[0] + k * STEP`` etc.), each bound mapped to
  the first bar at or after it.

A window whose out-of-sample part has fewer than 2 bars ends the list. ``STEP`` defaults to
``OOS``; a ``STEP`` shorter than ``OOS`` is refused (out-of-sample windows would overlap, and the
stitched curve could not chain them). By construction ``is_stop == oos_start``: no window's
out-of-sample bars are in its in-sample part, and out-of-sample windows never overlap.

Constraints (``max_drawdown<0.3``, ``n_trades>=10``) filter the in-sample candidates; they are
parsed here too (never evaluated as code).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from engine.errors import ParamError
from engine.sim.metric_registry import BY_NAME, METRICS

_PERIOD_RE = re.compile(r"^(\d+)([YMWD])$")
_CONSTRAINT_RE = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# metrics a walk-forward can maximise (higher is better, so "best" and efficiency are defined)
WF_METRICS: tuple[str, ...] = tuple(
    m.name for m in METRICS if m.better == "higher" and m.name != "buy_hold_return"
)
DEFAULT_METRIC = "sharpe"
MAX_WINDOWS = 1_000


def _length(text: Any, what: str) -> int | str:
    """A bar count (int >= 2) or a calendar period like '6M' (returned upper-case)."""
    if isinstance(text, bool):
        raise ParamError(f"walk-forward {what}: {text!r} is not a length")
    if isinstance(text, int):
        value: int | str = text
    else:
        raw = str(text).strip().upper()
        if raw.isdigit():
            value = int(raw)
        elif _PERIOD_RE.match(raw):
            value = raw
        else:
            raise ParamError(
                f"walk-forward {what}: {text!r} is neither a bar count (252) nor a period "
                "(2Y, 6M, 3W, 10D)"
            )
    if isinstance(value, int) and value < (2 if what != "step" else 1):
        raise ParamError(f"walk-forward {what} must be at least 2 bars, got {value}")
    if isinstance(value, str) and int(value[:-1]) < 1:
        raise ParamError(f"walk-forward {what} must be a positive period, got {value}")
    return value


def _offset(period: str, times: int = 1) -> pd.DateOffset:
    count, unit = int(period[:-1]) * times, period[-1]
    if unit == "Y":
        return pd.DateOffset(years=count)
    if unit == "M":
        return pd.DateOffset(months=count)
    return pd.DateOffset(days=count * (7 if unit == "W" else 1))


def _approx_days(period: str) -> float:
    return int(period[:-1]) * {"Y": 365.25, "M": 30.44, "W": 7.0, "D": 1.0}[period[-1]]


@dataclass(frozen=True)
class WalkForwardSpec:
    """In-sample length, out-of-sample length, step (default: OOS), anchored or rolling, the
    metric to maximise in-sample and constraints on the in-sample metrics."""

    in_sample: int | str
    out_of_sample: int | str
    step: int | str | None = None
    anchored: bool = False
    metric: str = DEFAULT_METRIC
    constraints: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        anchored: bool = False,
        metric: str = DEFAULT_METRIC,
        constraints: Sequence[str] = (),
    ) -> WalkForwardSpec:
        """``"IS:OOS[:STEP]"`` (e.g. ``"756:252"`` or ``"2Y:6M:3M"``), validated."""
        parts = [p.strip() for p in str(text).split(":")]
        if len(parts) not in (2, 3) or not all(parts):
            raise ParamError(
                f"--walk-forward takes IS:OOS[:STEP] (bars like 756:252 or periods like 2Y:6M), "
                f"got {text!r}"
            )
        step = parts[2] if len(parts) == 3 else None
        return cls(parts[0], parts[1], step, anchored, metric, tuple(constraints)).validate()

    @classmethod
    def from_value(cls, value: Any) -> WalkForwardSpec:
        if isinstance(value, WalkForwardSpec):
            return value
        if not isinstance(value, Mapping):
            raise ParamError("walk_forward must be an object {in_sample, out_of_sample, ...}")
        known = {"in_sample", "out_of_sample", "step", "anchored", "metric", "constraints"}
        extra = sorted(set(value) - known)
        if extra:
            raise ParamError(f"unknown walk_forward field(s): {', '.join(extra)}")
        if "in_sample" not in value or "out_of_sample" not in value:
            raise ParamError("walk_forward needs in_sample and out_of_sample")
        return cls(
            value["in_sample"],
            value["out_of_sample"],
            value.get("step"),
            bool(value.get("anchored", False)),
            str(value.get("metric", DEFAULT_METRIC)),
            tuple(value.get("constraints") or ()),
        ).validate()

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
            "step": self.step,
            "anchored": self.anchored,
            "metric": self.metric,
            "constraints": list(self.constraints),
        }

    @property
    def effective_step(self) -> int | str:
        return self.out_of_sample if self.step is None else self.step

    @property
    def calendar(self) -> bool:
        return isinstance(self.in_sample, str)

    def validate(self) -> WalkForwardSpec:
        """ParamError (one line) for a bad length, mixed kinds, STEP < OOS, a metric that
        cannot be maximised or a bad constraint; a normalised copy otherwise."""
        is_len = _length(self.in_sample, "in-sample length")
        oos = _length(self.out_of_sample, "out-of-sample length")
        step = oos if self.step in (None, "") else _length(self.step, "step")
        kinds = {type(v) for v in (is_len, oos, step)}
        if len(kinds) != 1:
            raise ParamError(
                "walk-forward lengths must all be bars (756:252:126) or all periods (3Y:1Y:6M), "
                f"got {is_len}:{oos}:{step}"
            )
        shorter = (
            step < oos  # type: ignore[operator]
            if isinstance(oos, int)
            else _approx_days(str(step)) < _approx_days(str(oos))
        )
        if shorter:
            raise ParamError(
                f"walk-forward step {step} is shorter than the out-of-sample length {oos}: the "
                "out-of-sample windows would overlap; use a step >= OOS (default: OOS)"
            )
        if self.metric not in WF_METRICS:
            raise ParamError(
                f"--wf-metric {self.metric!r} cannot be maximised; use one of "
                f"{', '.join(WF_METRICS)}"
            )
        for c in self.constraints:
            parse_constraint(c)
        return WalkForwardSpec(
            is_len,
            oos,
            None if self.step in (None, "") else step,
            bool(self.anchored),
            self.metric,
            tuple(" ".join(str(c).split()) for c in self.constraints),
        )

    def label(self) -> str:
        kind = "anchored" if self.anchored else "rolling"
        return f"{kind} {self.in_sample}:{self.out_of_sample}:{self.effective_step}"


# --- constraints ---------------------------------------------------------------------------


class Constraint(NamedTuple):
    """``metric op value``, e.g. ``max_drawdown < 0.3``."""

    metric: str
    op: str
    value: float

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Elementwise; NaN never satisfies a constraint."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            compare: Any = OPS[self.op]  # the operator module works elementwise on arrays
            return np.asarray(compare(v, self.value), dtype=np.bool_) & np.isfinite(v)


def parse_constraint(text: str) -> Constraint:
    """``"max_drawdown<0.3"`` -> Constraint; ParamError naming the accepted form."""
    m = _CONSTRAINT_RE.match(str(text))
    if not m:
        raise ParamError(
            f"--wf-constraint {text!r} must be METRIC OP NUMBER with OP one of < <= > >=, "
            "e.g. max_drawdown<0.3 or n_trades>=10"
        )
    name, op, raw = m.groups()
    if name not in BY_NAME or BY_NAME[name].flag:
        raise ParamError(f"--wf-constraint {text!r}: unknown metric {name!r}")
    try:
        value = float(raw)
    except ValueError:
        raise ParamError(f"--wf-constraint {text!r}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ParamError(f"--wf-constraint {text!r}: {raw!r} is not a finite number")
    return Constraint(name, op, value)


# --- windows -------------------------------------------------------------------------------


class Window(NamedTuple):
    """Bar indices (half-open) of one walk-forward window: in-sample, then out-of-sample."""

    number: int
    is_start: int
    is_stop: int
    oos_start: int
    oos_stop: int

    def to_dict(self) -> dict[str, int]:
        return self._asdict()


def windows(spec: WalkForwardSpec, timestamps: pd.DatetimeIndex) -> list[Window]:
    """The windows of ``spec`` over bars with ``timestamps`` (sorted); ParamError when there is
    not one window with >= 2 in-sample and >= 2 out-of-sample bars."""
    spec = spec.validate()
    n = len(timestamps)
    out = _calendar_windows(spec, timestamps) if spec.calendar else (_bar_windows(spec, n))
    out = [w for w in out if w.is_stop - w.is_start >= 2]
    if len(out) > MAX_WINDOWS:
        raise ParamError(
            f"walk-forward {spec.label()} makes more than {MAX_WINDOWS:,} windows on {n:,} bars; "
            "use a longer step"
        )
    if not out:
        raise ParamError(
            f"walk-forward {spec.label()} leaves no window on {n} bars: the data must hold at "
            "least one in-sample length plus 2 bars"
        )
    return out


def _bar_windows(spec: WalkForwardSpec, n: int) -> list[Window]:
    is_len, oos, step = int(spec.in_sample), int(spec.out_of_sample), int(spec.effective_step)
    out: list[Window] = []
    for k in range(MAX_WINDOWS + 1):  # one more: more than MAX_WINDOWS is refused
        start = 0 if spec.anchored else k * step
        is_stop = (is_len + k * step) if spec.anchored else start + is_len
        oos_stop = min(is_stop + oos, n)
        if oos_stop - is_stop < 2:
            break
        out.append(Window(k, start, is_stop, is_stop, oos_stop))
    return out


def _calendar_windows(spec: WalkForwardSpec, ts: pd.DatetimeIndex) -> list[Window]:
    n = len(ts)
    if n == 0:
        return []
    t0 = ts[0]
    step, is_len, oos = str(spec.effective_step), str(spec.in_sample), str(spec.out_of_sample)
    out: list[Window] = []
    for k in range(MAX_WINDOWS + 1):  # one more: more than MAX_WINDOWS is refused
        shift = t0 + _offset(step, k) if k else t0
        start_t = t0 if spec.anchored else shift
        is_end_t = shift + _offset(is_len)
        oos_end_t = is_end_t + _offset(oos)
        start, is_stop, oos_stop = (
            int(ts.searchsorted(t, side="left")) for t in (start_t, is_end_t, oos_end_t)
        )
        if oos_stop - is_stop < 2:
            break
        out.append(Window(k, start, is_stop, is_stop, oos_stop))
    return _no_overlap(out)


def _no_overlap(out: list[Window]) -> list[Window]:
    """Calendar arithmetic (month ends) can make one out-of-sample window reach into the next
    one's: cut it at the next one's start, and drop windows left with < 2 bars."""
    fixed: list[Window] = []
    for i, w in enumerate(out):
        stop = min(w.oos_stop, out[i + 1].oos_start) if i + 1 < len(out) else w.oos_stop
        if stop - w.oos_start >= 2:
            fixed.append(w._replace(oos_stop=stop))
    return [w._replace(number=i) for i, w in enumerate(fixed)]


__all__ = [
    "WF_METRICS",
    "Constraint",
    "WalkForwardSpec",
    "Window",
    "parse_constraint",
    "windows",
]
