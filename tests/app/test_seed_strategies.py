"""`make run` seeds the example strategies through the validated add path (app.seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.seed import EXAMPLES, seed_strategies
from engine.store.objects import LocalStore
from engine.userstrat import get_strategy, list_strategies
from engine.userstrat.library import HISTORY_PREFIX

BUCKET = "backtest-input"
ROOT = Path(__file__).resolve().parents[2]


def _objects(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in root.rglob("*")
        if p.is_file()
    }


def test_examples_are_added_once_and_a_second_seed_writes_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / BUCKET).mkdir()
    first = seed_strategies(store, BUCKET)
    names = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert len(names) >= 3
    assert [r.action for r in first] == ["added"] * len(names)
    stored = list_strategies(store, BUCKET)
    assert [i.name for i in stored] == names
    for info in stored:  # the exact bytes of the example, with the seed recorded as who
        assert info.source.encode() == (EXAMPLES / f"{info.name}.py").read_bytes()
        assert info.added_by == "seeded example"
    assert len(store.list(BUCKET, HISTORY_PREFIX)) == len(names)

    before = _objects(tmp_path)
    again = seed_strategies(store, BUCKET)
    assert [r.action for r in again] == ["same"] * len(names)
    assert _objects(tmp_path) == before  # nothing written, not even a history record


def test_a_stored_file_with_other_content_is_kept(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / BUCKET).mkdir()
    from engine.userstrat import put_strategy

    mine = (EXAMPLES / "close_above_sma.py").read_text().replace('"default": 15', '"default": 20')
    put_strategy(store, BUCKET, mine, user="alice")
    results = {r.path.stem: r for r in seed_strategies(store, BUCKET)}
    kept = results["close_above_sma"]
    assert kept.action == "kept"
    assert "--overwrite" in kept.line and "alice" in kept.line
    info = get_strategy(store, BUCKET, "close_above_sma")
    assert info.source == mine and info.added_by == "alice"
    assert {r.action for k, r in results.items() if k != "close_above_sma"} == {"added"}


def test_make_runs_seed_command_seeds_samples_and_strategies(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKTEST_", "AWS_"))}
    env.update(BACKTEST_CONFIG=str(tmp_path / "none.toml"), BACKTEST_STORAGE_ROOT=str(tmp_path))
    cmd = [sys.executable, "-m", "app.seed"]
    first = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "seeded strategies/close_above_sma.py" in first.stdout
    assert (tmp_path / BUCKET / "samples" / "trend_up_daily.csv").exists()
    second = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "" and second.stderr == ""
