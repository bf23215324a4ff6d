"""RunSpec and SimOptions: the one description of a backtest, with a JSON round-trip.

The CLI, the jobs layer, the dashboard and the sweep machinery all build a :class:`RunSpec`
and pass it on; ``RunSpec.from_json(spec.to_json()) == spec`` always holds.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from engine.errors import ParamError

FILL_MODES = ("next_open", "close")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
PINNED_FIELDS = ("strategy_source", "strategy_sha256")


@dataclass(frozen=True)
class SimOptions:
    """How the simulation fills, charges and sizes. Field metadata carries the CLI help."""

    cash: float = field(default=100_000.0, metadata={"help": "starting cash"})
    commission: float = field(
        default=0.001, metadata={"help": "commission rate per fill (0.001 = 0.1%)"}
    )
    fee: float = field(default=0.0, metadata={"help": "fixed fee per fill, in cash units"})
    slippage_bps: float = field(
        default=0.0, metadata={"help": "slippage against each fill, in basis points"}
    )
    fill: str = field(
        default="next_open",
        metadata={
            "help": "next_open: fill at the next bar's open; close: at the signal bar's close"
        },
    )
    lot_size: float = field(
        default=0.0,
        metadata={"help": "round units down to whole lots (100 for A-shares); 0 = fractional"},
    )
    allow_short: bool = field(
        default=False, metadata={"help": "allow short positions (-1 targets)"}
    )
    stop_loss: float | None = field(
        default=None, metadata={"help": "stop-loss in percent of the entry price (e.g. 5)"}
    )
    take_profit: float | None = field(
        default=None, metadata={"help": "take-profit in percent of the entry price (e.g. 10)"}
    )
    periods_per_year: float | None = field(
        default=None, metadata={"help": "annualisation factor; default: bars per year of the data"}
    )
    risk_free: float = field(
        default=0.0, metadata={"help": "annual risk-free rate for Sharpe/Sortino"}
    )

    def validate(self) -> SimOptions:
        """Raise :class:`ParamError` with a one-line fix for any bad option; return self."""
        _finite("cash", self.cash, low=0.0, strict=True)
        _finite("commission", self.commission, low=0.0, high=0.5)
        _finite("fee", self.fee, low=0.0)
        _finite("slippage_bps", self.slippage_bps, low=0.0, high=10_000.0)
        _finite("lot_size", self.lot_size, low=0.0)
        if self.fill not in FILL_MODES:
            raise ParamError(f"--fill must be one of {', '.join(FILL_MODES)}, got {self.fill!r}")
        for name in ("stop_loss", "take_profit"):
            value = getattr(self, name)
            if value is not None:
                _finite(name, value, low=0.0, high=1_000.0, strict=True)
        if self.periods_per_year is not None:
            _finite("periods_per_year", self.periods_per_year, low=0.0, strict=True)
        _finite("risk_free", self.risk_free, low=-1.0, high=1.0)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParamError(
                f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def with_overrides(self, **overrides: Any) -> SimOptions:
        """A copy with some fields changed; unknown names are a :class:`ParamError`."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ParamError(
                f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return replace(self, **overrides)


def _finite(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    strict: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParamError(f"option {name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (strict and value == low)):
        op = ">" if strict else ">="
        raise ParamError(f"option {name} must be {op} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ParamError(f"option {name} must be <= {high:g}, got {value!r}")


def check_run_id(run_id: str) -> str:
    """A run id is a single safe path segment: letters, digits, '_', '-', '.', no '..'."""
    if not RUN_ID_RE.match(run_id) or ".." in run_id:
        raise ParamError(
            f"invalid run id {run_id!r}: use 1-128 letters, digits, '_', '-' or '.' "
            "(no '/', no '..')"
        )
    return run_id


def check_pinned(source: str | None, sha256: str | None) -> None:
    """A pinned strategy file is an ``s3://`` URI and a 64-hex sha256, both or neither."""
    if (source is None) != (sha256 is None):
        raise ParamError("strategy_source and strategy_sha256 go together: give both or neither")
    if source is not None and (not isinstance(source, str) or not source.startswith("s3://")):
        raise ParamError(f"strategy_source must be an s3://BUCKET/KEY address, got {source!r}")
    if sha256 is not None and (not isinstance(sha256, str) or not SHA256_RE.match(sha256)):
        raise ParamError(f"strategy_sha256 must be 64 lowercase hex digits, got {sha256!r}")


@dataclass(frozen=True)
class RunSpec:
    """One backtest: where the data is, what to run, how to simulate, where results go."""

    source_bucket: str
    source_key: str
    result_bucket: str
    strategy: str = "sma_cross"
    params: dict[str, Any] = field(default_factory=dict)
    options: SimOptions = field(default_factory=SimOptions)
    run_id: str | None = None
    user: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # A strategy file pinned to exact bytes (issue 12): the s3:// URI of the source to run
    # instead of strategies/<strategy>.py (a run's or a sweep's strategy.py), and its sha256.
    # None for built-ins; left out of the JSON when None, so built-in specs stay as they were.
    strategy_source: str | None = None
    strategy_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["options"] = asdict(self.options)
        for name in PINNED_FIELDS:
            if out[name] is None:
                del out[name]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParamError(f"unknown RunSpec field(s): {', '.join(unknown)}")
        data = dict(data)
        data["options"] = SimOptions.from_dict(dict(data.get("options") or {}))
        data["params"] = dict(data.get("params") or {})
        data["tags"] = dict(data.get("tags") or {})
        try:
            spec = cls(**data)
        except TypeError as exc:  # a required field is missing
            raise ParamError(f"incomplete RunSpec: {exc}") from None
        check_pinned(spec.strategy_source, spec.strategy_sha256)
        return spec

    @classmethod
    def from_json(cls, text: str | bytes) -> RunSpec:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParamError(f"run spec is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ParamError("run spec must be a JSON object")
        return cls.from_dict(data)
