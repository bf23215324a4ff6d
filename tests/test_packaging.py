"""Packaging: pyproject.toml says what, uv.lock pins it, the requirements files are its exports.

These run the real uv (bootstrapped into the venv by the Makefile) against the checked-in lock,
and the installed distribution's own metadata (the project is installed editable by `uv sync`).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
EXPORT = ["export", "--frozen", "--quiet", "--format", "requirements-txt", "--no-emit-project"]
TEST_TOOLS = {"pytest", "moto", "playwright", "hypothesis", "ruff", "mypy", "parliament"}
DEAD = {"scipy", "cfn-lint", "sympy", "networkx", "mpmath"}


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: run `make venv-dev` (it bootstraps the pinned uv)")
    return found


def _run_uv(*args: str) -> str:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [_uv(), *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pins(text: str) -> dict[str, str]:
    """name -> version of each `name==version` line of a requirements file."""
    out: dict[str, str] = {}
    for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", text, re.M):
        out[_norm(m.group(1))] = m.group(2)
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {_norm(p["name"]): p.get("version", "") for p in lock["package"]}


def test_the_lock_matches_pyproject() -> None:
    _run_uv("lock", "--check", "--offline")


def test_requirements_txt_is_the_lock_exported_without_test_tools() -> None:
    exported = _run_uv(*EXPORT, "--all-extras", "--no-default-groups")
    assert (REPO / "requirements.txt").read_text() == exported, "run `make lock`"
    pins = _pins(exported)
    assert {"streamlit", "plotly", "boto3", "psutil", "tomli-w", "numba"} <= set(pins)
    assert not TEST_TOOLS & set(pins)


def test_engine_requirements_are_the_engine_set_exported_from_the_lock() -> None:
    exported = _run_uv(*EXPORT, "--no-default-groups")
    assert (REPO / "engine" / "requirements.txt").read_text() == exported, "run `make lock`"
    pins = _pins(exported)
    assert {"numpy", "numba", "pandas", "pyarrow", "s3fs", "botocore"} <= set(pins)
    assert not {"streamlit", "plotly", "psutil", "boto3"} & set(pins)
    assert not TEST_TOOLS & set(pins)


def test_exported_versions_are_the_locked_versions() -> None:
    locked = _locked()
    for pins in (
        _pins((REPO / f).read_text()) for f in ("requirements.txt", "engine/requirements.txt")
    ):
        assert {name: locked[name] for name in pins} == pins


def test_dead_pins_are_gone_from_the_lock() -> None:
    assert not DEAD & set(_locked())


def test_the_image_installs_the_exported_engine_set_with_hashes() -> None:
    dockerfile = (REPO / "engine" / "Dockerfile").read_text()
    run = [line for line in dockerfile.splitlines() if line.startswith("RUN pip install")]
    assert run == [
        "RUN pip install --no-cache-dir --require-hashes --no-deps -r /app/engine/requirements.txt"
    ]
    assert "--hash=sha256:" in (REPO / "engine" / "requirements.txt").read_text()


def _third_party_imports(folder: str) -> set[str]:
    """Top-level modules imported anywhere under folder (any depth, lazy imports included)."""
    ours = {"engine", "jobs", "infra", "app", "views", "bench", "tests"}
    names: set[str] = set()
    for path in (REPO / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ours}


def _dists_of(modules: set[str]) -> set[str]:
    by_module = md.packages_distributions()
    missing = sorted(m for m in modules if m not in by_module)
    assert not missing, f"imported but installed by no distribution: {missing}"
    return {_norm(d) for m in modules for d in by_module[m]}


@pytest.mark.parametrize(
    ("folder", "requirements"),
    [
        ("engine", "engine/requirements.txt"),
        ("jobs", "requirements.txt"),
        ("infra", "requirements.txt"),
        ("app", "requirements.txt"),
        ("views", "requirements.txt"),
    ],
)
def test_each_package_imports_only_what_its_install_set_pins(
    folder: str, requirements: str
) -> None:
    dists = _dists_of(_third_party_imports(folder))
    pinned = set(_pins((REPO / requirements).read_text()))
    assert dists <= pinned, f"{folder} imports {sorted(dists - pinned)}, not in {requirements}"


def test_console_scripts_are_installed_and_answer_help() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {"backtest", "backtest-jobs", "backtest-infra"}
    installed = {ep.name: ep.value for ep in md.entry_points(group="console_scripts")}
    for name, target in scripts.items():
        assert installed.get(name) == target, f"{name} is not installed: run `make venv`"
        done = subprocess.run(
            [str(Path(sys.executable).with_name(name)), "--help"],
            cwd="/",
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage:")
