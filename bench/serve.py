"""A real `streamlit run` of the dashboard and the Chromium flags, shared by the browser
benchmark (bench/browser_bench.py) and the end-to-end tests (tests/e2e/)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("BACKTEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 120.0


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_env(root: Path, config: Path, **extra: str) -> dict[str, str]:
    """This process's environment without BACKTEST_* settings, on storage ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKTEST_")}
    env.update(BACKTEST_STORAGE_ROOT=str(root), BACKTEST_CONFIG=str(config), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until ``url``'s /_stcore/health answers 200; raise if the server exits first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT_S:.0f}s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL after 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def streamlit_server(
    env: Mapping[str, str], log: Path, options: Sequence[str] | None = None
) -> Iterator[str]:
    """`streamlit run streamlit_app.py` on a free loopback port; yields its base URL.

    ``options`` replace the default server flags (headless, loopback, no usage statistics,
    no file watcher); the port is always added."""
    port = free_port()
    flags = list(options) if options is not None else [
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", *flags]
    command += ["--server.port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        stop(proc)
