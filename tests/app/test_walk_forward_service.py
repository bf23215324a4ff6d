"""app/walk_forward_service.py over a real walk-forward sweep (submitted, run and collected)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app import walk_forward_service as wfs
from app.context import AppContext
from engine import load_prices
from engine.errors import NotFoundError
from jobs.settings import Settings
from tests._results_helpers import INPUT, RESULTS, Lab, lab_fixture  # noqa: F401
from tests._walk_forward_helpers import make_walk_forward_sweep


class _NoExecutor:
    backend = "local"


def ctx_for(lab: Lab) -> AppContext:
    settings = Settings(storage_root=str(lab.root))
    return AppContext(settings=settings, store=lab.store, executor=_NoExecutor())  # type: ignore[arg-type]


def test_view_of_a_collected_walk_forward_sweep(lab: Lab) -> None:
    key = lab.add_file("a.csv", n_bars=520)
    other = lab.add_file("b.csv", n_bars=430, seed=9)
    make_walk_forward_sweep(lab.root, INPUT, RESULTS, [key, other])
    view = wfs.read_walk_forward(ctx_for(lab), "wf")
    assert view.finished and view.files == ["a.csv", "b.csv"]
    table = wfs.window_table(view, "a.csv")
    # 520 bars, 200:100 rolling: out-of-sample from bars 200, 300, 400, 500 (the last has 20)
    prices = load_prices(lab.root / INPUT / "a.csv")
    starts = [prices.index[i].date().isoformat() for i in (200, 300, 400, 500)]
    assert table["out-of-sample"].str[:10].tolist() == starts
    assert table["in-sample"].str[:10].tolist()[0] == prices.index[0].date().isoformat()
    assert not table["chosen parameters"].str.contains("none").any()
    path = wfs.params_path(view, "a.csv")
    raw = view.windows[view.windows.source_key == "a.csv"].sort_values("window")["params"]
    assert path.to_dict("records") == [json.loads(p) for p in raw]
    # the figure draws the stitched curve and buy-and-hold on the same bars
    fig = wfs.equity_figure(view, "a.csv")
    curve = view.equity[view.equity.source_key == "a.csv"]
    assert [t.name for t in fig.data] == ["walk-forward (out-of-sample, chained)", "buy and hold"]
    assert fig.data[0].y[-1] == pytest.approx(curve["equity"].iloc[-1])
    closes = prices["close"].to_numpy()[200:]
    assert fig.data[1].y[-1] == pytest.approx(100_000 * closes[-1] / closes[0])
    summary = wfs.summary_table(view, "a.csv").set_index("metric")
    final = view.file_report("a.csv")["metrics"]["final_equity"]
    assert summary.loc["Final equity"].iloc[0] == f"{final:,.0f}"
    assert np.isfinite(final)
    text = wfs.efficiency_text(view, "a.csv")
    assert "mean over windows of the chosen combination's out-of-sample sharpe" in text


def test_not_a_walk_forward_sweep_and_an_unfinished_one(lab: Lab) -> None:
    key = lab.add_file("a.csv", n_bars=520)
    make_walk_forward_sweep(lab.root, INPUT, RESULTS, [key], sweep_id="pending", run=False)
    view = wfs.read_walk_forward(ctx_for(lab), "pending")
    assert not view.finished and view.windows.empty
    assert "rolling windows: in-sample 200, out-of-sample 100, step 100 (bars)" in wfs.describe(
        view.spec
    )
    with pytest.raises(NotFoundError, match="no sweep 'nope'"):
        wfs.read_walk_forward(ctx_for(lab), "nope")
    lab.store.put_bytes(RESULTS, "sweeps/plain/spec.json", json.dumps({"base": {}}).encode())
    with pytest.raises(NotFoundError, match="not a walk-forward sweep"):
        wfs.read_walk_forward(ctx_for(lab), "plain")


def test_a_sweep_collected_without_its_walk_forward_results_says_how_to_collect(lab: Lab) -> None:
    key = lab.add_file("a.csv", n_bars=520)
    make_walk_forward_sweep(lab.root, INPUT, RESULTS, [key])
    lab.store.delete(RESULTS, "sweeps/wf/walk_forward/result.json")
    with pytest.raises(NotFoundError) as info:
        wfs.read_walk_forward(ctx_for(lab), "wf")
    message = str(info.value)
    assert "finished without its walk-forward results" in message and "\n" not in message
    assert message.endswith(
        "-m engine.sweep.wf_jobs collect s3://backtest-results/sweeps/wf/spec.json"
    )
