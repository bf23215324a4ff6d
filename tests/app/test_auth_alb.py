"""ALB mode: the x-amzn-oidc-data token is trusted only when its ES256 signature, signer and
expiry check out, the key fetched by key id from a (local) ELB public-key server."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from app import auth
from engine.errors import ParamError

ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/bt-dash/50dc6c495c0c9188"
)
OTHER_ARN = ARN.replace("bt-dash", "other")
KID = "e9a2f8b1-1d3c-4b44-9a0e-0123456789ab"
NOW = 1_800_000_000


class KeyServer:
    """Serves PEM public keys at /<kid> on loopback and counts the requests."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.keys.get(self.path.lstrip("/"))
                self.send_response(200 if body else 404)
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, kid: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.keys[kid] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@pytest.fixture
def server() -> Iterator[KeyServer]:
    srv = KeyServer()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _part(obj: dict[str, Any], pad: bool) -> str:
    text = base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()
    return text if pad else text.rstrip("=")


def token(
    key: ec.EllipticCurvePrivateKey,
    claims: dict[str, Any] | None = None,
    pad: bool = True,
    **header: Any,
) -> str:
    """A token shaped like the ALB's (header carries signer, kid, exp; segments padded)."""
    head: dict[str, Any] = {"alg": "ES256", "kid": KID, "signer": ARN, "iss": "https://idp"}
    head["exp"] = NOW + 60
    head.update(header)
    body = {"sub": "9", "email": "bob@x.org", "exp": NOW + 60, **(claims or {})}
    signed = f"{_part(head, pad)}.{_part(body, pad)}"
    r, s = decode_dss_signature(key.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
    sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    return f"{signed}.{sig if pad else sig.rstrip('=')}"


def swapped_claims(key: ec.EllipticCurvePrivateKey, _other: Any) -> str:
    """A genuine token with its claims replaced by someone else's."""
    head, _, sig = token(key).split(".")
    return ".".join([head, _part({"email": "eve@x.org", "exp": NOW + 60}, True), sig])


def user(server: KeyServer, tok: str | None, keys: auth.AlbKeys | None = None) -> str:
    settings = auth.AlbSettings(ARN, server.url)
    headers = {} if tok is None else {"X-Amzn-Oidc-Data": tok}
    return auth.alb_user(headers, settings, keys or auth.AlbKeys(server.url), now=NOW)


def test_a_token_signed_by_this_load_balancer_names_the_user(
    server: KeyServer, key: ec.EllipticCurvePrivateKey
) -> None:
    server.publish(KID, key)
    assert user(server, token(key)) == "bob@x.org"
    assert user(server, token(key, pad=False)) == "bob@x.org"
    assert user(server, token(key, {"email": None, "name": "Ann"})) == "Ann"


def test_the_key_is_fetched_once_per_key_id(
    server: KeyServer, key: ec.EllipticCurvePrivateKey
) -> None:
    server.publish(KID, key)
    keys = auth.AlbKeys(server.url)
    for _ in range(3):
        assert user(server, token(key), keys) == "bob@x.org"
    assert server.requests == [f"/{KID}"]


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda k, o: None, "no signed-in user was sent"),
        (lambda k, o: "", "no signed-in user was sent"),
        (lambda k, o: "not-a-jwt", "not a JWT"),
        (lambda k, o: "a.!!!.c", "not a JWT"),
        # signed with another key under the published key id
        (lambda k, o: token(o), "signature is not valid"),
        # a genuine token with its claims swapped for someone else's
        (swapped_claims, "signature is not valid"),
        (lambda k, o: token(k)[:-8] + "AAAAAAA=", "signature is not valid"),
        (lambda k, o: token(k, signer=OTHER_ARN), "not signed by this dashboard's load balancer"),
        (lambda k, o: token(k, signer=None), "not signed by this dashboard's load balancer"),
        (lambda k, o: token(k, alg="none"), "not signed with ES256"),
        (lambda k, o: token(k, alg="HS256"), "not signed with ES256"),
        (lambda k, o: token(k, exp=NOW - 1), "expired"),
        (lambda k, o: token(k, {"exp": NOW}), "expired"),
        (lambda k, o: token(k, {"exp": "later"}), "no expiry time"),
        (lambda k, o: token(k, kid="f00dcafe-0000"), "not one the load balancer publishes"),
        (lambda k, o: token(k, kid="../../etc/passwd"), "names no valid signing key"),
        (lambda k, o: token(k, kid=7), "names no valid signing key"),
        (lambda k, o: token(k, {"email": None, "sub": None}), "names no user"),
    ],
    ids=[
        "missing-header",
        "empty-header",
        "not-jwt",
        "bad-base64",
        "forged-signature",
        "swapped-claims",
        "mangled-signature",
        "wrong-signer",
        "no-signer",
        "alg-none",
        "alg-hs256",
        "expired-header",
        "expired-claims",
        "bad-exp",
        "wrong-kid",
        "path-kid",
        "non-string-kid",
        "no-user",
    ],
)
def test_tokens_this_load_balancer_did_not_sign_are_refused(
    make: Any, phrase: str, server: KeyServer, key: ec.EllipticCurvePrivateKey
) -> None:
    server.publish(KID, key)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(auth.AlbRefused, match=phrase):
        user(server, make(key, other))


def test_a_wrong_signer_or_unsafe_kid_fetches_no_key(
    server: KeyServer, key: ec.EllipticCurvePrivateKey
) -> None:
    server.publish(KID, key)
    for tok in (token(key, signer=OTHER_ARN), token(key, kid="a/b")):
        with pytest.raises(auth.AlbRefused):
            user(server, tok)
    assert server.requests == []


def test_a_non_p256_key_is_refused(server: KeyServer) -> None:
    wrong = ec.generate_private_key(ec.SECP384R1())
    server.publish(KID, wrong)
    with pytest.raises(auth.AlbRefused, match="not a P-256 key"):
        user(server, token(ec.generate_private_key(ec.SECP256R1())))


def test_an_unreachable_key_server_refuses(key: ec.EllipticCurvePrivateKey) -> None:
    srv = KeyServer()
    url = srv.url
    srv.httpd.shutdown()
    srv.httpd.server_close()
    keys = auth.AlbKeys(url)
    with pytest.raises(auth.AlbRefused, match="not one the load balancer publishes"):
        auth.alb_user({"x-amzn-oidc-data": token(key)}, auth.AlbSettings(ARN, url), keys, NOW)


def test_settings_come_from_the_arn_and_default_to_the_regions_endpoint() -> None:
    settings = auth.alb_settings({"BACKTEST_ALB_ARN": ARN})
    assert settings == auth.AlbSettings(ARN, "https://public-keys.auth.elb.eu-west-1.amazonaws.com")
    local = auth.alb_settings({"BACKTEST_ALB_ARN": ARN, "BACKTEST_ALB_KEYS_URL": "http://k/"})
    assert local.keys_url == "http://k"
    for bad in ("", "bt-dash", "arn:aws:s3:::bucket", "arn:aws:elasticloadbalancing::1:lb"):
        with pytest.raises(ParamError, match="BACKTEST_ALB_ARN set to this stack's load balancer"):
            auth.alb_settings({"BACKTEST_ALB_ARN": bad})


def test_real_time_is_used_when_no_clock_is_given(
    server: KeyServer, key: ec.EllipticCurvePrivateKey
) -> None:
    server.publish(KID, key)
    settings, keys = auth.AlbSettings(ARN, server.url), auth.AlbKeys(server.url)
    soon, past = int(time.time()) + 600, int(time.time()) - 3600
    fresh = token(key, {"exp": soon}, exp=soon)
    assert auth.alb_user({"x-amzn-oidc-data": fresh}, settings, keys) == "bob@x.org"
    with pytest.raises(auth.AlbRefused, match="expired"):
        auth.alb_user({"x-amzn-oidc-data": token(key, exp=past)}, settings, keys)


def test_es256_agrees_with_the_cryptography_package() -> None:
    from app import es256

    for i in range(8):
        priv = ec.generate_private_key(ec.SECP256R1())
        pem = priv.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        point = es256.public_key_from_pem(pem.decode())
        numbers = priv.public_key().public_numbers()
        assert point == (numbers.x, numbers.y)
        message = f"message {i}".encode()
        r, s = decode_dss_signature(priv.sign(message, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert es256.verify(point, message, sig)
        assert not es256.verify(point, message + b"!", sig)
        assert not es256.verify(point, message, sig[:-1] + bytes([sig[-1] ^ 1]))
        high_s = r.to_bytes(32, "big") + (es256.N - s).to_bytes(32, "big")
        assert es256.verify(point, message, high_s)  # ECDSA accepts both s and n - s
        assert not es256.verify(point, message, bytes(32) + sig[32:])  # r = 0
        assert not es256.verify(point, message, sig[:32] + es256.N.to_bytes(32, "big"))
        assert not es256.verify((point[0], point[1] ^ 1), message, sig)  # off the curve


def test_es256_refuses_keys_that_are_not_p256_points() -> None:
    from app import es256

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = p384.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    for text in (pem, "", "not a key", "-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----"):
        with pytest.raises(es256.NotP256Key):
            es256.public_key_from_pem(text)
    body = es256.SPKI_PREFIX + b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big")
    b64 = base64.b64encode(body).decode()
    with pytest.raises(es256.NotP256Key, match="not a point on P-256"):
        es256.public_key_from_pem(f"-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----")
