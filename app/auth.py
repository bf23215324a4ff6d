"""Who may use the dashboard and who is submitting: login detection without Streamlit.

Modes (see the README's Operations section):

- ``none``: local mode; no login (the server binds 127.0.0.1, see .streamlit/config.toml).
- ``oidc``: Streamlit's built-in OpenID Connect login (``st.login``; needs ``streamlit[auth]``,
  i.e. Authlib). On when a secrets file Streamlit reads (``./.streamlit/secrets.toml`` or
  ``~/.streamlit/secrets.toml``) has an ``[auth]`` section, or when ``BACKTEST_AUTH=oidc`` (for
  secrets supplied some other way). The router then shows only a login screen until
  ``st.user.is_logged_in``.
- ``alb``: ``BACKTEST_AUTH=alb``: an AWS Application Load Balancer authenticates (Cognito or any
  OIDC provider) and forwards ``x-amzn-oidc-data``; a request without it sees no page.

Detection fails closed: an unreadable secrets file or an unknown ``BACKTEST_AUTH`` value is a
:class:`ParamError` the router shows instead of any page. This module never imports Streamlit:
``streamlit_app.py`` makes the ``st.*`` calls.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ParamError

AUTH_ENV = "BACKTEST_AUTH"
MODES = ("none", "oidc", "alb")
SESSION_USER = "auth_user"  # st.session_state key: the signed-in user's name for submissions
ALB_HEADER = "x-amzn-oidc-data"
MAX_USER = 128
USER_CLAIMS = ("email", "preferred_username", "name", "sub")


@dataclass(frozen=True)
class AuthConfig:
    """The login mode, where it was decided, and the named OIDC providers (``[auth.NAME]``)."""

    mode: str = "none"
    source: str = "default"
    providers: tuple[str, ...] = ()
    default_provider: bool = True  # ``[auth]`` itself holds client_id (st.login() with no name)

    @property
    def enabled(self) -> bool:
        """True when pages need a signed-in user."""
        return self.mode != "none"


def secrets_files(cwd: Path | None = None, home: Path | None = None) -> list[Path]:
    """The secrets files Streamlit reads by default, global first (as Streamlit merges them)."""
    home = Path.home() if home is None else home
    cwd = Path.cwd() if cwd is None else cwd
    return [home / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]


def _auth_section(path: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ParamError(
            f"cannot read {path} ({type(exc).__name__}); fix it before serving the dashboard"
        ) from None
    section = data.get("auth")
    return section if isinstance(section, dict) else None


def auth_config(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> AuthConfig:
    """Decide the login mode from ``BACKTEST_AUTH`` and the secrets files (never st.secrets)."""
    env = os.environ if env is None else env
    flag = env.get(AUTH_ENV, "").strip().lower()
    if flag and flag not in MODES:
        raise ParamError(f"{AUTH_ENV} must be one of {', '.join(MODES)}, got {flag!r}")
    if flag == "alb":
        return AuthConfig("alb", f"${AUTH_ENV}")
    for path in secrets_files(cwd, home):
        section = _auth_section(path) if path.is_file() else None
        if section is not None:
            names = tuple(sorted(k for k, v in section.items() if isinstance(v, dict)))
            return AuthConfig("oidc", str(path), names, "client_id" in section or not names)
    if flag == "oidc":
        return AuthConfig("oidc", f"${AUTH_ENV}")
    if flag == "none":
        return AuthConfig("none", f"${AUTH_ENV}")
    return AuthConfig()


def clean_user(text: object) -> str | None:
    """A user name safe to record: printable characters only, trimmed, at most 128 long."""
    if not isinstance(text, str):
        return None
    kept = "".join(ch for ch in text if ch.isprintable()).strip()
    return kept[:MAX_USER] or None


def user_from_claims(claims: Mapping[str, Any]) -> str | None:
    """The name to record for a signed-in user: email, else username, name or subject."""
    for claim in USER_CLAIMS:
        name = clean_user(claims.get(claim))
        if name:
            return name
    return None


def alb_claims(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The claims in the ALB's ``x-amzn-oidc-data`` JWT (payload only; see the note below).

    The ALB signs this header (ES256, key per region and key id); the signature is NOT checked
    here, so the task must accept traffic only from the ALB (security group), as documented.
    """
    token = next((v for k, v in headers.items() if k.lower() == ALB_HEADER), None)
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def alb_user(headers: Mapping[str, str]) -> str | None:
    """The signed-in user behind an ALB with authenticate-cognito/-oidc, or None."""
    claims = alb_claims(headers)
    return user_from_claims(claims) if claims else None
