"""Packaging: pyproject.toml says what, uv.lock pins it, the requirements files are its exports.

These run the real uv (bootstrapped into the venv by the Makefile) against the checked-in lock,
and the installed distribution's own metadata (the project is installed editable by `uv sync`).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from engine.sim.synthetic import random_walk
from infra import remote_build

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
    # the engine's set plus the jobs extra: a TPE search's step job runs the jobs CLI there
    exported = _run_uv(*EXPORT, "--no-default-groups", "--extra", "jobs")
    assert (REPO / "engine" / "requirements.txt").read_text() == exported, "run `make lock`"
    pins = _pins(exported)
    assert {"numpy", "numba", "pandas", "pyarrow", "s3fs", "botocore"} <= set(pins)
    assert {"boto3", "psutil", "optuna"} <= set(pins)
    assert not {"streamlit", "plotly", "tomli-w"} & set(pins)
    assert not TEST_TOOLS & set(pins)


def test_exported_versions_are_the_locked_versions() -> None:
    locked = _locked()
    for pins in (
        _pins((REPO / f).read_text()) for f in ("requirements.txt", "engine/requirements.txt")
    ):
        assert {name: locked[name] for name in pins} == pins


def test_dead_pins_are_gone_from_the_lock() -> None:
    assert not DEAD & set(_locked())


def test_the_image_installs_the_exported_engine_set_with_hashes_then_the_project() -> None:
    pips = [rest for word, rest in _image_steps() if word == "RUN" and "pip" in rest.split()]
    assert pips == [
        "pip install --no-cache-dir --require-hashes --no-deps -r /tmp/build/requirements.txt",
        "pip install --no-cache-dir --no-deps /tmp/build",
    ]
    assert "--hash=sha256:" in (REPO / "engine" / "requirements.txt").read_text()
    env = dict(
        p.split("=", 1) for w, rest in _image_steps() if w == "ENV" for p in shlex.split(rest)
    )
    assert "PYTHONPATH" not in env  # the project is installed, not put on the path


def _image_steps() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of engine/Dockerfile, continuation lines joined."""
    joined = (REPO / "engine" / "Dockerfile").read_text().replace("\\\n", " ")
    rows = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            rows.append((word.upper(), " ".join(rest.split())))
    return rows


class _Image:
    """engine/Dockerfile replayed without docker: the container's ``/`` is ``fs``, the build
    context is what .dockerignore lets through, ``pip install`` runs offline with uv into a
    fresh venv (no registry), and the RUN steps after USER run with bash as written."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.fs, self.venv = tmp, tmp / "fs", tmp / "venv"
        self.context = tmp / "context"
        with zipfile.ZipFile(io.BytesIO(remote_build.source_archive(REPO))) as zf:
            zf.extractall(self.context)
        subprocess.run([_uv(), "venv", "-q", "--python", sys.executable, self.venv], check=True)
        self.workdir = self.fs
        self.env = {
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(tmp),
            "PYTHONNOUSERSITE": "1",
            "TMPDIR": str(tmp),
        }

    def path(self, container_path: str) -> Path:
        return self.fs / container_path.lstrip("/")

    def _in_fs(self, word: str) -> str:
        return str(self.path(word)) if word.startswith("/") else word

    def build(self) -> None:
        user = False
        for word, rest in _image_steps():
            if word == "ENV":
                pairs = (p.split("=", 1) for p in shlex.split(rest))
                self.env.update({k: self._in_fs(v) for k, v in pairs})
            elif word == "WORKDIR":
                self.workdir = self.path(rest)
                self.workdir.mkdir(parents=True, exist_ok=True)
            elif word == "COPY":
                self._copy(*rest.split())
            elif word == "USER":
                user = True
            elif word == "RUN" and rest.startswith("pip install"):
                self._pip(shlex.split(rest)[2:])
            elif word == "RUN" and user:  # as the job's user: replayable as written
                done = subprocess.run(
                    ["bash", "-c", rest], cwd=self.workdir, env=self.env,
                    capture_output=True, text=True, timeout=900, check=False,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr[-3000:]

    def _copy(self, src: str, dest: str) -> None:
        source, target = self.context / src, self.path(dest)
        assert source.exists(), f"COPY {src}: .dockerignore keeps it out of the build context"
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)

    def _pip(self, args: list[str]) -> None:
        args = [self._in_fs(a) for a in args if a != "--no-cache-dir"]
        python = ["--python", str(self.venv / "bin" / "python")]
        done = subprocess.run(
            [_uv(), "pip", "install", "-q", "--offline", *python, *args],
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]

    def run(self, *command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / command[0]), *command[1:]],
            cwd=cwd, env=self.env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_image_replayed_in_a_fresh_venv_runs_the_reference_command(tmp_path: Path) -> None:
    image = _Image(tmp_path)
    image.build()  # includes the warm-up RUN: the reference command in WORKDIR, as built
    assert "PYTHONPATH" not in image.env
    assert (image.workdir / "backtest.py").is_file()
    assert not (image.workdir / "engine").exists()  # nothing to import from the folder itself
    assert any(Path(image.env["NUMBA_CACHE_DIR"]).rglob("*.nbi")), "no kernel was cached"
    where = image.run("python", "-c", "import engine; print(engine.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(image.venv)  # the installed package

    root = tmp_path / "store"
    random_walk(300, seed=1).to_csv(_mkdir(root / "src") / "prices.csv")
    _mkdir(root / "results")
    image.env["BACKTEST_STORAGE_ROOT"] = str(root)
    elsewhere = _mkdir(tmp_path / "elsewhere")
    for run_id, command, cwd in (
        ("as-file", ("python", "backtest.py"), image.workdir),  # the reference command form
        ("as-module", ("python", "-m", "engine.backtest"), image.workdir),
        ("by-path", ("python", str(image.workdir / "backtest.py")), elsewhere),
        ("as-module-elsewhere", ("python", "-m", "engine.backtest"), elsewhere),
        ("console-script", ("backtest",), elsewhere),
    ):
        done = image.run(*command, "src", "prices.csv", "results", "--run-id", run_id, cwd=cwd)
        assert done.returncode == 0, (run_id, done.stderr[-2000:])
        assert done.stdout.strip().splitlines()[-1] == f"s3://results/runs/{run_id}/"
        prefix = root / "results" / "runs" / run_id
        assert (prefix / "_SUCCESS").is_file(), run_id
        assert json.loads((prefix / "metrics.json").read_text())["n_trades"] >= 0
    outputs = {
        (root / "results" / "runs" / r / "metrics.json").read_text()
        for r in ("as-file", "as-module", "by-path", "as-module-elsewhere", "console-script")
    }
    assert len(outputs) == 1  # one engine whichever way it is started


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


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
