"""Router only: login guard (when configured), page list, shared page setup, then the page runs.

With login configured (see app/auth.py) no page runs until the user is signed in: the only
page on offer is the sign-in screen, whatever the URL asks for.
"""

import os

import streamlit as st

from app import auth
from app.loaders import get_context
from engine.errors import BacktestError
from views import _pages

st.set_page_config(page_title="batch-backtest", page_icon="📈", layout="wide")

PAGES = _pages.navigation_pages()


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


@st.cache_resource(show_spinner=False)
def alb_keys(keys_url: str) -> auth.AlbKeys:
    """The region's ELB public keys, fetched once per key id for the whole server."""
    return auth.AlbKeys(keys_url)


def alb_signed_in_user() -> str | None:
    """The user of a verified load-balancer token (signature, signer, expiry), else refused."""
    try:
        settings = auth.alb_settings()
    except BacktestError as exc:
        refuse(f"Login is misconfigured: {exc}")
        return None
    try:
        return auth.alb_user(st.context.headers, settings, alb_keys(settings.keys_url))
    except auth.AlbRefused as exc:
        refuse(f"Open the dashboard through its load balancer: {exc}.")
        return None


def signed_in_user() -> str | None:
    """The user to record on submissions; stops the script at the sign-in screen if needed."""
    try:
        config = auth.auth_config()
    except BacktestError as exc:
        refuse(f"Login is misconfigured: {exc}")
        return None
    if config.mode == "alb":
        return alb_signed_in_user()
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
stack = os.environ.get("BACKTEST_STACK", "").strip()  # set by the hosted task definition
badge = get_context().backend_label + (f" · stack {stack}" if stack else "")
st.sidebar.badge(badge, color="blue")
if user:
    st.sidebar.text(f"Signed in as {user}")
    if st.user.get("is_logged_in"):
        st.sidebar.button("Log out", key="auth_logout", on_click=st.logout)
page.run()
