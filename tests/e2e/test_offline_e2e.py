"""Local mode stays on this machine, in real Chromium against `streamlit run` with the checkout's
own .streamlit/config.toml (no command-line overrides of the options under test):

- every request the pages make (documents, scripts, fonts, the favicon, media, websockets) goes
  to the loopback server; anything else is refused by the route and reported;
- the toolbar shows no "Deploy" button;
- the server holds no inotify watches (file watcher off), so it does not watch .venv or data.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench import serve
from tests.e2e.conftest import ARTIFACTS, REPO, _free_port, _wait_healthy
from tests.e2e.test_dashboard_e2e import STEP_MS, heading

pytestmark = pytest.mark.e2e

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-extension"}
RUN_ID = "offline-run"
PAGES = [  # (url path, page title)
    ("", "batch-backtest"),
    ("data", "Data"),
    ("new", "New run"),
    ("jobs", "Jobs"),
    (f"run?run={RUN_ID}", "Run results"),
    ("sweep", "Sweep results"),
    ("compare", "Compare runs"),
]


def settle(page: Any, timeout_ms: int = STEP_MS) -> None:
    """Wait until no script run is in progress (the status widget does not say 'Running')."""
    page.wait_for_function(
        """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
                   return !s || !(s.textContent || '').includes('Running'); }""",
        timeout=timeout_ms,
    )


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOOPBACK


_stop = serve.stop


def _env(root: Path, logs: Path) -> dict[str, str]:
    return serve.local_env(root, logs / "no-config.toml")


def start_streamlit(root: Path, logs: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    """`streamlit run streamlit_app.py` from the checkout: only the port on the command line."""
    port = _free_port()
    log = logs / f"streamlit-{port}.log"
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py"]
    command += ["--server.port", str(port), *extra]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=REPO, env=_env(root, logs), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
    except BaseException:
        _stop(proc)
        raise
    return url, proc


def inotify_watches(pid: int) -> int:
    """Number of inotify watches held by `pid` and its descendants (from /proc/*/fdinfo)."""
    import psutil

    total = 0
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in procs:
        fdinfo = Path(f"/proc/{proc.pid}/fdinfo")
        for entry in fdinfo.iterdir():
            try:
                text = entry.read_text()
            except OSError:
                continue
            total += sum(1 for line in text.splitlines() if line.startswith("inotify wd:"))
    return total


@pytest.fixture(scope="module")
def offline_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded samples plus one finished run (so the results page draws its charts)."""
    from app.seed import seed

    root = tmp_path_factory.mktemp("offline-store")
    seed(root)
    env = _env(root, root)
    command = [sys.executable, "-m", "engine.backtest", "backtest-input"]
    command += ["samples/trend_up_daily.csv", "backtest-results", "--run-id", RUN_ID]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return root


@pytest.fixture(scope="module")
def offline_server(
    offline_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """The dashboard as `make run` starts it, configured by .streamlit/config.toml alone."""
    url, proc = start_streamlit(offline_root, tmp_path_factory.mktemp("offline-logs"))
    try:
        yield url, proc.pid
    finally:
        _stop(proc)


def _visit_all(page: Any, url: str) -> None:
    page.goto(url)
    heading(page, "batch-backtest")
    settle(page)
    for path, title in PAGES:
        page.goto(f"{url}/{path}")
        page.get_by_test_id("stSidebarNav").wait_for(timeout=STEP_MS)
        heading(page, title)
        settle(page)
        if path.startswith("run?"):  # the run's charts are drawn (plotly and its assets)
            page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=STEP_MS)
        page.wait_for_timeout(500)  # late requests (favicon, fonts, chart assets)


def test_pages_request_nothing_beyond_loopback(
    offline_server: tuple[str, int], e2e_browser: Any
) -> None:
    url, _ = offline_server
    refused: list[str] = []
    requested: list[str] = []
    context = e2e_browser.new_context(viewport={"width": 1400, "height": 1000})

    def route(r: Any) -> None:
        requested.append(r.request.url)
        if _local(r.request.url):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    page.on("websocket", lambda ws: requested.append(ws.url))
    try:
        _visit_all(page, url)
        _visit_all(page, url)  # a second round: nothing cached hides a fetch
        favicon = page.eval_on_selector("link[rel='shortcut icon']", "e => e.href")
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "offline-FAILED.png"), full_page=True)
        raise
    finally:
        context.close()
    websockets = [u for u in requested if u.startswith("ws")]
    assert websockets and all(_local(u) for u in websockets), websockets
    assert any("/_stcore/" in u or "/static/" in u for u in requested)
    assert refused == [], f"requests beyond loopback: {sorted(set(refused))}"
    assert _local(favicon), favicon


def test_no_deploy_button_and_no_file_watches(
    offline_server: tuple[str, int], e2e_page: Any
) -> None:
    url, pid = offline_server
    page = e2e_page
    page.goto(url)
    heading(page, "batch-backtest")
    settle(page)
    toolbar = page.get_by_test_id("stToolbar")
    toolbar.wait_for(state="attached", timeout=STEP_MS)
    assert page.get_by_test_id("stAppDeployButton").count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.get_by_text("Deploy", exact=True).count() == 0
    # A session is open (the page rendered), so a watcher would be running by now.
    assert inotify_watches(pid) == 0


def test_the_checks_see_a_watcher_and_a_deploy_button_when_on(
    tmp_path: Path, e2e_page: Any
) -> None:
    """Control for the test above, on a one-line app in a small folder: with Streamlit's event
    watcher and the default toolbar, watches are counted and "Deploy" is found, so their
    absence above is the config's doing."""
    (tmp_path / "tiny_app.py").write_text('import streamlit as st\nst.title("batch-backtest")\n')
    port = _free_port()
    log = tmp_path / "streamlit.log"
    command = [sys.executable, "-m", "streamlit", "run", "tiny_app.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1"]
    command += ["--server.fileWatcherType", "watchdog", "--client.toolbarMode", "auto"]
    command += ["--browser.gatherUsageStats", "false"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=_env(tmp_path, tmp_path), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        e2e_page.goto(url)
        heading(e2e_page, "batch-backtest")
        e2e_page.get_by_test_id("stAppDeployButton").wait_for(timeout=STEP_MS)
        assert inotify_watches(proc.pid) > 0
    finally:
        _stop(proc)
