"""Organisations and their API keys."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import audit
from rempart.errors import Conflict, NotFound, Unauthorized
from rempart.security import check_scopes, hash_secret, new_api_key, secrets_equal, split_api_key
from rempart.store.models import ApiKey, Organisation, utcnow


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an organisation through one of its API keys."""

    org_id: int
    org_name: str
    key_id: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def can(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def create_org(session: Session, name: str, actor: str = "cli") -> Organisation:
    """A new organisation with its own Ed25519 signing key for bank exports."""
    name = name.strip()
    if not name:
        raise Conflict("an organisation needs a name")
    if session.scalar(select(Organisation).where(Organisation.name == name)):
        raise Conflict(f"an organisation named {name!r} exists already")
    private = Ed25519PrivateKey.generate()
    org = Organisation(
        name=name,
        signing_private_key=private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        signing_public_key=base64.b64encode(
            private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        ).decode(),
    )
    session.add(org)
    session.flush()
    audit(session, actor, "org.create", f"org:{org.id}", org_id=org.id, name=name)
    return org


def get_org(session: Session, name: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise NotFound(f"no organisation named {name!r}")
    return org


def create_key(
    session: Session, org: Organisation, scopes: list[str], name: str = "", actor: str = "cli"
) -> str:
    """A new API key; the returned token is shown once and never stored."""
    new = new_api_key()
    session.add(
        ApiKey(
            org_id=org.id,
            key_id=new.key_id,
            secret_hash=new.secret_hash,
            name=name,
            scopes=check_scopes(scopes),
        )
    )
    audit(session, actor, "key.create", f"key:{new.key_id}", org_id=org.id, scopes=scopes)
    return new.token


def revoke_key(session: Session, key_id: str, actor: str = "cli") -> None:
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    key.revoked_at = utcnow()
    audit(session, actor, "key.revoke", f"key:{key_id}", org_id=key.org_id)


def authenticate(session: Session, token: str) -> Principal:
    """The principal of a bearer token; ``Unauthorized`` for unknown, wrong or revoked keys."""
    parts = split_api_key(token)
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == parts[0])) if parts else None
    presented = hash_secret(parts[1]) if parts else ""
    # Compare even when the key is unknown, so timing does not reveal which key ids exist.
    matches = secrets_equal(key.secret_hash if key else "0" * 64, presented or "1" * 64)
    if key is None or not matches or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    return Principal(key.org_id, key.org.name, key.key_id, frozenset(key.scopes.split()))
