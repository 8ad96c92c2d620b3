"""Signed shopper tokens: valid ones name the shopper, everything else is anonymous."""

import base64
import hashlib
import hmac
import json

import pytest

from assistant.web.identity import issue_token, token_from_headers, verify_token

SECRET = "s3cret-for-tests"
NOW = 1_800_000_000.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(payload: bytes, secret: str = SECRET) -> str:
    body = _b64(payload)
    return body + "." + _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def test_round_trip_and_shape():
    token = issue_token(SECRET, "CG-12520", ttl=60, now=NOW)
    payload, sig = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {
        "sub": "CG-12520",
        "exp": int(NOW) + 60,
    }
    assert len(base64.urlsafe_b64decode(sig + "=")) == 32  # HMAC-SHA256
    assert verify_token(SECRET, token, now=NOW) == "CG-12520"
    assert verify_token(SECRET, token, now=NOW + 59) == "CG-12520"


def test_expired_token_is_anonymous():
    token = issue_token(SECRET, "CG-12520", ttl=60, now=NOW)
    assert verify_token(SECRET, token, now=NOW + 60) is None
    assert verify_token(SECRET, issue_token(SECRET, "CG-12520", ttl=-1)) is None


def test_forged_and_tampered_tokens_are_anonymous():
    token = issue_token(SECRET, "CG-12520", ttl=60, now=NOW)
    payload, sig = token.split(".")
    other = _b64(json.dumps({"sub": "AA-10315", "exp": int(NOW) + 60}).encode())
    assert verify_token(SECRET, f"{other}.{sig}", now=NOW) is None  # swapped subject
    assert verify_token("another-secret", token, now=NOW) is None  # wrong key
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert verify_token(SECRET, f"{payload}.{flipped}", now=NOW) is None
    longer = _b64(json.dumps({"sub": "CG-12520", "exp": int(NOW) + 10**9}).encode())
    assert verify_token(SECRET, f"{longer}.{sig}", now=NOW) is None  # extended expiry


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "abc",
        "a.b.c",
        ".",
        "abc.",
        ".abc",
        "not base64!.@@@",
        "é.é",
        "x" * 5000,
        _signed(b"not json"),
        _signed(b"[1, 2]"),
        _signed(b'{"sub": "CG-12520"}'),
        _signed(b'{"exp": 9999999999}'),
        _signed(b'{"sub": "", "exp": 9999999999}'),
        _signed(b'{"sub": 5, "exp": 9999999999}'),
        _signed(b'{"sub": "A", "exp": "9999999999"}'),
        _signed(b'{"sub": "A", "exp": true}'),
        _signed(b'{"sub": "A", "exp": 99999999999.5}'),
    ],
)
def test_malformed_tokens_are_anonymous(token):
    assert verify_token(SECRET, token, now=NOW) is None


def test_a_correctly_signed_payload_is_accepted():
    assert verify_token(SECRET, _signed(b'{"sub": "A-1", "exp": 9999999999}'), now=NOW) == "A-1"


def test_issue_needs_secret_and_user():
    with pytest.raises(ValueError):
        issue_token("", "CG-12520")
    with pytest.raises(ValueError):
        issue_token(SECRET, "")
    assert verify_token("", issue_token(SECRET, "CG-12520")) is None


def test_token_from_headers():
    assert token_from_headers("Bearer abc.def", None) == "abc.def"
    assert token_from_headers("bearer  abc.def ", "zzz") == "abc.def"
    assert token_from_headers("Basic dXNlcg==", "tok.en") == "tok.en"
    assert token_from_headers(None, " tok.en ") == "tok.en"
    assert token_from_headers("Bearer ", "") is None
    assert token_from_headers(None, None) is None
