"""Secrets: case ids and PINs, API keys, signed sighting tokens, webhook signatures.

PINs are stored as Argon2id hashes (slow on purpose: a stolen database does not give PINs
away); API keys carry 190 random bits, so a SHA-256 of the secret is enough and keeps the
match path fast. Every comparison is constant-time, and an unknown case id still pays for an
Argon2 verification so that timing does not tell which ids exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rempart.errors import InvalidRequest

# Crockford's base32: no I, L, O, U, so ids read aloud or typed from paper are unambiguous.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

SCOPES = ("match", "bank:read", "bank:write", "admin")

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_PIN_HASH = _hasher.hash("not-a-pin")


def _code(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_case_id() -> str:
    """``RMP-XXXX-XXXX``: 40 random bits, short enough to write down."""
    return f"RMP-{_code(4)}-{_code(4)}"


def normalise_case_id(value: str) -> str:
    """Accept any case, spaces, and the look-alike letters O/I/L; keep the dashes canonical."""
    cleaned = value.upper().replace(" ", "").replace("-", "").translate(_READ_AS)
    if cleaned.startswith("RMP"):
        cleaned = cleaned[3:]
    return f"RMP-{cleaned[:4]}-{cleaned[4:]}"


def new_pin() -> str:
    """``XXXX-XXXX``: 40 random bits; with the lockout, guessing is hopeless."""
    return f"{_code(4)}-{_code(4)}"


def _normalise_pin(pin: str) -> str:
    return pin.upper().replace(" ", "").replace("-", "").translate(_READ_AS)


def hash_pin(pin: str) -> str:
    return _hasher.hash(_normalise_pin(pin))


def verify_pin(pin_hash: str | None, pin: str) -> bool:
    """Constant-time check; an absent hash still costs one Argon2 verification."""
    try:
        return _hasher.verify(pin_hash or _DUMMY_PIN_HASH, _normalise_pin(pin)) and bool(pin_hash)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key_id: str
    secret_hash: str
    token: str  # shown once: rmp_<key_id>_<secret>


def new_api_key() -> NewApiKey:
    key_id = _code(12).lower()
    secret = secrets.token_urlsafe(32)
    return NewApiKey(key_id, hash_secret(secret), f"rmp_{key_id}_{secret}")


def split_api_key(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "rmp" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def check_scopes(scopes: list[str]) -> str:
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise InvalidRequest(f"scopes must be among {', '.join(SCOPES)}; got {scopes}")
    return " ".join(sorted(set(scopes)))


def sign_token(key: bytes, payload: dict[str, Any]) -> str:
    """A compact signed token: base64url(JSON).base64url(HMAC-SHA256)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def read_token(key: bytes, token: str, max_age: float) -> dict[str, Any]:
    """The payload of a token signed with ``key`` and younger than ``max_age`` seconds."""
    try:
        body, mac = token.split(".")
        expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            raise ValueError("bad signature")
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidRequest("the match token is not one this service issued") from exc
    if not isinstance(payload, dict) or time.time() - float(payload.get("at", 0)) > max_age:
        raise InvalidRequest("the match token has expired: query /v1/match again")
    return payload


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
