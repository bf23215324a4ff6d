"""The hosted dashboard's entry point (infra/dashboard.Dockerfile's CMD): Streamlit, hosted mode.

``python -m infra.dashboard_serve`` replaces itself with ``streamlit run streamlit_app.py`` and
the settings a server behind the load balancer needs: listening on ``BACKTEST_SERVE_ADDRESS``
(default ``0.0.0.0``; the tasks' security group admits only the load balancer) and
``BACKTEST_SERVE_PORT`` (default 8501), headless, no usage statistics, the toolbar in viewer mode
(no "Deploy" menu), no file watcher, and Streamlit's upload limit equal to the app's own cap
(``BACKTEST_UPLOAD_MAX_MB``), so the Data page's one-line message is the one a user sees.
Login is the image's ``BACKTEST_AUTH=alb`` (app/auth.py verifies the load balancer's token).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from engine.errors import ParamError, ProjectError
from jobs.settings import load_settings

ADDRESS_ENV = "BACKTEST_SERVE_ADDRESS"
PORT_ENV = "BACKTEST_SERVE_PORT"
DEFAULT_ADDRESS = "0.0.0.0"  # in the container: the security group admits the LB only
DEFAULT_PORT = 8501


def _port(env: Mapping[str, str]) -> int:
    raw = env.get(PORT_ENV, "").strip() or str(DEFAULT_PORT)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ParamError(f"{PORT_ENV} must be a port number (1-65535), got {raw!r}")
    return int(raw)


def streamlit_command(env: Mapping[str, str] | None = None) -> list[str]:
    """The ``streamlit run`` command line for the hosted dashboard."""
    env = os.environ if env is None else env
    settings = load_settings(env)
    address = env.get(ADDRESS_ENV, "").strip() or DEFAULT_ADDRESS
    options = {
        "server.address": address,
        "server.port": str(_port(env)),
        "server.headless": "true",
        "server.fileWatcherType": "none",
        "server.runOnSave": "false",
        "server.maxUploadSize": str(settings.upload_max_mb),
        "browser.gatherUsageStats": "false",
        "client.toolbarMode": "viewer",
    }
    flags = [part for key, value in options.items() for part in (f"--{key}", value)]
    return [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", *flags]


def main(argv: Sequence[str] | None = None) -> int:
    """Exec Streamlit; a bad setting is one line on stderr and its exit code."""
    del argv
    try:
        command = streamlit_command()
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    os.execv(command[0], command)
    return 0  # not reached: execv replaces the process


if __name__ == "__main__":
    raise SystemExit(main())
