"""A walk-forward sweep for the dashboard (no Streamlit): what the collect wrote under
``sweeps/<id>/walk_forward/`` (engine.sweep.wf_jobs names the keys), as tables and figures.

Figures are bounded: the stitched curve is min/max-downsampled to at most ``2 x
DEFAULT_BUCKETS`` points per line, the window table has one row per window.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from app.cli_hints import python_command
from app.context import AppContext
from app.downsample import downsample_series
from engine.errors import NotFoundError
from engine.sim.metric_registry import BY_NAME
from engine.store.runs import parquet_to_frame
from engine.sweep import results as sweep_results
from engine.sweep import wf_jobs

SUMMARY_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades", "final_equity")


@dataclass
class WalkForwardView:
    """One walk-forward sweep: its spec (spec.json's ``walk_forward``), per-window table,
    stitched curve and the collect's report; ``finished`` False until the collect wrote them."""

    sweep_id: str
    spec: dict[str, Any]
    finished: bool
    windows: pd.DataFrame = field(default_factory=pd.DataFrame)
    equity: pd.DataFrame = field(default_factory=pd.DataFrame)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        if self.windows.empty:
            return []
        return list(dict.fromkeys(self.windows[wf_jobs.SOURCE_KEY].astype(str)))

    def file_report(self, key: str) -> dict[str, Any]:
        for entry in self.report.get("files") or []:
            if isinstance(entry, Mapping) and entry.get(wf_jobs.SOURCE_KEY) == key:
                return dict(entry)
        return {}


def is_walk_forward(spec: Mapping[str, Any]) -> bool:
    """True when spec.json describes a walk-forward sweep."""
    return isinstance(spec.get("walk_forward"), Mapping)


def describe(spec: Mapping[str, Any]) -> str:
    """'rolling windows: in-sample 200, out-of-sample 100, step 100 (bars); best sharpe with
    n_trades>=1' from spec.json's walk_forward entry."""
    wf = spec.get("walk_forward")
    if not isinstance(wf, Mapping):
        return "not a walk-forward sweep"
    step = wf.get("step") or wf.get("out_of_sample")
    unit = "bars" if isinstance(wf.get("in_sample"), int) else "calendar periods"
    kind = "anchored" if wf.get("anchored") else "rolling"
    cons = wf.get("constraints") or []
    where = f" with {', '.join(map(str, cons))}" if cons else ""
    return (
        f"{kind} windows: in-sample {wf.get('in_sample')}, out-of-sample "
        f"{wf.get('out_of_sample')}, step {step} ({unit}); each window runs the in-sample best "
        f"{wf.get('metric', 'sharpe')}{where}"
    )


def read_walk_forward(ctx: AppContext, sweep_id: str) -> WalkForwardView:
    """The sweep's walk-forward results; NotFoundError when there is no such sweep, or when
    the sweep is not a walk-forward one (the message says so)."""
    bucket = ctx.settings.result_bucket
    meta = sweep_results.read_meta(ctx.store, bucket, sweep_id)
    if not meta.spec and not ctx.store.list(bucket, sweep_results.sweep_prefix(sweep_id)):
        raise NotFoundError(f"no sweep {sweep_id!r} in bucket {bucket!r}")
    if not is_walk_forward(meta.spec):
        raise NotFoundError(
            f"sweep {sweep_id} is not a walk-forward sweep; submit one with --walk-forward "
            "IS:OOS (or the New run form's walk-forward option)"
        )
    view = WalkForwardView(sweep_id, dict(meta.spec), meta.finished)
    if not meta.finished:
        return view
    prefix = wf_jobs.wf_prefix(sweep_id)
    try:
        view.windows = parquet_to_frame(ctx.store.get_bytes(bucket, prefix + wf_jobs.WINDOWS))
        view.equity = parquet_to_frame(ctx.store.get_bytes(bucket, prefix + wf_jobs.EQUITY))
        view.report = json.loads(ctx.store.get_bytes(bucket, prefix + wf_jobs.RESULT))
    except NotFoundError:
        spec_uri = ctx.store.uri(bucket, sweep_results.spec_key(sweep_id))
        raise NotFoundError(
            f"sweep {sweep_id} finished without its walk-forward results (collected by the "
            f"plain collect); resume it (Resume on the Jobs page, or {python_command()} -m jobs "
            f"resume {sweep_id}) to rerun what is missing and collect them, or run the "
            f"walk-forward collect on it: {python_command()} -m engine.sweep.wf_jobs collect "
            f"{spec_uri}"
        ) from None
    return view


def _fmt(value: Any, name: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if name in ("total_return", "cagr", "max_drawdown", "oos_return"):
        return f"{float(value):.2%}"
    if name in ("n_trades", "final_equity"):
        return f"{float(value):,.0f}"
    return f"{float(value):.3f}"


def window_table(view: WalkForwardView, key: str) -> pd.DataFrame:
    """The per-window table of file ``key`` as shown: dates, chosen parameters, IS/OOS metric."""
    rows = view.windows[view.windows[wf_jobs.SOURCE_KEY] == key].sort_values("window")
    metric = str(view.spec.get("walk_forward", {}).get("metric", "sharpe"))
    out = pd.DataFrame(
        {
            "window": rows["window"].astype(int),
            "in-sample": rows["is_start"].str[:10] + " → " + rows["is_end"].str[:10],
            "out-of-sample": rows["oos_start"].str[:10] + " → " + rows["oos_end"].str[:10],
            "chosen parameters": [_params_text(p) for p in rows["params"]],
            f"in-sample {metric}": [_fmt(v) for v in rows["is_metric"]],
            f"out-of-sample {metric}": [_fmt(v) for v in rows["oos_metric"]],
            "out-of-sample return": [_fmt(v, "oos_return") for v in rows["oos_return"]],
            "trades": rows["oos_n_trades"].astype(int),
            "note": rows["note"].fillna(""),
        }
    )
    return out.reset_index(drop=True)


def _params_text(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        return "none (stayed in cash)"
    return ", ".join(f"{k}={v}" for k, v in json.loads(raw).items())


def params_path(view: WalkForwardView, key: str) -> pd.DataFrame:
    """Chosen parameter values per window (index: window; NaN where none was chosen)."""
    rows = view.windows[view.windows[wf_jobs.SOURCE_KEY] == key].sort_values("window")
    records = [json.loads(p) if isinstance(p, str) and p else {} for p in rows["params"]]
    return pd.DataFrame.from_records(records, index=rows["window"].astype(int).to_numpy())


def summary_table(view: WalkForwardView, key: str) -> pd.DataFrame:
    """Stitched out-of-sample metrics next to buy-and-hold on the same bars."""
    entry = view.file_report(key)
    ours, bh = entry.get("metrics") or {}, entry.get("buy_hold") or {}
    return pd.DataFrame(
        {
            "metric": [BY_NAME[m].label for m in SUMMARY_METRICS],
            "walk-forward (stitched out-of-sample)": [
                _fmt(ours.get(m), m) for m in SUMMARY_METRICS
            ],
            "buy and hold (same bars)": [
                "–" if m == "n_trades" else _fmt(bh.get(m), m) for m in SUMMARY_METRICS
            ],
        }
    )


def efficiency_text(view: WalkForwardView, key: str) -> str:
    """'Walk-forward efficiency 0.42: ...' with its definition (or why it is undefined)."""
    entry = view.file_report(key)
    value = entry.get("efficiency")
    definition = str(view.report.get("efficiency_definition") or "")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return f"Walk-forward efficiency: undefined ({definition})."
    return f"Walk-forward efficiency {value:.2f}: {definition}."


def equity_figure(view: WalkForwardView, key: str) -> go.Figure:
    """The stitched out-of-sample equity and buy-and-hold on the same bars (downsampled)."""
    curve = view.equity[view.equity[wf_jobs.SOURCE_KEY] == key]
    index = pd.DatetimeIndex(curve["timestamp"])
    fig = go.Figure()
    for column, name in (("equity", "walk-forward (out-of-sample, chained)"),
                         ("benchmark", "buy and hold")):  # fmt: skip
        series = downsample_series(pd.Series(curve[column].to_numpy(), index=index))
        fig.add_trace(go.Scatter(x=series.index, y=series.to_numpy(), mode="lines", name=name))
    starts = curve.groupby("window")["timestamp"].first()
    for when in starts.iloc[1:]:
        fig.add_vline(x=pd.Timestamp(when), line_width=1, line_dash="dot", line_color="gray")
    fig.update_layout(
        title="Stitched out-of-sample equity (dotted: window starts)",
        yaxis_title="equity", height=380, margin={"t": 50, "b": 30},
    )  # fmt: skip
    return fig


def params_figure(view: WalkForwardView, key: str) -> go.Figure:
    """One line per parameter: the value chosen in each window."""
    path = params_path(view, key)
    fig = go.Figure()
    for name in path.columns:
        fig.add_trace(go.Scatter(x=path.index, y=path[name], mode="lines+markers", name=str(name)))
    fig.update_layout(
        title="Chosen parameters per window", xaxis_title="window", height=320,
        margin={"t": 50, "b": 30},
    )  # fmt: skip
    fig.update_xaxes(dtick=1)
    return fig
