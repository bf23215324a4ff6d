"""The Python API: validation errors, every strategy end to end, sweep rows == single runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import engine
from engine import BacktestResult, load_prices, run_backtest, run_sweep
from engine.errors import DataError, ParamError
from engine.sim.metrics import METRIC_NAMES, MetricInputs, compute_metrics
from engine.sim.strategies import STRATEGIES
from engine.sim.synthetic import random_walk
from engine.spec import SimOptions

OPTION_SETS = [
    {},
    {"fill": "close", "commission": 0.002},
    {"fee": 3.0, "slippage_bps": 10.0, "lot_size": 10.0},
    {"allow_short": True, "stop_loss": 4.0, "take_profit": 8.0},
    {"allow_short": True, "fill": "close", "stop_loss": 3.0, "risk_free": 0.02},
    {"periods_per_year": 12.0, "cash": 5_000.0},
    {"stop_loss": 2.0, "take_profit": 5.0, "risk_free": 0.03},
    {"stop_loss": 1.5, "fill": "close", "lot_size": 100.0},
]


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return random_walk(900, seed=7)


def close_enough(a: float, b: float, rel: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def test_public_names_and_version() -> None:
    assert isinstance(engine.__version__, str) and engine.__version__
    assert callable(load_prices) and callable(run_backtest) and callable(run_sweep)
    with pytest.raises(AttributeError):
        engine.no_such_name


@pytest.mark.parametrize(
    "overrides",
    [
        {"commission": -0.1},
        {"commission": 0.9},
        {"fill": "tomorrow"},
        {"cash": 0},
        {"slippage_bps": float("nan")},
        {"stop_loss": -5},
        {"lot_size": -1},
        {"no_such_option": 1},
    ],
)
def test_bad_options_are_param_errors(prices: pd.DataFrame, overrides: dict) -> None:
    with pytest.raises(ParamError):
        run_backtest(prices, "sma_cross", **overrides)
    with pytest.raises(ParamError):
        run_sweep(prices, "sma_cross", {"fast": [5]}, **overrides)


def test_options_object_and_wrong_type(prices: pd.DataFrame) -> None:
    with pytest.raises(ParamError):
        run_backtest(prices, options="fast")  # type: ignore[arg-type]
    res = run_backtest(prices, options=SimOptions(cash=1_000.0), commission=0.0)
    assert res.options.cash == 1_000.0 and res.options.commission == 0.0
    assert res.equity["equity"].iloc[0] == 1_000.0


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("no_such_strategy", {}),
        ("sma_cross", {"fast": 60, "slow": 50}),
        ("sma_cross", {"fast": 0}),
        ("sma_cross", {"speed": 3}),
        ("sma_cross", {"fast": "ten"}),
        ("rsi_reversion", {"lower": 80, "upper": 20}),
    ],
)
def test_bad_strategy_or_params_are_param_errors(
    prices: pd.DataFrame, strategy: str, params: dict
) -> None:
    with pytest.raises(ParamError):
        run_backtest(prices, strategy, params)


def test_too_few_bars_is_a_data_error() -> None:
    short = random_walk(40, seed=1)
    with pytest.raises(DataError, match=r"40 bars.*sma_cross\(fast=10, slow=50\).*at least 50"):
        run_backtest(short, "sma_cross", {"fast": 10, "slow": 50})
    with pytest.raises(DataError, match="40 bars"):
        run_sweep(short, "sma_cross", {"fast": [5], "slow": [20, 45]})
    # exactly warm-up + 1 bars is enough (SMA(50) is defined on bar 49, the last)
    assert run_backtest(random_walk(50, seed=1), "sma_cross").metrics["n_trades"] == 0


def test_prices_must_be_a_price_frame(prices: pd.DataFrame) -> None:
    with pytest.raises(DataError):
        run_backtest(prices["close"])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="close"):
        run_backtest(prices.drop(columns="close"))
    with pytest.raises(DataError, match="timestamp"):
        run_backtest(prices.reset_index(drop=True))


def _check_result(res: BacktestResult, prices: pd.DataFrame, cash: float) -> None:
    assert isinstance(res, BacktestResult)
    assert list(res.metrics) == [*METRIC_NAMES, "ruined_at"]
    ruined = res.metrics["ruined"]
    assert isinstance(ruined, bool) and (res.metrics["ruined_at"] is None) == (not ruined)
    # every column is one whose meaning is checked below (DESIGN.md's result layout)
    assert set(res.equity.columns) == {"equity", "drawdown", "position", "benchmark"}
    assert res.equity.index.equals(prices.index)
    assert set(res.trades.columns) == {
        *("entry_time", "exit_time", "side", "units", "entry_price", "exit_price"),
        *("pnl", "return", "bars_held", "exit_reason"),
    }
    eq = res.equity["equity"].to_numpy()
    assert np.isfinite(eq).all()
    assert res.metrics["final_equity"] == eq[-1]
    assert res.metrics["n_trades"] == len(res.trades)
    assert (eq >= 0).all()  # limited liability: equity is floored at 0
    if not ruined:  # accounting identity: every cash flow belongs to a trade
        assert cash + res.trades["pnl"].sum() == pytest.approx(eq[-1], rel=1e-9)
    dd = res.equity["drawdown"].to_numpy()
    assert (dd >= 0).all() and (dd <= 1).all()
    peak = np.maximum.accumulate(eq)
    assert np.allclose(dd[peak > 0], 1 - eq[peak > 0] / peak[peak > 0], atol=1e-12)
    close = prices["close"].to_numpy()
    assert np.allclose(res.equity["benchmark"].to_numpy(), cash * close / close[0], rtol=1e-12)
    t = res.trades
    if len(t):
        assert (t["bars_held"] >= 0).all()
        closed = t[t["exit_time"].notna()]
        held = prices.index.get_indexer(closed["exit_time"]) - prices.index.get_indexer(
            closed["entry_time"]
        )
        assert (closed["bars_held"].to_numpy() == held).all()  # bars from entry to exit
        assert (t["units"] > 0).all() and (t["entry_price"] > 0).all()
        assert set(t["side"]) <= {"long", "short"}
        assert set(t["exit_reason"]) <= {"signal", "stop_loss", "take_profit", "open", "ruin"}
        assert (t["exit_time"].isna() == (t["exit_reason"] == "open")).all()
        assert (t["entry_time"] <= t["exit_time"].fillna(prices.index[-1])).all()
        assert np.allclose(t["return"], t["pnl"] / (t["units"] * t["entry_price"]))
        assert (t["exit_reason"] == "open").sum() <= 1


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("allow_short", [False, True])
def test_every_strategy_runs_end_to_end(prices: pd.DataFrame, name: str, allow_short: bool) -> None:
    res = run_backtest(prices, name, allow_short=allow_short)
    _check_result(res, prices, 100_000.0)
    assert res.strategy == name
    assert res.params == STRATEGIES[name].validate({})
    pos = res.equity["position"].to_numpy()
    if not allow_short:
        assert (pos >= 0).all()
        assert set(res.trades["side"]) <= {"long"}


@pytest.mark.parametrize("opts", OPTION_SETS)
def test_metrics_match_compute_metrics(prices: pd.DataFrame, opts: dict) -> None:
    """The kernel's online metrics equal engine.sim.metrics' numpy definitions."""
    for strategy, params in [("sma_cross", {"fast": 5, "slow": 20}), ("rsi_reversion", {})]:
        res = run_backtest(prices, strategy, params, **opts)
        _check_result(res, prices, opts.get("cash", 100_000.0))
        expected = compute_metrics(
            MetricInputs(
                res.equity["equity"].to_numpy(),
                prices.index.to_numpy(),
                res.trades["pnl"].to_numpy(),
                res.trades["return"].to_numpy(),
                res.equity["position"].to_numpy(),
                prices["close"].to_numpy(),
                opts.get("cash", 100_000.0),
            ),
            opts.get("periods_per_year"),
            opts.get("risk_free", 0.0),
        )
        for key in METRIC_NAMES:
            assert close_enough(res.metrics[key], expected[key]), (key, res.metrics[key])


def test_stops_and_shorts_produce_their_exit_reasons(prices: pd.DataFrame) -> None:
    res = run_backtest(
        prices, "sma_cross", {"fast": 5, "slow": 20}, allow_short=True, stop_loss=2,
        take_profit=3,
    )  # fmt: skip
    reasons = set(res.trades["exit_reason"])
    assert {"stop_loss", "take_profit"} <= reasons
    assert set(res.trades["side"]) == {"long", "short"}
    assert (res.equity["position"] < 0).any()


@pytest.mark.parametrize("opts", OPTION_SETS)
def test_sweep_rows_equal_single_runs(prices: pd.DataFrame, opts: dict) -> None:
    space = {"fast": [5, 10, 30], "slow": [20, 50]}
    table = run_sweep(prices, "sma_cross", space, **opts)
    assert list(table.columns) == ["fast", "slow", *METRIC_NAMES]
    # (30, 20) breaks fast < slow and is dropped
    pairs = list(zip(table["fast"], table["slow"], strict=True))
    assert pairs == [(5, 20), (5, 50), (10, 20), (10, 50), (30, 50)]
    for _, row in table.iterrows():
        params = {"fast": int(row["fast"]), "slow": int(row["slow"])}
        single = run_backtest(prices, "sma_cross", params, **opts).metrics
        for key in METRIC_NAMES:
            assert close_enough(float(row[key]), single[key]), (params, key)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("allow_short", [False, True])
def test_sweep_defaults_of_every_strategy(
    prices: pd.DataFrame, name: str, allow_short: bool
) -> None:
    strat = STRATEGIES[name]
    defaults = strat.validate({})
    table = run_sweep(prices, name, [defaults], allow_short=allow_short, stop_loss=5.0)
    single = run_backtest(prices, name, allow_short=allow_short, stop_loss=5.0).metrics
    assert len(table) == 1
    for key in METRIC_NAMES:
        assert close_enough(float(table[key].iloc[0]), single[key]), key


def test_sweep_accepts_scalars_and_lists_of_dicts(prices: pd.DataFrame) -> None:
    table = run_sweep(prices, "sma_cross", {"fast": 10, "slow": range(20, 61, 20)})
    assert table["slow"].tolist() == [20, 40, 60] and (table["fast"] == 10).all()
    listed = run_sweep(
        prices, "sma_cross", [{"fast": 10, "slow": 40}, {"fast": 50, "slow": 40}, {"fast": 3}]
    )
    assert list(zip(listed["fast"], listed["slow"], strict=True)) == [(10, 40), (3, 50)]


def test_sweep_errors(prices: pd.DataFrame) -> None:
    with pytest.raises(ParamError, match="no valid"):
        run_sweep(prices, "sma_cross", {"fast": [50, 60], "slow": [20, 40]})
    with pytest.raises(ParamError, match="speed"):
        run_sweep(prices, "sma_cross", {"speed": [1, 2]})
    with pytest.raises(ParamError):
        run_sweep(prices, "sma_cross", "fast=5")  # type: ignore[arg-type]


def test_flat_prices_never_trade() -> None:
    idx = pd.date_range("2022-01-03", periods=80, freq="D", name="timestamp")
    flat = pd.DataFrame({c: 10.0 for c in ["open", "high", "low", "close", "volume"]}, index=idx)
    res = run_backtest(flat, "sma_cross", {"fast": 3, "slow": 10})
    assert res.metrics["n_trades"] == 0
    assert res.metrics["final_equity"] == 100_000.0
    assert math.isnan(res.metrics["sharpe"]) and math.isnan(res.metrics["win_rate"])
    assert res.metrics["max_drawdown"] == 0.0 and res.metrics["exposure"] == 0.0


def test_kernel_simulate_keeps_cash_and_matches_the_api(prices: pd.DataFrame) -> None:
    from engine.sim import kernels as k
    from engine.sim.strategies import Bars, get_strategy

    opts = SimOptions(allow_short=True, stop_loss=3.0, fee=1.0).validate()
    bars = Bars.from_frame(prices)
    target = get_strategy("sma_cross").signal(bars, {"fast": 5, "slow": 20})
    block, trades = k.simulate(
        bars.open, bars.high, bars.low, bars.close, target, k.make_config(opts)
    )
    equity, position, cash = block[k.ROW_EQUITY], block[k.ROW_POSITION], block[k.ROW_CASH]
    assert np.allclose(equity, cash + position * bars.close, rtol=1e-12)
    res = run_backtest(prices, "sma_cross", {"fast": 5, "slow": 20}, options=opts)
    assert np.array_equal(res.equity["equity"].to_numpy(), equity)
    assert trades.shape == (len(res.trades), k.TRADE_COLUMNS)
    assert np.array_equal(trades[:, k.T_PNL], res.trades["pnl"].to_numpy())
