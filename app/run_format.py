"""How a run reads on screen and in its report: metric text, tooltips, ruin, options, labels.

One formatting for every place a run's figures appear (metric cards, the Compare table, the
HTML report), so a number reads the same everywhere. No Streamlit here.

- Metric text is short enough for a metric card (at most ~9 characters): large amounts are
  compacted ("1.24M"), the full value goes into the tooltip. A metric that is missing, NaN or
  not meaningful (a ratio across a ruin) is "—", never a number, with a tooltip saying why.
- Options: the spec's options are compared with the engine's own defaults
  (:class:`engine.spec.SimOptions`), so only what differs is named, and the defaults live in
  one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import pandas as pd

from engine.sim.metric_registry import BY_NAME, DISPLAY_ORDER, RUIN_UNDEFINED
from engine.spec import SimOptions

MISSING = "—"

# metric -> (label, kind), in display order, from engine.sim.metric_registry; kind picks the
# format: pct, ratio, count, money
METRIC_FORMATS: dict[str, tuple[str, str]] = {
    name: (BY_NAME[name].label, BY_NAME[name].fmt) for name in DISPLAY_ORDER
}
# Not meaningful across a ruin (RUIN_CONTRACT): shown as "—" whatever the file holds.
RUIN_INVALID = frozenset(RUIN_UNDEFINED)
CARDS_PER_ROW = 4

_UNDEFINED = {
    "win_rate": "no closed trades",
    "avg_trade_return": "no trades",
    "profit_factor": "no losing trades (or no trades)",
    "sharpe": "returns do not vary (or too few bars)",
    "sortino": "no negative returns (or too few bars)",
    "calmar": "no drawdown",
    "cagr": "the data spans no time",
    "volatility": "too few bars",
}


def _number(value: Any) -> float | None:
    """A finite-or-infinite float, or None for missing/NaN/non-numbers."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def compact(number: float, decimals: int = 2) -> str:
    """1234 -> '1,234'; 240383.1 -> '240,383'; 12_345_678 -> '12.35M'; 3.2e12 -> '3.20T';
    beyond 1e15 scientific ('1.2e+17')."""
    size = abs(number)
    if size >= 1e15:
        return f"{number:.1e}"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if size >= scale:
            return f"{number / scale:,.{decimals}f}{suffix}"
    if size >= 1e5:
        return f"{number:,.0f}"
    return f"{number:,.{decimals}f}"


def is_ruined(metrics: Mapping[str, Any]) -> bool:
    """True when the run hit ruin (``ruined_at`` set, or ``ruined`` true)."""
    return bool(metrics.get("ruined_at")) or metrics.get("ruined") is True


def shown_value(name: str, metrics: Mapping[str, Any]) -> float | None:
    """The metric as a number to show, or None when it must show as "—"."""
    if is_ruined(metrics) and name in RUIN_INVALID:
        return None
    return _number(metrics.get(name))


def format_metric(name: str, value: Any) -> str:
    """A metric as text: '12.34%', '1.05', '1,854', '240,383'; missing/NaN -> '—'."""
    number = _number(value)
    if number is None:
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    kind = METRIC_FORMATS.get(name, (name, "ratio"))[1]
    if kind == "pct":
        pct = number * 100
        if abs(pct) >= 1e5:
            return compact(pct) + "%"
        return f"{pct:,.0f}%" if abs(pct) >= 1_000 else f"{pct:.2f}%"
    if kind in ("count", "bars"):
        return f"{number:,.0f}" if abs(number) < 1e6 else compact(number)
    if kind == "money":
        return compact(number)
    return f"{number:.2f}" if abs(number) < 1e4 else compact(number)


def full_text(name: str, value: Any) -> str:
    """The metric at full useful precision (for tooltips and the report's title attribute)."""
    number = _number(value)
    if number is None or math.isinf(number):
        return format_metric(name, value)
    kind = METRIC_FORMATS.get(name, (name, "ratio"))[1]
    if kind == "pct":
        return f"{number * 100:,.4f}% ({number:.6g})"
    if kind in ("count", "bars"):
        return f"{number:,.0f}"
    if kind == "money":
        return f"{number:,.2f}"
    return f"{number:.6g}"


def ruin_date(metrics: Mapping[str, Any]) -> str:
    """The ruin bar as text: '2024-03-05' for a daily bar, else '2024-03-05 14:30'."""
    raw = metrics.get("ruined_at")
    if not raw:
        return "an unrecorded bar"
    return format_time(raw)


def format_time(value: Any) -> str:
    """A timestamp without a time of day when it is midnight ('2024-03-05')."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if stamp is pd.NaT:
        return ""
    if stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M" if stamp.second == 0 else "%Y-%m-%d %H:%M:%S")


def ruin_warning(metrics: Mapping[str, Any]) -> str | None:
    """The red warning for a ruined run (RUIN_CONTRACT wording), None otherwise."""
    if not is_ruined(metrics):
        return None
    return (
        f"Ruined on {ruin_date(metrics)}: equity reached zero; the run was closed and stayed "
        "flat. Sharpe, Sortino, volatility, Calmar and CAGR are not meaningful across a ruin "
        "and are not shown."
    )


def metric_help(name: str, metrics: Mapping[str, Any]) -> str:
    """Tooltip: the full value, or why the metric shows as '—'."""
    if is_ruined(metrics) and name in RUIN_INVALID:
        return (
            f"Not meaningful: the run was ruined on {ruin_date(metrics)} (equity reached zero), "
            "and this statistic is not computed across a ruin."
        )
    value = metrics.get(name)
    if _number(value) is None:
        reason = _UNDEFINED.get(name, "not defined for this run")
        return f"Not defined for this run: {reason}."
    if name == "max_drawdown_duration":
        return f"Longest drawdown, peak to recovery: {full_text(name, value)} bars"
    return full_text(name, value)


@dataclass(frozen=True)
class Card:
    """One metric card: label, short value text, tooltip."""

    name: str
    label: str
    value: str
    help: str


def metric_cards(metrics: Mapping[str, Any]) -> list[Card]:
    """A card for every known metric present, in display order (ruin-invalid ones as '—')."""
    return [
        Card(
            name, label, format_metric(name, shown_value(name, metrics)), metric_help(name, metrics)
        )
        for name, (label, _) in METRIC_FORMATS.items()
        if name in metrics
    ]


def metric_texts(metrics: Mapping[str, Any]) -> dict[str, str]:
    """label -> value text, as the cards show them (for tables: Compare, the report)."""
    return {card.label: card.value for card in metric_cards(metrics)}


# -- how a run was made ---------------------------------------------------------------------

_OPTION_LABELS = {
    "cash": "cash",
    "commission": "commission",
    "fee": "fee per fill",
    "slippage_bps": "slippage",
    "fill": "fill",
    "lot_size": "lot size",
    "allow_short": "shorting",
    "stop_loss": "stop-loss",
    "take_profit": "take-profit",
    "periods_per_year": "periods per year",
    "risk_free": "risk-free rate",
}


def option_defaults() -> dict[str, Any]:
    """The engine's own defaults (SimOptions), the one source of them."""
    return asdict(SimOptions())


def option_text(name: str, value: Any) -> str:
    """'commission 0.05%', 'slippage 5 bps', 'fill at close', 'long/short', 'stop-loss 5%'."""
    label = _OPTION_LABELS.get(name, name)
    if value is None:
        return f"{label} off"
    if name == "allow_short":
        return "long/short" if value else "long only"
    if name == "fill":
        return {"next_open": "fill at next open", "close": "fill at close"}.get(
            str(value), f"fill {value}"
        )
    if name in ("commission", "risk_free"):
        return f"{label} {_percent(float(value))}"
    if name == "slippage_bps":
        return f"{label} {float(value):g} bps"
    if name in ("stop_loss", "take_profit"):
        return f"{label} {float(value):g}%"
    if name == "lot_size":
        return "fractional units" if not value else f"lots of {float(value):g}"
    if name == "cash":
        return f"{label} {float(value):,.0f}" if float(value) == int(value) else (
            f"{label} {float(value):,.2f}"
        )  # fmt: skip
    if name == "fee":
        return f"{label} {float(value):,.2f}"
    return f"{label} {value:g}" if isinstance(value, float) else f"{label} {value}"


def _percent(rate: float) -> str:
    """0.001 -> '0.1%', 0.0005 -> '0.05%', 0.00001 -> '0.001%' (never a non-zero 0%)."""
    return f"{rate * 100:.6g}%"


def non_default_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's options that differ from the engine's defaults, in SimOptions field order."""
    options = dict(spec.get("options") or {})
    defaults = option_defaults()
    return {
        f.name: options[f.name]
        for f in fields(SimOptions)
        if f.name in options and options[f.name] != defaults[f.name]
    }


def describe_spec(spec: Mapping[str, Any]) -> str:
    """'sma_cross(fast=10, slow=50) on samples/x.csv' from a spec.json record."""
    params = ", ".join(f"{k}={v}" for k, v in dict(spec.get("params") or {}).items())
    return f"{spec.get('strategy', '?')}({params}) on {spec.get('source_key', '?')}"


def describe_options(spec: Mapping[str, Any]) -> str:
    """'Options: commission 0.05%, fill at close, long/short' or the defaults named."""
    changed = non_default_options(spec)
    if changed:
        return "Options (not the defaults): " + ", ".join(
            option_text(k, v) for k, v in changed.items()
        )
    d = option_defaults()
    shown = ("commission", "slippage_bps", "fill", "lot_size", "allow_short")
    return "Options: engine defaults (" + ", ".join(option_text(k, d[k]) for k in shown) + ")"


def sweep_of(spec: Mapping[str, Any]) -> str | None:
    """The sweep id a top-N rerun came from (``tags.sweep``), None for an ordinary run."""
    sweep = dict(spec.get("tags") or {}).get("sweep")
    return str(sweep) if sweep else None


def top_rank(run_id: str, sweep_id: str) -> int | None:
    """k of a '<sweep id>-top<k>' rerun (None if the id does not follow that form)."""
    tail = run_id.removeprefix(f"{sweep_id}-top")
    return int(tail) if tail != run_id and tail.isdigit() else None


def origin_text(run_id: str, spec: Mapping[str, Any]) -> str | None:
    """'Top-1 rerun of sweep S' for a sweep's rerun, else None."""
    sweep = sweep_of(spec)
    if not sweep:
        return None
    k = top_rank(run_id, sweep)
    return f"{'Top-' + str(k) if k else 'A'} rerun of sweep {sweep}"


# -- telling runs apart (Compare) -----------------------------------------------------------


def spec_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that define what ran: strategy, file, each parameter, every option."""
    out: dict[str, Any] = {
        "strategy": spec.get("strategy"),
        "file": spec.get("source_key"),
    }
    for name, value in dict(spec.get("params") or {}).items():
        out[str(name)] = value
    defaults = option_defaults()
    options = dict(spec.get("options") or {})
    for name in defaults:
        out[_OPTION_LABELS.get(name, name)] = options.get(name, defaults[name])
    return out


def field_text(name: str, value: Any) -> str:
    """A spec field's value as text ('0.05%' for commission, 'long/short', '5')."""
    option = next((k for k, label in _OPTION_LABELS.items() if label == name), None)
    if option is not None:
        text = option_text(option, value)
        label = _OPTION_LABELS[option]
        return text.removeprefix(label + " ") if text.startswith(label + " ") else text
    return "" if value is None else str(value)


def same_text(specs: Sequence[Mapping[str, Any]]) -> str:
    """What every spec shares: 'strategy sma_cross, file x.csv, slow=30, commission 0.2%',
    then 'other options at the engine defaults' (defaults are not listed one by one)."""
    if not specs:
        return ""
    differing = set(differing_fields(specs))
    defaults = {_OPTION_LABELS.get(k, k): v for k, v in option_defaults().items()}
    parts = []
    for name, value in spec_fields(specs[0]).items():
        if name in differing or (name in defaults and value == defaults[name]):
            continue
        part = _label_part(name, value)
        parts.append(f"{name} {part}" if name in ("strategy", "file") else part)
    if any(n in defaults for n in spec_fields(specs[0]) if n not in differing):
        parts.append("other options at the engine defaults")
    return ", ".join(parts)


def _label_part(name: str, value: Any) -> str:
    """'fast=5' for a parameter, the value itself for strategy/file, 'fill at close' etc."""
    if name in ("strategy", "file"):
        return str(value)
    option = next((k for k, label in _OPTION_LABELS.items() if label == name), None)
    return option_text(option, value) if option else f"{name}={value}"


def differing_fields(specs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the spec fields whose values are not the same in every spec (in order)."""
    flat = [spec_fields(s) for s in specs]
    names = list(dict.fromkeys(n for f in flat for n in f))
    return [n for n in names if len({repr(f.get(n)) for f in flat}) > 1]


def run_labels(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """run id -> a label built from what differs ('fast=5, slow=30'); ids kept unique."""
    names = differing_fields(list(specs.values()))
    labels: dict[str, str] = {}
    for run_id, spec in specs.items():
        flat = spec_fields(spec)
        text = ", ".join(_label_part(n, flat[n]) for n in names if flat.get(n) is not None)
        labels[run_id] = text or run_id
    counts = pd.Series(list(labels.values())).value_counts()
    return {
        rid: (f"{text} ({rid})" if counts[text] > 1 and text != rid else text)
        for rid, text in labels.items()
    }
