"""Who may use the dashboard and who is submitting: login detection without Streamlit.

Modes (see the README's Operations section):

- ``none``: local mode; no login (the server binds 127.0.0.1, see .streamlit/config.toml).
- ``oidc``: Streamlit's built-in OpenID Connect login (``st.login``; needs ``streamlit[auth]``,
  i.e. Authlib). On when a secrets file Streamlit reads (``./.streamlit/secrets.toml`` or
  ``~/.streamlit/secrets.toml``) has an ``[auth]`` section, or when ``BACKTEST_AUTH=oidc`` (for
  secrets supplied some other way). The router then shows only a login screen until
  ``st.user.is_logged_in``.
- ``alb``: ``BACKTEST_AUTH=alb``: an AWS Application Load Balancer authenticates (Cognito or any
  OIDC provider) and forwards ``x-amzn-oidc-data``, a JWT it signs (ES256). The token is trusted
  only when its signature checks against the region's ELB public key named by its ``kid``
  (fetched once from ``https://public-keys.auth.elb.REGION.amazonaws.com/KID``), its ``signer``
  is this stack's load balancer (``BACKTEST_ALB_ARN``) and it has not expired; otherwise no page.

Detection fails closed: an unreadable secrets file or an unknown ``BACKTEST_AUTH`` value is a
:class:`ParamError` the router shows instead of any page. This module never imports Streamlit:
``streamlit_app.py`` makes the ``st.*`` calls.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
import tomllib
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import es256
from engine.errors import ParamError

AUTH_ENV = "BACKTEST_AUTH"
MODES = ("none", "oidc", "alb")
SESSION_USER = "auth_user"  # st.session_state key: the signed-in user's name for submissions
ALB_HEADER = "x-amzn-oidc-data"
MAX_USER = 128
USER_CLAIMS = ("email", "preferred_username", "name", "sub")
ALB_ARN_ENV = "BACKTEST_ALB_ARN"  # the load balancer whose signature is trusted
ALB_KEYS_ENV = "BACKTEST_ALB_KEYS_URL"  # override of the region's public-key endpoint (tests)
ALB_KEYS_URL = "https://public-keys.auth.elb.{region}.amazonaws.com"
KID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
KEY_FETCH_TIMEOUT = 5.0
MAX_KEY_BYTES = 8192


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


class AlbRefused(Exception):
    """The ``x-amzn-oidc-data`` token is missing or not one this stack's load balancer signed."""


@dataclass(frozen=True)
class AlbSettings:
    """Which load balancer may sign the token, and where its region's public keys are."""

    signer: str  # the load balancer's ARN, as the token's ``signer`` header field must read
    keys_url: str  # base URL; the key for key id K is at ``{keys_url}/K`` (PEM)


def alb_settings(env: Mapping[str, str] | None = None) -> AlbSettings:
    """The ALB-mode settings from ``BACKTEST_ALB_ARN`` (and optionally ``BACKTEST_ALB_KEYS_URL``).

    Without the load balancer's ARN no token can be trusted: a :class:`ParamError`.
    """
    env = os.environ if env is None else env
    signer = env.get(ALB_ARN_ENV, "").strip()
    parts = signer.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "elasticloadbalancing" or not parts[3]:
        raise ParamError(
            f"{AUTH_ENV}=alb needs {ALB_ARN_ENV} set to this stack's load balancer ARN "
            f"(arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID), "
            f"got {signer!r}"
        )
    default = ALB_KEYS_URL.format(region=parts[3])
    keys_url = env.get(ALB_KEYS_ENV, "").strip() or default
    return AlbSettings(signer, keys_url.rstrip("/"))


def _fetch_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=KEY_FETCH_TIMEOUT) as response:
        return str(response.read(MAX_KEY_BYTES).decode("ascii"))


class AlbKeys:
    """The region's ELB public keys by key id, fetched once each and kept (keys never change)."""

    def __init__(self, keys_url: str, fetch: Callable[[str], str] = _fetch_text) -> None:
        self.keys_url = keys_url.rstrip("/")
        self._fetch = fetch
        self._keys: dict[str, tuple[int, int]] = {}

    def key(self, kid: str) -> tuple[int, int]:
        """The P-256 public key for ``kid``; :class:`AlbRefused` when it cannot be had."""
        if kid in self._keys:
            return self._keys[kid]
        if not KID_RE.fullmatch(kid):
            raise AlbRefused("the token names no valid signing key")
        try:
            pem = self._fetch(f"{self.keys_url}/{kid}")
        except (OSError, ValueError, UnicodeError):
            raise AlbRefused(
                "the token's signing key is not one the load balancer publishes"
            ) from None
        try:
            key = es256.public_key_from_pem(pem)
        except es256.NotP256Key:
            raise AlbRefused("the token's signing key is not a P-256 key") from None
        self._keys[kid] = key
        return key


def _b64_json(part: str) -> dict[str, Any]:
    try:
        data = json.loads(_b64(part))
    except (ValueError, UnicodeDecodeError):
        raise AlbRefused("the token is not a JWT") from None
    if not isinstance(data, dict):
        raise AlbRefused("the token is not a JWT")
    return data


def _b64(part: str) -> bytes:
    """base64url with or without padding (the ALB pads its segments)."""
    text = part.rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AlbRefused("the token is not a JWT") from None


def _token(headers: Mapping[str, str]) -> str:
    token = next((v for k, v in headers.items() if k.lower() == ALB_HEADER), None)
    if not isinstance(token, str) or not token:
        raise AlbRefused("no signed-in user was sent")
    return token


def _check_signature(signed: bytes, signature: bytes, key: tuple[int, int]) -> None:
    if not es256.verify(key, signed, signature):
        raise AlbRefused("the token's signature is not valid")


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_expiry(header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
    stamps = [v["exp"] for v in (header, claims) if "exp" in v]
    if not stamps or not all(_is_time(t) for t in stamps):
        raise AlbRefused("the token has no expiry time")
    if now >= min(float(t) for t in stamps):
        raise AlbRefused("the token has expired; reload the page to sign in again")


def alb_claims(
    headers: Mapping[str, str], settings: AlbSettings, keys: AlbKeys, now: float | None = None
) -> dict[str, Any]:
    """The claims of a verified ``x-amzn-oidc-data`` token, else :class:`AlbRefused`.

    Verified: ES256 signature with the region's ELB key named by ``kid``, ``signer`` equal to
    this stack's load balancer ARN, and ``exp`` (header and claims) in the future.
    """
    parts = _token(headers).split(".")
    if len(parts) != 3:
        raise AlbRefused("the token is not a JWT")
    header, claims = _b64_json(parts[0]), _b64_json(parts[1])
    if header.get("alg") != "ES256":
        raise AlbRefused("the token is not signed with ES256")
    if header.get("signer") != settings.signer:
        raise AlbRefused("the token was not signed by this dashboard's load balancer")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise AlbRefused("the token names no valid signing key")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
    _check_signature(signed, _b64(parts[2]), keys.key(kid))
    _check_expiry(header, claims, time.time() if now is None else now)
    return claims


def alb_user(
    headers: Mapping[str, str], settings: AlbSettings, keys: AlbKeys, now: float | None = None
) -> str:
    """The signed-in user behind this stack's ALB (authenticate-cognito/-oidc); else AlbRefused."""
    user = user_from_claims(alb_claims(headers, settings, keys, now))
    if user is None:
        raise AlbRefused("the token names no user")
    return user
