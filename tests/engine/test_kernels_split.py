"""kernels.py split by concern (issue 12): the import paths others use still work, every part
is under the module-size limit, and the on-disk numba cache cannot go stale across the parts.

numba keys a cached function's cache on its own file only; the cached entry points live in
kernels.py and compile the parts into themselves, so any edit of a part must come with an
edit of kernels.py (its PARTS_DIGEST literal) or an old cached kernel would keep running.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from engine.sim import kernels as k

SIM = Path(k.__file__).resolve().parent


def test_parts_digest_matches_the_part_files() -> None:
    h = hashlib.sha256()
    for name in k.PARTS:
        h.update((SIM / name).read_bytes())
    digest = h.hexdigest()[:16]
    assert digest == k.PARTS_DIGEST, (
        f"a kernel part changed: set PARTS_DIGEST = {digest!r} in engine/sim/kernels.py "
        "(that edit is what refreshes numba's on-disk cache of the entry points)"
    )


def test_signals_cache_follows_the_indicators_it_inlines() -> None:
    from engine.sim import signals

    digest = hashlib.sha256((SIM / "indicators.py").read_bytes()).hexdigest()[:16]
    assert digest == signals.INDICATORS_DIGEST, (
        f"engine/sim/indicators.py changed: set INDICATORS_DIGEST = {digest!r} in "
        "engine/sim/signals.py (that edit refreshes numba's cache of the fused sma_cross)"
    )


def _cached(dispatcher: object) -> bool:
    return type(getattr(dispatcher, "_cache", None)).__name__ != "NullCache"


def test_only_the_entry_points_are_cached() -> None:
    # a cached helper in a part would be loaded stale from its own cache into a recompiled
    # entry point; so only kernels.py's functions may be cached
    from engine.sim import kernel_fills, kernel_loop, kernel_metrics

    for module in (kernel_fills, kernel_loop, kernel_metrics):
        jitted = [v for v in vars(module).values() if hasattr(v, "py_func")]
        assert jitted, module.__name__
        assert [f.py_func.__name__ for f in jitted if _cached(f)] == [], module.__name__
    for name in ("simulate_into", "max_trades", "simulate_metrics", "simulate_metrics_periods"):
        assert _cached(getattr(k, name)), name


def test_every_kernel_module_is_under_500_lines() -> None:
    for name in ("kernels.py", *k.PARTS):
        assert len((SIM / name).read_text().splitlines()) < 500, name


def test_names_used_elsewhere_are_still_exported() -> None:
    # grep of engine/, bench/, tests/: k.<name> and `from engine.sim.kernels import <name>`
    used = [
        "EXIT_OPEN", "EXIT_REASONS", "EXIT_RUIN", "METRIC_ORDER", "ROW_CASH", "ROW_EQUITY",
        "ROW_POSITION", "TRADE_COLUMNS", "T_ENTRY_IDX", "T_ENTRY_PRICE", "T_EXIT_IDX",
        "T_EXIT_PRICE", "T_PNL", "T_REASON", "T_RETURN", "T_SIDE", "T_UNITS", "make_config",
        "max_trades", "simulate", "simulate_into", "simulate_metrics", "simulate_metrics_periods",
        "N_ROWS", "N_METRICS",
    ]  # fmt: skip
    assert [name for name in used if not hasattr(k, name)] == []
    assert set(used) <= set(k.__all__)


def test_split_kernels_still_trade() -> None:
    # buy at bar 1's open 10, stopped at 9 (stop 10%) in bar 2, flat after
    o = np.array([10.0, 10.0, 9.5, 9.0])
    h = np.array([10.0, 10.5, 9.6, 9.2])
    lo = np.array([10.0, 9.9, 8.5, 8.8])
    c = np.array([10.0, 10.2, 9.0, 9.1])
    from engine.spec import SimOptions

    cfg = k.make_config(SimOptions(cash=1000.0, commission=0.0, stop_loss=10.0))
    block, trades = k.simulate(o, h, lo, c, np.ones(4), cfg)
    assert trades.shape == (1, k.TRADE_COLUMNS)
    assert k.EXIT_REASONS[int(trades[0, k.T_REASON])] == "stop_loss"
    assert trades[0, k.T_EXIT_PRICE] == 9.0 and block[k.ROW_EQUITY, -1] == 900.0
    row = k.simulate_metrics(o, h, lo, c, np.ones(4), cfg)
    assert row[k.METRIC_ORDER.index("final_equity")] == 900.0
