"""Access: loopback by default, the login guard on every page, the submitting user recorded."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app import auth
from engine.backtest import main
from engine.cli_args import args_from_spec as engine_args
from engine.errors import ParamError
from engine.spec import RunSpec
from engine.store.objects import LocalStore
from tests._app_helpers import (
    APP,
    TIMEOUT,
    TREND,
    app_context,
    app_root_fixture,  # noqa: F401 - the `app_root` fixture
    sleep_command,
    texts,
)
from tests.hardening.conftest import INPUT, RESULTS
from tests.hardening.corpus import valid_csv

REPO = Path(__file__).resolve().parents[2]
GUARDED_PAGES = ["views/data.py", "views/new_run.py", "views/jobs.py", "views/run_results.py"]


# -- binding -------------------------------------------------------------------------------------


def test_streamlit_config_binds_loopback_headless_without_telemetry() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"].get("enableXsrfProtection", True) is True


def test_make_run_binds_loopback() -> None:
    lines = (REPO / "Makefile").read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith("run:")))
    recipe: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(("\t", " ")):
            break
        recipe.append(line)
    command = " ".join(recipe)
    assert "streamlit run streamlit_app.py" in command
    assert "--server.address 127.0.0.1" in command
    assert "0.0.0.0" not in command


def test_secrets_file_is_git_ignored() -> None:
    import subprocess

    done = subprocess.run(
        ["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=REPO, check=False
    )
    assert done.returncode == 0


# -- login detection (no Streamlit) -------------------------------------------------------------


def _secrets(folder: Path, text: str) -> Path:
    (folder / ".streamlit").mkdir(parents=True, exist_ok=True)
    path = folder / ".streamlit" / "secrets.toml"
    path.write_text(text)
    return path


def test_no_login_without_auth_configuration(tmp_path: Path) -> None:
    config = auth.auth_config({}, cwd=tmp_path / "cwd", home=tmp_path / "home")
    assert config == auth.AuthConfig() and not config.enabled
    _secrets(tmp_path / "cwd", '[database]\npassword = "x"\n')
    assert not auth.auth_config({}, cwd=tmp_path / "cwd", home=tmp_path / "home").enabled


def test_an_auth_section_in_either_secrets_file_turns_login_on(tmp_path: Path) -> None:
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    path = _secrets(cwd, '[auth]\nredirect_uri = "r"\n[auth.google]\nclient_id = "c"\n')
    config = auth.auth_config({}, cwd=cwd, home=home)
    assert (config.mode, config.source, config.providers) == ("oidc", str(path), ("google",))
    assert config.default_provider is False
    path.unlink()
    _secrets(home, '[auth]\nclient_id = "c"\n[auth.okta]\nclient_id = "o"\n')
    config = auth.auth_config({}, cwd=cwd, home=home)
    assert (config.mode, config.providers, config.default_provider) == ("oidc", ("okta",), True)
    # secrets win over BACKTEST_AUTH=none: login cannot be switched off by an env var
    assert auth.auth_config({"BACKTEST_AUTH": "none"}, cwd=cwd, home=home).enabled


def test_env_flag_and_bad_configuration_fail_closed(tmp_path: Path) -> None:
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    assert auth.auth_config({"BACKTEST_AUTH": "oidc"}, cwd=cwd, home=home).mode == "oidc"
    assert auth.auth_config({"BACKTEST_AUTH": "ALB"}, cwd=cwd, home=home).mode == "alb"
    with pytest.raises(ParamError, match="BACKTEST_AUTH must be one of"):
        auth.auth_config({"BACKTEST_AUTH": "off"}, cwd=cwd, home=home)
    _secrets(cwd, "[auth\nbroken")
    with pytest.raises(ParamError, match="cannot read"):
        auth.auth_config({}, cwd=cwd, home=home)


ALB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/bt/50dc6c495c0c"


def _alb_token(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = {"alg": "ES256", "kid": "k1", "signer": ALB_ARN}
    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJl"


def test_user_names_from_claims_and_an_unsigned_alb_header_is_not_trusted() -> None:
    assert auth.user_from_claims({"email": "a@x.org", "name": "A"}) == "a@x.org"
    assert auth.user_from_claims({"sub": "123", "name": "Ann\x00\n"}) == "Ann"
    assert auth.user_from_claims({"email": "y" * 300}) == "y" * 128
    assert auth.user_from_claims({}) is None
    # the header's payload alone names no one: the signature is checked (tests/app/test_auth_alb.py)
    settings = auth.AlbSettings(ALB_ARN, "http://127.0.0.1:9")
    headers = {"X-Amzn-Oidc-Data": _alb_token({"email": "bob@x.org", "sub": "9"})}
    for sent in (headers, {}, {"x-amzn-oidc-data": "not-a-jwt"}):
        with pytest.raises(auth.AlbRefused):
            auth.alb_user(sent, settings, auth.AlbKeys(settings.keys_url))


# -- the guard in the app (AppTest) ---------------------------------------------------------


def _app(user: dict[str, Any] | None = None) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if user is not None:
        at.user = user
    return at.run()


def test_without_login_configured_the_pages_render(app_root: Path) -> None:
    at = _app()
    assert not at.exception
    assert [t.value for t in at.title] == ["batch-backtest"]  # views/home.py
    at.switch_page("views/data.py").run()
    assert [t.value for t in at.title] == ["Data"]
    assert "Signed in as" not in texts(at, ("text",))


def test_with_login_configured_only_the_sign_in_screen_renders(
    app_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_AUTH", "oidc")
    at = _app({"is_logged_in": False, "email": "mallory@example.com"})
    _only_sign_in(at)
    for page in GUARDED_PAGES:  # the sign-in screen is the only page the router registers
        with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):
            at.switch_page(page)
    assert not (app_root / "_jobs").exists()  # no page built the executor
    # signed in, on a page; then signed out (st.logout / expired cookie): the page is gone
    for page in GUARDED_PAGES:
        at.user = {"is_logged_in": True, "email": "alice@example.com"}
        at.run()
        at.switch_page(page).run()
        assert [t.value for t in at.title] != ["Sign in to batch-backtest"]
        at.user = {"is_logged_in": False}
        _only_sign_in(at.run())


def _only_sign_in(at: Any) -> None:
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to batch-backtest"]
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.dataframe and not at.selectbox and not at.sidebar.get("badge")


def test_signed_in_users_see_the_pages_and_submit_under_their_name(
    app_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_AUTH", "oidc")
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")
    at = _app({"is_logged_in": True, "email": "alice@example.com", "name": "Alice"})
    assert not at.exception
    assert [t.value for t in at.title] == ["batch-backtest"]
    assert "Signed in as alice@example.com" in texts(at, ("text",))
    assert "Log out" in [b.label for b in at.sidebar.button]
    at.switch_page("views/new_run.py")
    at.query_params.update({"file": TREND})
    at.run()
    at.button(key="nr_submit").click().run()
    assert not at.exception
    (job,) = app_context().executor.list(name_prefix="run-")
    assert (job.spec or {})["user"] == "alice@example.com"
    assert job.command[job.command.index("--user") + 1] == "alice@example.com"


def test_a_sweep_submitted_by_a_signed_in_user_records_them(
    app_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_AUTH", "oidc")
    app_context().executor.submit_command(sleep_command(), name="blocker", kind="run")
    at = _app({"is_logged_in": True, "email": "frank@example.com"})
    at.switch_page("views/new_run.py")
    at.query_params.update({"file": TREND, "space": json.dumps({"slow": "30,50"})})
    at.run()
    at.button(key="nr_submit").click().run()
    assert not at.exception
    (sweep_dir,) = (app_root / "backtest-results" / "sweeps").iterdir()
    record = json.loads((sweep_dir / "spec.json").read_bytes())
    assert record["user"] == "frank@example.com"
    assert record["base"]["user"] == "frank@example.com"


def test_alb_mode_without_the_header_shows_no_page(
    app_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_AUTH", "alb")
    at = _app()  # no load balancer ARN: nothing could be verified
    assert [t.value for t in at.title] == ["Access refused"]
    assert "Login is misconfigured" in texts(at, ("error",))
    assert "BACKTEST_ALB_ARN" in texts(at, ("error",))
    monkeypatch.setenv("BACKTEST_ALB_ARN", ALB_ARN)
    at = _app()
    assert not at.exception
    assert [t.value for t in at.title] == ["Access refused"]
    assert "through its load balancer: no signed-in user was sent" in texts(at, ("error",))
    monkeypatch.setenv("BACKTEST_AUTH", "bogus")
    at = _app()
    assert [t.value for t in at.title] == ["Access refused"]
    assert "Login is misconfigured" in texts(at, ("error",))


# -- the submitting user in spec.json --------------------------------------------------------


def test_engine_cli_records_user_and_tags(store_root: Path, capsys: pytest.CaptureFixture) -> None:
    LocalStore(store_root).put_bytes(INPUT, "p.csv", valid_csv())
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    args = [INPUT, "p.csv", RESULTS, "--param", "fast=2", "--param", "slow=5"]
    extra = ["--user", "carol@example.com", "--tag", "project=alpha", "--tag", "desk=fx"]
    assert main([*args, "--run-id", "u1", *extra], env=env) == 0
    spec = json.loads((store_root / RESULTS / "runs/u1/spec.json").read_bytes())
    assert spec["user"] == "carol@example.com"
    assert spec["tags"] == {"project": "alpha", "desk": "fx"}
    capsys.readouterr()


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        (["--user", "x" * 129], "--user must be printable text of at most 128"),
        (["--user", "eve\x1b[31m"], "--user must be printable"),
        (["--user", " "], "--user must not be empty"),
        (["--tag", "noequals"], "--tag expects KEY=VALUE"),
        (["--tag", "bad key=v"], "--tag expects KEY=VALUE"),
        (["--tag", "k=\x00"], "--tag k: the value must be printable"),
        (["--tag", "k=1", "--tag", "k=2"], "--tag k given more than once"),
    ],
)
def test_engine_cli_refuses_bad_user_and_tags(
    extra: list[str], phrase: str, store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    LocalStore(store_root).put_bytes(INPUT, "p.csv", valid_csv())
    env = {"BACKTEST_STORAGE_ROOT": str(store_root)}
    assert main([INPUT, "p.csv", RESULTS, "--run-id", "u2", *extra], env=env) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and phrase in lines[0]
    assert {p.name for p in (store_root / RESULTS / "runs" / "u2").iterdir()} == {"error.json"}


def test_engine_args_pass_user_and_tags_last() -> None:
    spec = RunSpec("in", "k.csv", "out", run_id="r1", user="dave", tags={"b": "2", "a": "1"})
    args = engine_args(spec)
    assert args[-6:] == ["--user", "dave", "--tag", "a=1", "--tag", "b=2"]
    assert "--user" not in engine_args(RunSpec("in", "k.csv", "out"))


def test_local_executor_records_the_user_and_never_the_credentials(
    store_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run through the real local executor: spec.json names the user; no credential from the
    environment (which the child inherits) ends up in results, job records or logs."""
    import secrets

    from jobs.local import LocalExecutor
    from jobs.settings import load_settings

    sentinel = "Zz" + secrets.token_hex(19)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sentinel)
    monkeypatch.setenv("AWS_SESSION_TOKEN", sentinel + "-token")
    LocalStore(store_root).put_bytes(INPUT, "p.csv", valid_csv())
    settings = load_settings(
        {
            "BACKTEST_STORAGE_ROOT": str(store_root),
            "BACKTEST_CONFIG": str(tmp_path / "none.toml"),
            "BACKTEST_USER": "erin",
            "BACKTEST_POLL_MS": "100",
        }
    )
    params = {"fast": 2, "slow": 5}
    with LocalExecutor(settings, worker="thread", concurrency=1) as executor:
        good = executor.submit_run(RunSpec(INPUT, "p.csv", RESULTS, params=params))
        bad = executor.submit_run(RunSpec(INPUT, "missing.csv", RESULTS, params=params))
        done = [executor.wait(job.id, timeout=240) for job in (good, bad)]
        logs = [executor.logs(job.id) for job in (good, bad)]
    assert [d.status.value for d in done] == ["SUCCEEDED", "FAILED"], logs
    run_id = (done[0].spec or {})["run_id"]
    spec = json.loads((store_root / RESULTS / f"runs/{run_id}/spec.json").read_bytes())
    assert spec["user"] == "erin"
    assert all(sentinel not in repr(d) and sentinel not in log for d, log in zip(done, logs))
    files = [p for p in store_root.rglob("*") if p.is_file()]
    assert any(p.name == "error.json" for p in files)
    leaked = [p for p in files if sentinel.encode() in p.read_bytes()]
    assert leaked == []
