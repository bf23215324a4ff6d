"""Run results for the dashboard: list runs, read one run, format and export it, compare runs.

No Streamlit here. Every function takes an :class:`~app.context.AppContext` (or plain data)
and returns plain values, frames or figures; pages render them. A missing run is a
:class:`NotFoundError`; an unfinished or failed run is *not* an error here: :func:`load_run`
returns a :class:`RunView` whose ``status`` says so (with the failure's message).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from app.context import AppContext
from engine.errors import NotFoundError
from engine.results import (
    ERROR,
    SUCCESS,
    UnfinishedRunError,
    read_run,
    run_prefix,
    run_status,
    to_json_bytes,
)
from engine.spec import SimOptions

RUNS_PREFIX = "runs/"
DEFAULT_PAGE_SIZE = 200

# metric -> (label, kind); kind picks the format: pct, ratio, count, bars, money
METRIC_FORMATS: dict[str, tuple[str, str]] = {
    "total_return": ("Total return", "pct"),
    "cagr": ("CAGR", "pct"),
    "buy_hold_return": ("Buy & hold", "pct"),
    "sharpe": ("Sharpe", "ratio"),
    "sortino": ("Sortino", "ratio"),
    "calmar": ("Calmar", "ratio"),
    "max_drawdown": ("Max drawdown", "pct"),
    "max_drawdown_duration": ("Longest drawdown", "bars"),
    "volatility": ("Volatility", "pct"),
    "n_trades": ("Trades", "count"),
    "win_rate": ("Win rate", "pct"),
    "profit_factor": ("Profit factor", "ratio"),
    "avg_trade_return": ("Avg trade", "pct"),
    "exposure": ("Exposure", "pct"),
    "final_equity": ("Final equity", "money"),
    "periods_per_year": ("Periods / year", "ratio"),
}


@dataclass
class RunView:
    """One run as the page shows it. ``status``: succeeded, failed or unfinished."""

    run_id: str
    status: str
    message: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    equity: pd.DataFrame = field(default_factory=pd.DataFrame)
    trades: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def finished(self) -> bool:
        """True when the run has ``_SUCCESS`` (all result files are there)."""
        return self.status == "succeeded"

    @property
    def label(self) -> str:
        """'<run id> · <strategy>(<params>) on <key>' for pickers and titles."""
        if not self.spec:
            return self.run_id
        return f"{self.run_id} · {describe_spec(self.spec)}"


def describe_spec(spec: Mapping[str, Any]) -> str:
    """'sma_cross(fast=10, slow=50) on samples/x.csv' from a spec.json record."""
    params = ", ".join(f"{k}={v}" for k, v in dict(spec.get("params") or {}).items())
    return f"{spec.get('strategy', '?')}({params}) on {spec.get('source_key', '?')}"


# -- listing ----------------------------------------------------------------------------------


def list_runs(ctx: AppContext, *, finished_only: bool = True, limit: int = 500) -> pd.DataFrame:
    """Runs in the result bucket, newest first: columns run_id, status, finished_at.

    One listing of ``runs/``: a run is 'succeeded' with ``_SUCCESS``, 'failed' with
    ``error.json``, else 'unfinished'. ``finished_only`` keeps the succeeded ones.
    """
    bucket = ctx.settings.result_bucket
    columns = ["run_id", "status", "finished_at"]
    if not ctx.store.bucket_exists(bucket):
        return pd.DataFrame(columns=columns)
    seen: dict[str, tuple[str, Any]] = {}
    rank = {"unfinished": 0, "failed": 1, "succeeded": 2}
    for info in ctx.store.list(bucket, RUNS_PREFIX):
        parts = info.key[len(RUNS_PREFIX) :].split("/")
        if len(parts) != 2:
            continue
        run_id, name = parts
        status = {SUCCESS: "succeeded", ERROR: "failed"}.get(name, "unfinished")
        old = seen.get(run_id)
        if old is None or rank[status] > rank[old[0]]:
            seen[run_id] = (status, info.modified)
    frame = pd.DataFrame(
        [(rid, st, when) for rid, (st, when) in seen.items()], columns=columns
    ).astype({"run_id": str, "status": str})
    if finished_only:
        frame = frame[frame["status"] == "succeeded"]
    frame = frame.sort_values(["finished_at", "run_id"], ascending=False, na_position="last")
    return frame.head(limit).reset_index(drop=True)


# -- one run ----------------------------------------------------------------------------------


def load_run(ctx: AppContext, run_id: str) -> RunView:
    """The run's files; unfinished/failed runs come back with ``status`` and ``message``.

    NotFoundError when nothing exists under ``runs/<run_id>/``; ParamError for a bad id.
    """
    bucket = ctx.settings.result_bucket
    run_prefix(run_id)  # ParamError for an unsafe id before touching the store
    try:
        spec, metrics, equity, trades = read_run(ctx.store, bucket, run_id)
    except UnfinishedRunError as exc:
        if exc.error is not None or run_status(ctx.store, bucket, run_id) == "failed":
            detail = (exc.error or {}).get("error") or str(exc)
            return RunView(run_id, "failed", message=str(detail))
        return RunView(run_id, "unfinished", message=str(exc))
    return RunView(run_id, "succeeded", spec=spec, metrics=metrics, equity=equity, trades=trades)


def format_metric(name: str, value: Any) -> str:
    """A metric as a card shows it: percentages with 2 decimals, ratios 2, counts whole."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    kind = METRIC_FORMATS.get(name, (name, "ratio"))[1]
    number = float(value)
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if kind == "pct":
        return f"{number:.2%}"
    if kind == "count":
        return f"{number:,.0f}"
    if kind == "bars":
        return f"{number:,.0f} bars"
    if kind == "money":
        return f"{number:,.2f}"
    return f"{number:.2f}"


def metric_cards(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) for every known metric present, in display order."""
    return [
        (label, format_metric(name, metrics[name]))
        for name, (label, _) in METRIC_FORMATS.items()
        if name in metrics
    ]


def load_prices_for(ctx: AppContext, spec: Mapping[str, Any]) -> pd.DataFrame:
    """The run's input bars (spec.json names the source bucket/key), validated by the engine.

    NotFoundError when the file is gone; DataError when it no longer parses.
    """
    from engine.data import load_prices

    bucket, key = str(spec.get("source_bucket", "")), str(spec.get("source_key", ""))
    if not bucket or not key:
        raise NotFoundError("spec.json does not name the input file (source_bucket/source_key)")
    data = ctx.store.get_bytes(bucket, key)
    return load_prices(data, name=ctx.store.uri(bucket, key))


def sort_and_page(
    frame: pd.DataFrame,
    *,
    sort_by: str | None = None,
    ascending: bool = True,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[pd.DataFrame, int]:
    """Rows of one page after sorting (stable; NaN last) and the number of pages (>= 1)."""
    pages = max(1, math.ceil(len(frame) / page_size))
    page = min(max(1, page), pages)
    if sort_by and sort_by in frame.columns:
        frame = frame.sort_values(sort_by, ascending=ascending, kind="stable", na_position="last")
    start = (page - 1) * page_size
    return frame.iloc[start : start + page_size], pages


# -- downloads --------------------------------------------------------------------------------


def trades_csv(trades: pd.DataFrame) -> bytes:
    """The trades table as CSV (ISO timestamps, full float precision)."""
    return trades.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S").encode()


def equity_csv(equity: pd.DataFrame) -> bytes:
    """The equity frame as CSV with its timestamp index as the first column."""
    out = io.StringIO()
    equity.to_csv(out, index=True, index_label="timestamp", date_format="%Y-%m-%dT%H:%M:%S")
    return out.getvalue().encode()


def metrics_json(metrics: Mapping[str, Any]) -> bytes:
    """metrics.json as stored (non-finite values are null)."""
    return to_json_bytes(dict(metrics))


def report_html(view: RunView, prices: pd.DataFrame | None = None) -> str:
    """One self-contained HTML report: metrics, the run's charts, parameters and trades."""
    from app import charts

    figures = [charts.equity_chart(view.equity), charts.drawdown_chart(view.equity)]
    figures.append(charts.monthly_returns_heatmap(view.equity))
    if prices is not None:
        figures.append(charts.price_chart(prices, view.trades))
    params = pd.DataFrame(
        {"value": [str(v) for v in dict(view.spec.get("params") or {}).values()]},
        index=pd.Index(list(dict(view.spec.get("params") or {})), name="parameter"),
    )
    tables = {"Parameters": params, "Trades": view.trades}
    return charts.html_report(f"Run {view.run_id}: {describe_spec(view.spec)}", view.metrics,
                              figures, tables)  # fmt: skip


def rerun_query_params(spec: Mapping[str, Any]) -> dict[str, str]:
    """New run's prefill: file=<key>, strategy=<name>, p_<param>=<value>, and the options
    that differ from the defaults as ``options`` (JSON), so the rerun costs the same."""
    out = {"file": str(spec.get("source_key", "")), "strategy": str(spec.get("strategy", ""))}
    for name, value in dict(spec.get("params") or {}).items():
        out[f"p_{name}"] = query_value(value)
    defaults = asdict(SimOptions())
    options = {
        k: v
        for k, v in dict(spec.get("options") or {}).items()
        if k in defaults and v != defaults[k]
    }
    if options:
        out["options"] = json.dumps(options, sort_keys=True)
    return {k: v for k, v in out.items() if v}


def query_value(value: Any) -> str:
    """A parameter value as URL text (booleans lower-case, as the engine CLI reads them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def provenance_rows(spec: Mapping[str, Any]) -> pd.DataFrame:
    """spec.json flattened to (field, value) text rows: what ran, on what, with which engine."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            rows.append((prefix, ", ".join(map(str, value))))
        else:
            rows.append((prefix, "" if value is None else str(value)))

    walk("", dict(spec))
    return pd.DataFrame(rows, columns=["field", "value"])


# -- compare ----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Finished runs' equity frames by run id, a metrics table, and runs that could not load."""

    equities: dict[str, pd.DataFrame]
    metrics: pd.DataFrame
    problems: list[str]


def compare_runs(ctx: AppContext, run_ids: Sequence[str]) -> Comparison:
    """Load each run; a missing/unfinished/failed one becomes a line in ``problems``."""
    from engine.errors import BacktestError

    equities: dict[str, pd.DataFrame] = {}
    columns: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for run_id in dict.fromkeys(run_ids):
        try:
            view = load_run(ctx, run_id)
        except BacktestError as exc:
            problems.append(f"{run_id}: {exc}")
            continue
        if not view.finished:
            problems.append(f"{run_id}: {view.status}: {view.message}")
            continue
        equities[run_id] = view.equity
        column = {"strategy": describe_spec(view.spec)}
        column.update({label: value for label, value in metric_cards(view.metrics)})
        columns[run_id] = column
    table = pd.DataFrame(columns) if columns else pd.DataFrame()
    return Comparison(equities, table, problems)
