"""The hosted dashboard image (infra/dashboard.Dockerfile) without Docker: its install step in a
fresh venv, its files copied as its COPY lines say, its CMD serving /_stcore/health; and the
Streamlit settings its entry point passes (infra/dashboard_serve.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine.errors import ParamError
from infra import dashboard_serve
from tests._app_helpers import APP, TIMEOUT, app_root_fixture  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "infra" / "dashboard.Dockerfile"
UV = Path(sys.executable).with_name("uv")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    rows = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def image_env() -> dict[str, str]:
    pairs = [p for word, rest in instructions() if word == "ENV" for p in shlex.split(rest)]
    return dict(p.split("=", 1) for p in pairs)


def test_the_entry_point_serves_headless_quiet_viewer_toolbar_with_the_apps_upload_cap() -> None:
    env = {"BACKTEST_CONFIG": "/nonexistent.toml", "BACKTEST_UPLOAD_MAX_MB": "7"}
    command = dashboard_serve.streamlit_command(env)
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", "streamlit_app.py"]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options == {
        "--server.address": "0.0.0.0",
        "--server.port": "8501",
        "--server.headless": "true",
        "--server.fileWatcherType": "none",
        "--server.runOnSave": "false",
        "--server.maxUploadSize": "7",
        "--browser.gatherUsageStats": "false",
        "--client.toolbarMode": "viewer",
    }
    default = dashboard_serve.streamlit_command({"BACKTEST_CONFIG": "/nonexistent.toml"})
    assert default[default.index("--server.maxUploadSize") + 1] == "50"  # Settings' default cap


def test_bad_serve_settings_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for port in ("http", "0", "70000"):
        with pytest.raises(ParamError, match="BACKTEST_SERVE_PORT must be a port number"):
            dashboard_serve.streamlit_command({"BACKTEST_SERVE_PORT": port})
    monkeypatch.setenv("BACKTEST_UPLOAD_MAX_MB", "lots")
    assert dashboard_serve.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "BACKTEST_UPLOAD_MAX_MB" in err
    assert len(err.strip().splitlines()) == 1


def test_the_image_requires_the_load_balancers_login_and_runs_the_entry_point() -> None:
    env = image_env()
    assert env["BACKTEST_AUTH"] == "alb"
    assert "BACKTEST_ALB_ARN" not in env  # the task definition names its own load balancer
    rows = instructions()
    assert rows[-1] == ("CMD", '["python", "-m", "infra.dashboard_serve"]')
    assert ("USER", "backtest") in rows
    run = [rest for word, rest in rows if word == "RUN" and rest.startswith("pip install")]
    assert run == ["pip install --no-cache-dir --require-hashes --no-deps -r /app/requirements.txt"]


def test_the_badge_names_the_stack(app_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("BACKTEST_STACK", "bt-prod")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    badges = [m.value for m in at.sidebar.markdown if "badge" in m.value]
    assert any("stack bt-prod" in b for b in badges), badges
    monkeypatch.delenv("BACKTEST_STACK")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not any("stack" in m.value for m in at.sidebar.markdown)


def _copy_as_the_image_does(app: Path) -> None:
    for word, rest in instructions():
        if word != "COPY" or rest.startswith("requirements.txt"):
            continue
        src, dest = rest.split()
        target = app / dest.removeprefix("/app/")
        if (REPO / src).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache")
            shutil.copytree(REPO / src, target, ignore=ignore)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / src, target)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health(port: int, deadline: float) -> str:
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_a_fresh_venv_from_the_install_step_serves_health(tmp_path: Path) -> None:
    venv, app = tmp_path / "venv", tmp_path / "app"
    # the image's `pip install --require-hashes --no-deps -r requirements.txt`, replayed with
    # uv from its local cache (offline: no registry), into an empty venv
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, venv], check=True)
    python = venv / "bin" / "python"
    install = ["pip", "install", "-q", "--offline", "--python", str(python), "--require-hashes"]
    subprocess.run([UV, *install, "--no-deps", "-r", REPO / "requirements.txt"], check=True)
    _copy_as_the_image_does(app)
    assert not (app / "tests").exists() and (app / "streamlit_app.py").is_file()
    # everything the router imports is in the image (e.g. the ALB check needs no crypto package)
    imports = "import app.auth, app.es256, app.loaders, views._pages, jobs.batch"
    subprocess.run([python, "-c", imports], cwd=app, check=True, env={"PYTHONPATH": str(app)})
    port = _free_port()
    env = {
        **image_env(),
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(app),
        "BACKTEST_SERVE_ADDRESS": "127.0.0.1",
        "BACKTEST_SERVE_PORT": str(port),
    }
    proc = subprocess.Popen(
        [python, "-m", "infra.dashboard_serve"],
        cwd=app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert _health(port, time.monotonic() + 120) == "ok"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert b"Traceback" not in out, out.decode(errors="replace")
