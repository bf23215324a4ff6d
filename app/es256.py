"""ES256 (ECDSA over NIST P-256 with SHA-256) signature verification, standard library only.

Only verification, only of public data (the load balancer's token and its published key), so
no secret is handled and timing does not matter. The dashboard's install set has no crypto
library (requirements.txt); this keeps the ALB check (app/auth.py) inside it. The tests sign
with the ``cryptography`` package and check both accept and reject paths against it.

Formulas: SEC 1 v2, section 4.1.4 (verification); curve parameters: SEC 2 v2, secp256r1.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
# DER SubjectPublicKeyInfo prefix of an uncompressed P-256 key: id-ecPublicKey, prime256v1,
# then a 66-byte BIT STRING (0 unused bits, 0x04, X, Y)
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")

Point = tuple[int, int] | None  # None: the point at infinity


class NotP256Key(ValueError):
    """The text is not a PEM P-256 public key."""


def _on_curve(point: tuple[int, int]) -> bool:
    x, y = point
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def public_key_from_pem(pem: str) -> tuple[int, int]:
    """The point of a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) on P-256, else NotP256Key."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----":
        raise NotP256Key("not a PEM public key")
    if lines[-1] != "-----END PUBLIC KEY-----":
        raise NotP256Key("not a PEM public key")
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise NotP256Key("not a PEM public key") from None
    body = der.removeprefix(SPKI_PREFIX)
    if body == der or len(body) != 65 or body[0] != 4:
        raise NotP256Key("not an uncompressed P-256 public key")
    point = (int.from_bytes(body[1:33], "big"), int.from_bytes(body[33:], "big"))
    if not _on_curve(point):
        raise NotP256Key("the key is not a point on P-256")
    return point


def _add(p1: Point, p2: Point) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def _mul(k: int, point: Point) -> Point:
    result: Point = None
    addend = point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def verify(key: tuple[int, int], message: bytes, signature: bytes) -> bool:
    """True when ``signature`` (JWS form: r || s, 32 bytes each) signs ``message`` under key."""
    if len(signature) != 64 or not _on_curve(key):
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = pow(s, -1, N)
    point = _add(_mul(e * w % N, G), _mul(r * w % N, key))
    return point is not None and point[0] % N == r
