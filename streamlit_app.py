"""Router only: login guard (when configured), page list, shared page setup, then the page runs.

With login configured (see app/auth.py) no page runs until the user is signed in: the only
page on offer is the sign-in screen, whatever the URL asks for.
"""

import streamlit as st

from app import auth
from app.loaders import get_context
from engine.errors import BacktestError

st.set_page_config(page_title="batch-backtest", page_icon="📈", layout="wide")

PAGES = [
    st.Page("views/home.py", title="Start here", icon=":material/home:", default=True),
    st.Page("views/data.py", title="Data", icon=":material/folder_open:", url_path="data"),
    st.Page("views/new_run.py", title="New run", icon=":material/play_arrow:", url_path="new"),
    st.Page("views/jobs.py", title="Jobs", icon=":material/list:", url_path="jobs"),
    st.Page(
        "views/run_results.py", title="Run results", icon=":material/monitoring:", url_path="run"
    ),
    st.Page(
        "views/sweep_results.py", title="Sweep results", icon=":material/grid_on:", url_path="sweep"
    ),
    st.Page("views/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
]


def sign_in_screen(config: auth.AuthConfig) -> None:
    """The only page an anonymous visitor gets when login is on."""
    st.title("Sign in to batch-backtest")
    st.info("Sign in to use the backtest dashboard.", icon=":material/lock:")
    if config.default_provider:
        st.button("Log in", key="auth_login", type="primary", on_click=st.login)
    for name in config.providers:
        st.button(f"Log in with {name}", key=f"auth_login_{name}", on_click=st.login, args=(name,))


def refuse(message: str) -> None:
    """Show why no page is available and stop (fail closed)."""
    st.session_state.pop(auth.SESSION_USER, None)
    st.title("Access refused")
    st.error(message, icon=":material/lock:")
    st.stop()


def signed_in_user() -> str | None:
    """The user to record on submissions; stops the script at the sign-in screen if needed."""
    try:
        config = auth.auth_config()
    except BacktestError as exc:
        refuse(f"Login is misconfigured: {exc}")
        return None
    if config.mode == "alb":
        user = auth.alb_user(st.context.headers)
        if user is None:
            refuse("Open the dashboard through its load balancer: no signed-in user was sent.")
        return user
    if config.mode == "oidc":
        if not st.user.get("is_logged_in"):
            st.session_state.pop(auth.SESSION_USER, None)
            login = st.Page(lambda: sign_in_screen(config), title="Sign in", url_path="signin")
            st.navigation([login]).run()
            st.stop()
        return auth.user_from_claims(st.user.to_dict()) or "unknown"
    return None


user = signed_in_user()
if user:
    st.session_state[auth.SESSION_USER] = user
page = st.navigation(PAGES)
st.sidebar.caption("Backend")
st.sidebar.badge(get_context().backend_label, color="blue")
if user:
    st.sidebar.text(f"Signed in as {user}")
    if st.user.get("is_logged_in"):
        st.sidebar.button("Log out", key="auth_logout", on_click=st.logout)
page.run()
