"""engine/ as its three units: sim/ is pure (no storage, no sweeps, no files), every module entry
point that the job definitions, jobs/ and the docs name exists, and both CLI forms still run."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "engine" / "sim"
# What engine/sim may import: the numeric stack, pure parts of the standard library, the engine's
# value types and sim/ itself. Storage, sweeps, files and the network live elsewhere.
SIM_ALLOWED = (
    "__future__",
    "collections",
    "dataclasses",
    "typing",
    "math",
    "hashlib",
    "numpy",
    "numba",
    "pandas",
    "engine.errors",
    "engine.spec",
    "engine.sim",
)
# Where `python -m engine.<module>` commands are written down for users and for AWS Batch.
COMMAND_SOURCES = ("README.md", "docs", "infra", "jobs", "engine/Dockerfile")
MODULE_PATTERNS = (
    re.compile(r"python -m (engine(?:\.\w+)+)"),
    re.compile(r"\"-m\",\s*\"(engine(?:\.\w+)+)\""),
    re.compile(r"_MODULE = \"(engine(?:\.\w+)+)\""),
)


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in SIM_ALLOWED)


@pytest.mark.parametrize("path", sorted(SIM.glob("*.py")), ids=lambda p: p.name)
def test_sim_imports_nothing_that_does_io(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    assert [m for m in _imports(tree) if not _allowed(m)] == []
    opens = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
    ]
    assert opens == []


def test_the_sim_import_rule_refuses_storage_and_files() -> None:
    tree = ast.parse("import os\nfrom engine.store.objects import open_store\nimport numpy\n")
    assert [m for m in _imports(tree) if not _allowed(m)] == ["os", "engine.store.objects"]


def _documented_modules() -> set[str]:
    found: set[str] = set()
    for source in COMMAND_SOURCES:
        root = REPO / source
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                text = f.read_text(errors="replace")
                for pattern in MODULE_PATTERNS:
                    found |= set(pattern.findall(text))
    return found


def test_every_documented_module_entry_point_exists() -> None:
    modules = _documented_modules()
    # The collect job, the resume child and the engine CLI are named by infra/ and jobs/.
    assert {"engine.backtest", "engine.sweep.collect", "engine.sweep.resume_child"} <= modules
    for module in sorted(modules):
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, f"{module} is named but does not exist"
        assert 'if __name__ == "__main__":' in Path(spec.origin).read_text(), module


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKTEST_")}
    env.pop("PYTHONPATH", None)
    return env


def test_the_cli_runs_as_a_file_and_as_a_module() -> None:
    """The contract: `python engine/backtest.py ...` and `python -m engine.backtest ...`."""
    assert (REPO / "engine" / "backtest.py").is_file()
    as_file = subprocess.run(
        [sys.executable, "engine/backtest.py", "--list-strategies"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    as_module = subprocess.run(
        [sys.executable, "-m", "engine.backtest", "--list-strategies"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert as_file.returncode == 0, as_file.stderr
    assert as_module.returncode == 0, as_module.stderr
    assert "sma_cross" in as_file.stdout
    assert as_file.stdout == as_module.stdout
