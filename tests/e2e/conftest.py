"""End-to-end fixtures: a real `streamlit run` on the local backend and a real Chromium.

Chromium is /usr/bin/chromium (never `playwright install`). Without it the tests skip with the
command that installs it, except under CI=true where they fail. Screenshots go to
tests/e2e/artifacts/ (ignored by git).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import serve
from bench.serve import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# The server and Chromium flags are shared with the browser benchmark (bench/serve.py).
_free_port = serve.free_port
_wait_healthy = serve.wait_healthy


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """/usr/bin/chromium, or skip (fail under CI=true) with how to install it."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install it with `apt-get install -y chromium`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def storage_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage root seeded like `make run` does (app.seed)."""
    from app.seed import seed

    root = tmp_path_factory.mktemp("e2e-store")
    seed(root)
    return root


@pytest.fixture(scope="session")
def dashboard(storage_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run streamlit_app.py` on a free loopback port; yields its base URL."""
    logs = tmp_path_factory.mktemp("e2e-logs")
    env = serve.local_env(storage_root, logs / "no-config.toml", BACKTEST_USER="e2e")
    with serve.streamlit_server(env, logs / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def e2e_browser(chromium_path: Path) -> Iterator[Any]:
    """A headless Chromium driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def e2e_page(e2e_browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; on failure a screenshot named after the test is saved."""
    context = e2e_browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    try:
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-FAILED.png"), full_page=True)
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item so the page fixture knows if the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
