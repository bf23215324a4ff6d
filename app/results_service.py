"""Run results for the dashboard: list runs, read one run, format and export it, compare runs.

No Streamlit here. Every function takes an :class:`~app.context.AppContext` (or plain data)
and returns plain values, frames or figures; pages render them. A missing run is a
:class:`NotFoundError`; an unfinished or failed run is *not* an error here: :func:`load_run`
returns a :class:`RunView` whose ``status`` says so (with the failure's message).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.context import AppContext
from app.run_format import (  # re-exported: pages and tests use them through this module
    METRIC_FORMATS,
    Card,
    describe_options,
    describe_spec,
    differing_fields,
    field_text,
    format_metric,
    format_time,
    metric_cards,
    metric_texts,
    origin_text,
    ruin_warning,
    run_labels,
    same_text,
    spec_fields,
)
from engine.errors import NotFoundError
from engine.store import runs as run_files
from engine.store.runs import (
    RunStatus,
    UnfinishedRunError,
    read_run,
    run_prefix,
    run_status,
    to_json_bytes,
)

__all__ = ["METRIC_FORMATS", "Card", "describe_spec", "format_metric", "metric_cards"]

DEFAULT_PAGE_SIZE = 200


@dataclass
class RunView:
    """One run as the page shows it. ``status``: succeeded, failed or unfinished."""

    run_id: str
    status: RunStatus
    message: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    equity: pd.DataFrame = field(default_factory=pd.DataFrame)
    trades: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def finished(self) -> bool:
        """True when the run has ``_SUCCESS`` (all result files are there)."""
        return self.status is RunStatus.SUCCEEDED

    @property
    def label(self) -> str:
        """'<run id> · <strategy>(<params>) on <key>' for pickers and titles."""
        if not self.spec:
            return self.run_id
        return f"{self.run_id} · {describe_spec(self.spec)}"


# -- listing ----------------------------------------------------------------------------------


def list_runs(ctx: AppContext, *, finished_only: bool = True, limit: int = 500) -> pd.DataFrame:
    """Runs in the result bucket, newest first: columns run_id, status, finished_at.

    The states are :func:`engine.store.runs.list_runs`'s (one listing of the result bucket);
    ``finished_only`` keeps the succeeded ones.
    """
    runs = run_files.list_runs(ctx.store, ctx.settings.result_bucket)
    if finished_only:
        runs = [r for r in runs if r.status is RunStatus.SUCCEEDED]
    rows = [(r.run_id, r.status.value, r.finished_at) for r in runs[:limit]]
    frame = pd.DataFrame(rows, columns=["run_id", "status", "finished_at"])
    return frame.astype({"run_id": str, "status": str})


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
        if exc.error is not None or run_status(ctx.store, bucket, run_id) is RunStatus.FAILED:
            detail = (exc.error or {}).get("error") or str(exc)
            return RunView(run_id, RunStatus.FAILED, message=str(detail))
        return RunView(run_id, RunStatus.UNFINISHED, message=str(exc))
    return RunView(
        run_id, RunStatus.SUCCEEDED, spec=spec, metrics=metrics, equity=equity, trades=trades
    )


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


def run_header(view: RunView) -> list[str]:
    """How the run was made, one line each: strategy and file, options (what is not the
    engine's default), where it came from (a sweep's top-N rerun), when and by whom."""
    spec = view.spec
    lines = [describe_spec(spec), describe_options(spec)]
    origin = origin_text(view.run_id, spec)
    if origin:
        lines.append(origin)
    made = dict(spec.get("provenance") or {}).get("created_at")
    who = spec.get("user")
    if made or who:
        lines.append(
            "Run " + (f"at {format_time(made)} UTC" if made else "")
            + (f" by {who}" if who else "")
        )  # fmt: skip
    return lines


def trades_display(trades: pd.DataFrame) -> pd.DataFrame:
    """The trades table as the page shows it: ``return`` in percent (as on the cards)."""
    out = trades.copy()
    if "return" in out.columns:
        out["return"] = out["return"].astype("float64") * 100
        out = out.rename(columns={"return": RETURN_PCT})
    return out


RETURN_PCT = "return (%)"


def date_format(values: pd.Series | pd.Index) -> str:
    """Display format for a timestamp column: date only when every value is at midnight."""
    stamps = pd.to_datetime(pd.Series(values), errors="coerce").dropna()
    if len(stamps) and bool((stamps == stamps.dt.normalize()).all()):
        return "YYYY-MM-DD"
    return "YYYY-MM-DD HH:mm:ss"


def report_html(view: RunView, prices: pd.DataFrame | None = None) -> str:
    """One self-contained HTML report: how the run was made, a ruin warning if any, the
    metrics exactly as the page's cards show them, the run's charts, parameters and trades."""
    from app import charts

    figures = [charts.equity_chart(view.equity), charts.drawdown_chart(view.equity)]
    figures.append(charts.monthly_returns_heatmap(view.equity))
    if prices is not None:
        figures.append(charts.price_chart(prices, view.trades))
    params = pd.DataFrame(
        {"value": [str(v) for v in dict(view.spec.get("params") or {}).values()]},
        index=pd.Index(list(dict(view.spec.get("params") or {})), name="parameter"),
    )
    cards = metric_cards(view.metrics)
    text = charts.ReportText(
        f"Run {view.run_id}: {describe_spec(view.spec)}",
        notes=run_header(view)[1:],
        warning=ruin_warning(view.metrics),
        metric_help={c.label: c.help for c in cards},
    )
    return charts.html_report(
        text,
        {c.label: c.value for c in cards},
        figures,
        {"Parameters": params, "Trades": trades_display(view.trades)},
    )


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
    """Finished runs' equity frames by label, a table (what differs, then the metrics as the
    cards show them; one column per run, headed by its label), and runs that could not load.

    Labels are built from the spec fields that differ between the runs ('fast=5, slow=30');
    ``same`` says what all of them share.
    """

    equities: dict[str, pd.DataFrame]
    metrics: pd.DataFrame
    problems: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    same: str = ""
    warnings: list[str] = field(default_factory=list)


def compare_runs(ctx: AppContext, run_ids: Sequence[str]) -> Comparison:
    """Load each run; a missing/unfinished/failed one becomes a line in ``problems``."""
    from engine.errors import BacktestError

    views: dict[str, RunView] = {}
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
        views[run_id] = view
    if not views:
        return Comparison({}, pd.DataFrame(), problems)
    specs = {rid: v.spec for rid, v in views.items()}
    labels = run_labels(specs)
    differing = differing_fields(list(specs.values()))
    columns: dict[str, dict[str, str]] = {}
    for run_id, view in views.items():
        flat = spec_fields(view.spec)
        column = {"run": run_id}
        column.update({name: field_text(name, flat.get(name)) for name in differing})
        column.update(metric_texts(view.metrics))
        columns[labels[run_id]] = column
    same = same_text(list(specs.values()))
    ruined = [
        f"{labels[rid]}: " + str(ruin_warning(v.metrics))
        for rid, v in views.items()
        if ruin_warning(v.metrics)
    ]
    equities = {labels[rid]: v.equity for rid, v in views.items()}
    return Comparison(equities, pd.DataFrame(columns), problems, labels, same, ruined)
