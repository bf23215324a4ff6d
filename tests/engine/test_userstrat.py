"""Strategy files: validation in a subprocess, the store (strategies/<NAME>.py + sidecar),
resolution by name and the loaded Strategy's powers (issue 12 points 1, 4)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.api import run_backtest, run_sweep
from engine.errors import NotFoundError, ParamError, StrategyError
from engine.sim.strategies import STRATEGIES, Bars, get_strategy
from engine.sim.synthetic import random_walk
from engine.store.objects import LocalStore, open_store
from engine.userstrat import (
    STRATEGY_PREFIX,
    delete_strategy,
    list_strategies,
    put_strategy,
    resolve_strategy,
    validate_source,
)
from engine.userstrat import get_strategy as get_stored
from engine.userstrat.loader import load_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
IN = "prices-in"

HEADER = 'import numpy as np\nNAME = "probe_me"\nDESCRIPTION = "d"\nPARAMS = {}\n'
FAST_SLOW = """import numpy as np
NAME = "fast_slow_close"
DESCRIPTION = "Long while the close is above both of two lagged closes."
PARAMS = {
    "fast": {"type": "int", "default": 3, "min": 1, "max": 50, "help": "fast lag"},
    "slow": {"type": "int", "default": 10, "min": 2, "max": 100, "help": "slow lag"},
}
CONSTRAINTS = [("fast < slow", lambda p: p["fast"] < p["slow"])]


def signal(bars, p):
    c = bars.close
    out = np.zeros(len(c))
    s = p["slow"]
    out[s:] = np.where((c[s:] > c[s - p["fast"]:-p["fast"]]) & (c[s:] > c[:-s]), 1.0, -1.0)
    return out
"""


def reference_source() -> str:
    return (EXAMPLES / "close_above_sma.py").read_text()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    s = LocalStore(tmp_path / "root")
    s.create_bucket(IN)
    return s


def test_a_valid_file_gives_its_schema_and_sha256_without_being_imported_here() -> None:
    source = reference_source()
    before = {m for m in sys.modules if m.startswith("backtest_strategy_")}
    info = validate_source(source, "close_above_sma.py")
    assert {m for m in sys.modules if m.startswith("backtest_strategy_")} == before
    assert info.name == "close_above_sma"
    assert info.sha256 == hashlib.sha256(source.encode()).hexdigest()
    assert info.source == source
    (window,) = info.params
    assert (window.name, window.kind, window.default, window.low, window.high) == (
        "window",
        "int",
        15,
        2,
        500,
    )
    assert info.constraints == ()


def test_user_code_runs_in_another_process(tmp_path: Path) -> None:
    marker = tmp_path / "pids.txt"
    source = (
        f"import os\nopen({str(marker)!r}, 'a').write(str(os.getpid()) + '\\n')\n"
        + HEADER.split("\n", 1)[1]
        + "def signal(bars, p):\n    import numpy as np\n    return np.zeros(len(bars.close))\n"
    )
    validate_source(source, "pid.py")
    pids = {int(x) for x in marker.read_text().split()}
    assert pids and os.getpid() not in pids


def test_the_probe_gets_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("GITHUB_TOKEN", "do-not-leak")
    monkeypatch.setenv("HARMLESS_SETTING", "seen")
    seen = tmp_path / "env.json"
    source = (
        f"import json, os\njson.dump(dict(os.environ), open({str(seen)!r}, 'w'))\n"
        + HEADER
        + "def signal(bars, p):\n    return np.zeros(len(bars.close))\n"
    )
    validate_source(source, "env.py")
    env = json.loads(seen.read_text())
    assert "do-not-leak" not in env.values()
    assert env["HARMLESS_SETTING"] == "seen"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('NAME = "sma_cross"\n', "NAME 'sma_cross' is a built-in strategy"),
        ("NAME = 'Bad-Name'\n", "NAME must be a string matching"),
        ("x = (\n", "bad.py line 1: syntax error"),
        (
            HEADER.replace("PARAMS = {}", 'PARAMS = {"w": {"type": "int", "default": 1, "min": 2}}')
            + "def signal(bars, p):\n    return np.zeros(len(bars.close))\n",
            "default 1 is outside min..max",
        ),
        (
            HEADER.replace("PARAMS = {}", 'PARAMS = {"w": {"type": "integer", "default": 1}}')
            + "def signal(bars, p):\n    return np.zeros(len(bars.close))\n",
            "PARAMS['w']['type'] is 'integer'",
        ),
        (HEADER + "def signal(bars, p):\n    return 1 / 0\n", "bad.py line 6: ZeroDivisionError"),
        (
            HEADER + "def signal(bars, p):\n    return np.zeros(len(bars.close), dtype=np.int64)\n",
            "dtype int64, not float64",
        ),
        (HEADER + "def signal(bars, p):\n    return np.zeros(3)\n", "shape (3,) for 1000 bars"),
        (
            HEADER + "def signal(bars, p):\n    return np.log(bars.close - bars.close)\n",
            "non-finite target",
        ),
        (
            HEADER + "def signal(bars, p):\n"
            "    c = bars.close\n    return np.where(np.roll(c, -1) > c, 1.0, 0.0)\n",
            "look-ahead: the target at bar",
        ),
        (
            HEADER + "def signal(bars, p):\n    return np.random.rand(len(bars.close))\n",
            "not deterministic",
        ),
        (
            FAST_SLOW.replace('"default": 3', '"default": 30'),
            "the defaults break a constraint: fast_slow_close: fast < slow",
        ),
        (HEADER, "no function signal(bars, p)"),
    ],
)
def test_every_refusal_is_one_line_naming_the_file_and_the_rule(source: str, expected: str) -> None:
    with pytest.raises(StrategyError) as err:
        validate_source(source, "bad.py")
    message = str(err.value)
    assert message.startswith("bad.py")
    assert expected in message
    assert "\n" not in message and "Traceback" not in message and "engine/" not in message


def test_an_endless_loop_and_a_memory_hog_are_stopped() -> None:
    loop = HEADER + "def signal(bars, p):\n    while True:\n        pass\n"
    with pytest.raises(StrategyError, match="validation took longer than 4 s"):
        validate_source(loop, "loop.py", timeout_s=4)
    hog = HEADER + "big = np.ones(400_000_000)\ndef signal(bars, p):\n    return big[:1]\n"
    with pytest.raises(StrategyError, match=r"hog.py.*(MemoryError|more than)"):
        validate_source(hog, "hog.py", memory_mb=1024)


def test_put_list_get_delete_through_the_sidecar(store: LocalStore) -> None:
    source = reference_source()
    info = put_strategy(store, IN, source, user="ana", filename="close_above_sma.py")
    assert (info.added_by, info.name) == ("ana", "close_above_sma")
    root = store.root / IN / "strategies"
    assert (root / "close_above_sma.py").read_text() == source
    sidecar = json.loads((root / "close_above_sma.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(source.encode()).hexdigest()
    assert sidecar["added_by"] == "ana" and sidecar["added_at"].endswith("Z")
    assert [i.name for i in list_strategies(store, IN)] == ["close_above_sma"]
    assert get_stored(store, IN, "close_above_sma") == info
    # the same bytes again write nothing; other bytes need overwrite
    assert put_strategy(store, IN, source, user="bob") == info
    edited = source.replace('"default": 15', '"default": 20')
    with pytest.raises(StrategyError, match=r"already exists.*--overwrite"):
        put_strategy(store, IN, edited, user="bob")
    assert get_stored(store, IN, "close_above_sma").sha256 == info.sha256
    new = put_strategy(store, IN, edited, user="bob", overwrite=True)
    assert new.sha256 == hashlib.sha256(edited.encode()).hexdigest() and new.added_by == "bob"
    delete_strategy(store, IN, "close_above_sma", user="cy")
    assert list_strategies(store, IN) == []
    assert not (root / "close_above_sma.py").exists()
    with pytest.raises(NotFoundError, match="no strategy 'close_above_sma'"):
        get_stored(store, IN, "close_above_sma")
    history = [json.loads(p.read_text()) for p in sorted((root / "_history").iterdir())]
    assert [(h["action"], h["user"]) for h in history] == [
        ("add", "ana"),
        ("replace", "bob"),
        ("delete", "cy"),
    ]


def test_a_refused_file_is_not_stored(store: LocalStore) -> None:
    with pytest.raises(StrategyError, match="ZeroDivisionError"):
        put_strategy(store, IN, HEADER + "def signal(bars, p):\n    return 1 / 0\n", user="a")
    assert not store.list(IN, STRATEGY_PREFIX)


def test_a_py_without_its_sidecar_or_a_tampered_sidecar_is_not_a_strategy(
    store: LocalStore,
) -> None:
    store.put_bytes(IN, "strategies/close_above_sma.py", reference_source().encode())
    assert list_strategies(store, IN) == []
    with pytest.raises(ParamError, match="no strategy file s3://prices-in/strategies/close_"):
        resolve_strategy("close_above_sma", store=store, bucket=IN)
    put_strategy(store, IN, reference_source(), user="a")
    key = "strategies/close_above_sma.json"
    record = json.loads(store.get_bytes(IN, key))
    record["source"] += "\n# edited\n"
    store.put_bytes(IN, key, json.dumps(record).encode())
    with pytest.raises(StrategyError, match="does not match its sha256"):
        get_stored(store, IN, "close_above_sma")


def test_resolve_finds_a_built_in_first_then_the_stored_file(store: LocalStore) -> None:
    assert resolve_strategy("sma_cross", store=store, bucket=IN) is STRATEGIES["sma_cross"]
    with pytest.raises(ParamError, match="unknown strategy 'fast_slow_close'"):
        resolve_strategy("fast_slow_close")
    put_strategy(store, IN, FAST_SLOW, user="a")
    strat = resolve_strategy("fast_slow_close", store=store, bucket=IN)
    assert strat.is_file and strat.sha256 == hashlib.sha256(FAST_SLOW.encode()).hexdigest()
    assert get_strategy("fast_slow_close") is strat  # findable by name in this process now
    assert strat.defaults() == {"fast": 3, "slow": 10}
    assert strat.label({"fast": 2}) == "fast_slow_close(fast=2, slow=10)"
    with pytest.raises(ParamError, match=r"fast_slow_close: fast < slow \(got fast=10, slow=10\)"):
        strat.validate({"fast": 10})
    with pytest.raises(ParamError, match=r"slow=1000 is out of range; allowed int 2\.\.100"):
        strat.validate({"slow": 1000})
    # the signal is the file's rule, checked against an independent pandas version
    prices = random_walk(400, seed=3)
    c = prices["close"]
    want = np.where((c > c.shift(3)) & (c > c.shift(10)), 1.0, -1.0)
    want[:10] = 0.0
    got = strat.signal(Bars.from_frame(prices), {"fast": 3, "slow": 10})
    np.testing.assert_array_equal(got, want)


def test_a_file_strategy_runs_and_sweeps_like_a_built_in() -> None:
    strat = load_source(reference_source(), "close_above_sma.py")
    prices = random_walk(2_000, seed=5)
    res = run_backtest(prices, strat, {"window": 15})
    builtin = run_backtest(prices, "sma_cross", {"fast": 1, "slow": 15})
    # close > SMA(15) is sma_cross(1, 15) long-only: same positions, same metrics
    pd.testing.assert_frame_equal(res.equity, builtin.equity)
    assert res.metrics == builtin.metrics
    table = run_sweep(prices, strat, {"window": [10, 20, 30]})
    assert table["window"].tolist() == [10, 20, 30]
    ref = run_sweep(prices, "sma_cross", {"fast": [1], "slow": [10, 20, 30]})
    np.testing.assert_array_equal(table["sharpe"].to_numpy(), ref["sharpe"].to_numpy())


def test_an_error_in_the_users_signal_names_its_line_at_run_time() -> None:
    source = FAST_SLOW.replace("    c = bars.close\n", '    c = bars.close\n    p["nope"]\n')
    strat = load_source(source.replace("fast_slow_close", "fails_late"), "fails_late.py")
    with pytest.raises(StrategyError) as err:
        run_backtest(random_walk(100, seed=1), strat)
    assert str(err.value).startswith("fails_late.py line 13: KeyError: 'nope' (in signal)")


def test_stored_strategies_on_s3(aws_env: str) -> None:
    s3 = open_store(dict(os.environ))
    s3.create_bucket(IN)
    info = put_strategy(s3, IN, reference_source(), user="ana")
    assert [i.sha256 for i in list_strategies(s3, IN)] == [info.sha256]
    assert resolve_strategy("close_above_sma", store=s3, bucket=IN).sha256 == info.sha256
    delete_strategy(s3, IN, "close_above_sma", user="ana")
    assert list_strategies(s3, IN) == []
