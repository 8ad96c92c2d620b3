"""Signed shopper tokens: `base64url(payload).base64url(hmac_sha256(secret, payload))`.

The payload is `{"sub": customer_id, "exp": unix_seconds}`. The store's own backend signs a
token for the signed-in shopper and hands it to the page; the assistant trusts the identity in
a token it can verify and nothing else. Anything expired, forged or malformed is anonymous.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 3600
MAX_TOKEN_CHARS = 1024  # a real token is ~100 characters; don't decode megabytes


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    # urlsafe_b64decode accepts stray characters silently; validate=True needs the std alphabet.
    std = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(std + "=" * (-len(std) % 4), validate=True)


def _sign(secret: str, payload_b64: str) -> bytes:
    return hmac.new(secret.encode(), payload_b64.encode("ascii"), hashlib.sha256).digest()


def issue_token(
    secret: str, user_id: str, ttl: int = DEFAULT_TTL_S, *, now: float | None = None
) -> str:
    if not secret:
        raise ValueError("a signing secret is required")
    if not user_id:
        raise ValueError("a user id is required")
    exp = int((time.time() if now is None else now) + ttl)
    payload = _b64e(json.dumps({"sub": user_id, "exp": exp}, separators=(",", ":")).encode())
    return f"{payload}.{_b64e(_sign(secret, payload))}"


def verify_token(secret: str, token: str | None, *, now: float | None = None) -> str | None:
    """The token's customer id, or None (anonymous) for anything not provably valid."""
    if not token or not secret or len(token) > MAX_TOKEN_CHARS:
        return None
    parts = token.strip().split(".")
    if len(parts) != 2 or not all(parts):
        return None
    payload_b64, sig_b64 = parts
    try:
        payload_b64.encode("ascii")
        sig = _b64d(sig_b64)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    # Compare signatures before parsing anything the sender controls.
    if not hmac.compare_digest(sig, _sign(secret, payload_b64)):
        log.info("rejected a shopper token with a bad signature")
        return None
    try:
        claims = json.loads(_b64d(payload_b64))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    sub, exp = claims.get("sub"), claims.get("exp")
    if not isinstance(sub, str) or not sub or not isinstance(exp, int) or isinstance(exp, bool):
        return None
    if exp <= (time.time() if now is None else now):
        return None
    return sub


def token_from_headers(authorization: str | None, shopper_token: str | None) -> str | None:
    """`Authorization: Bearer <token>` wins over `X-Shopper-Token: <token>`."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return shopper_token.strip() if shopper_token and shopper_token.strip() else None
