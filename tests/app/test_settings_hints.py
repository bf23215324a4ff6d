"""Command hints the dashboard prints come from app.cli_hints (whose blocks are run as printed by
tests/app/test_settings_shared_state.py), not from hand-written strings that drift from the
settings.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from app.cli_hints import python_command, setting_exports, terminal_block, terminal_line

REPO = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"python3? -m (jobs|engine|infra|app)\b|\bmake (run|dev|seed|test|bench)\b")


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_hand_written_command_hints_in_pages_or_services() -> None:
    found = []
    for path in sorted(
        [*REPO.glob("views/*.py"), *REPO.glob("app/*.py"), REPO / "streamlit_app.py"]
    ):
        if path.name == "cli_hints.py":
            continue
        for line, text in _strings(path):
            if COMMAND.search(text):
                found.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
    assert found == [], (
        "build command hints with app.cli_hints.terminal_block instead:\n" + "\n".join(found)
    )


def test_the_block_names_the_checkout_and_quotes_what_needs_it(tmp_path: Path) -> None:
    env = {"BACKTEST_STORAGE_ROOT": "rel dir", "BACKTEST_REGION": "eu-west-1", "HOME": "/x"}
    block = terminal_block([["show", "id with space"], "{jobs} ls | head"], env=env, cwd=tmp_path)
    assert block.splitlines() == [
        f"cd {REPO}",
        "export BACKTEST_REGION=eu-west-1",
        f"export BACKTEST_STORAGE_ROOT='{tmp_path / 'rel dir'}'",
        f"{python_command()} -m jobs show 'id with space'",
        f"{python_command()} -m jobs ls | head",
    ]


def test_python_is_named_relative_to_the_checkout_only_for_its_own_venv() -> None:
    assert python_command(str(REPO / ".venv" / "bin" / "python")) == ".venv/bin/python"
    assert python_command("/opt/py 3/bin/python") == "'/opt/py 3/bin/python'"


def test_a_config_read_from_another_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "backtest.toml").write_text('backend = "local"\n')
    assert setting_exports({}, tmp_path) == [f"export BACKTEST_CONFIG={tmp_path / 'backtest.toml'}"]
    assert setting_exports({}, REPO) == []


def test_a_one_line_hint_carries_the_settings_as_assignments(tmp_path: Path) -> None:
    env = {"BACKTEST_STORAGE_ROOT": "/srv/a b", "BACKTEST_POLL_MS": "100"}
    line = terminal_line(["resume", "sw 1", "--bucket", "r"], env=env, cwd=tmp_path)
    assert line == (
        f"cd {REPO} && BACKTEST_STORAGE_ROOT='/srv/a b' BACKTEST_POLL_MS=100 "
        f"{python_command()} -m jobs resume 'sw 1' --bucket r"
    )
