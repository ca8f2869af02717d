"""Banks: named lists of signals with an owner and a policy, and signed exchange files.

A signed bank file lets two organisations exchange hash lists: JSON with the bank's policy, its
signals, the signer's Ed25519 public key and a signature over the canonical JSON of everything
else (docs/banks.md). Importing checks the signature and that the importing organisation trusts
the signer's key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from rempart.audit import audit
from rempart.errors import Conflict, Forbidden, InvalidRequest, InvalidSignal, NotFound
from rempart.matching.engine import BankInfo
from rempart.orgs import Principal
from rempart.signals import MAX_THRESHOLD, Signal, parse_signal
from rempart.store.changes import log_changes
from rempart.store.codec import decode_signal, encode_signal
from rempart.store.models import Bank, Organisation, TrustedKey
from rempart.store.models import Signal as SignalRow

BANK_FILE_FORMAT = "rempart-bank"
BANK_FILE_VERSION = 1
KINDS = ("protect", "allow")
ACTIONS = ("remove", "review")
MAX_BATCH = 100_000


@dataclass(frozen=True, slots=True)
class AddResult:
    added: int
    duplicates: int
    signal_ids: list[int]


def bank_info(bank: Bank) -> BankInfo:
    return BankInfo(
        id=bank.id,
        org_id=bank.org_id,
        name=bank.name,
        kind=bank.kind,
        action=bank.action,
        pdq_threshold=bank.pdq_threshold,
        enabled=bank.enabled,
        shared=bank.shared,
    )


def create_bank(
    session: Session,
    org_id: int,
    name: str,
    *,
    kind: str = "protect",
    action: str = "remove",
    pdq_threshold: int = 31,
    enabled: bool = True,
    shared: bool = False,
    actor: str = "system",
) -> Bank:
    _check_policy(kind, action, pdq_threshold)
    if not name.strip() or len(name) > 200 or "/" in name:
        raise InvalidRequest("a bank name is 1-200 characters, without '/'")
    if session.scalar(select(Bank).where(Bank.org_id == org_id, Bank.name == name)):
        raise Conflict(f"a bank named {name!r} exists already")
    bank = Bank(
        org_id=org_id,
        name=name,
        kind=kind,
        action=action,
        pdq_threshold=pdq_threshold,
        enabled=enabled,
        shared=shared,
    )
    session.add(bank)
    session.flush()
    log_changes(session, "bank", bank_id=bank.id)
    audit(session, actor, "bank.create", f"bank:{name}", org_id=org_id, kind=kind)
    return bank


def update_bank(session: Session, bank: Bank, actor: str, **changes: Any) -> Bank:
    """Change a bank's policy (kind, action, pdq_threshold, enabled); applies to every worker."""
    values = {key: value for key, value in changes.items() if value is not None}
    _check_policy(
        values.get("kind", bank.kind),
        values.get("action", bank.action),
        values.get("pdq_threshold", bank.pdq_threshold),
    )
    for key, value in values.items():
        setattr(bank, key, value)
    log_changes(session, "bank", bank_id=bank.id)
    audit(session, actor, "bank.update", f"bank:{bank.name}", org_id=bank.org_id, changes=values)
    return bank


def delete_bank(session: Session, bank: Bank, actor: str) -> None:
    if bank.shared and session.scalar(
        select(func.count()).where(SignalRow.bank_id == bank.id, SignalRow.case_id.is_not(None))
    ):
        raise Conflict("this bank holds victims' cases; withdraw them instead of deleting the bank")
    session.execute(delete(SignalRow).where(SignalRow.bank_id == bank.id))
    log_changes(session, "bank", bank_id=bank.id)
    audit(session, actor, "bank.delete", f"bank:{bank.name}", org_id=bank.org_id)
    session.delete(bank)


def get_bank(session: Session, principal: Principal, name: str) -> Bank:
    """A bank of the caller's organisation (other organisations' banks are never listed)."""
    bank = session.scalar(select(Bank).where(Bank.org_id == principal.org_id, Bank.name == name))
    if bank is None:
        raise NotFound(f"no bank named {name!r} in your organisation")
    return bank


def list_banks(session: Session, principal: Principal) -> list[tuple[Bank, int]]:
    """The caller's banks with their signal counts."""
    counts: dict[int, int] = {
        bank_id: count
        for bank_id, count in session.execute(
            select(SignalRow.bank_id, func.count()).group_by(SignalRow.bank_id)
        )
    }
    banks = session.scalars(
        select(Bank).where(Bank.org_id == principal.org_id).order_by(Bank.name)
    ).all()
    return [(bank, counts.get(bank.id, 0)) for bank in banks]


def insert_signals(
    session: Session,
    bank: Bank,
    signals: Sequence[Signal],
    case_id: int | None = None,
    skip_duplicates: bool = True,
) -> AddResult:
    """Store signals in a bank and log them for every worker's index (caller's transaction)."""
    if len(signals) > MAX_BATCH:
        raise InvalidRequest(f"at most {MAX_BATCH} signals per request")
    rows = []
    seen: set[tuple[str, str]] = set()
    existing: set[tuple[str, str]] = set()
    encoded = [encode_signal(signal) for signal in signals]
    if skip_duplicates and encoded:
        keys = {row[2] for row in encoded}
        existing = (
            {
                (kind, key)
                for kind, key in session.execute(
                    select(SignalRow.type, SignalRow.value_key).where(
                        SignalRow.bank_id == bank.id, SignalRow.value_key.in_(keys)
                    )
                )
            }
            if len(keys) <= 5000
            else _bank_keys(session, bank.id)
        )
    for kind, value, key, quality in encoded:
        if skip_duplicates and ((kind, key) in existing or (kind, key) in seen):
            continue
        seen.add((kind, key))
        rows.append(
            {
                "bank_id": bank.id,
                "case_id": case_id,
                "type": kind,
                "value": value,
                "value_key": key,
                "quality": quality,
            }
        )
    ids: list[int] = []
    if rows:
        ids = list(session.scalars(insert(SignalRow).returning(SignalRow.id), rows))
        log_changes(session, "add", ids, bank_id=bank.id)
    return AddResult(len(ids), len(signals) - len(ids), ids)


def _bank_keys(session: Session, bank_id: int) -> set[tuple[str, str]]:
    return set(
        session.execute(
            select(SignalRow.type, SignalRow.value_key).where(SignalRow.bank_id == bank_id)
        )
    )


def add_signals(session: Session, bank: Bank, signals: Sequence[Signal], actor: str) -> AddResult:
    result = insert_signals(session, bank, signals)
    audit(
        session,
        actor,
        "bank.add_signals",
        f"bank:{bank.name}",
        org_id=bank.org_id,
        added=result.added,
        duplicates=result.duplicates,
    )
    return result


def remove_signals(session: Session, bank: Bank, signals: Sequence[Signal], actor: str) -> int:
    """Remove signals equal to the given ones; signals belonging to a case are left alone
    (cases are withdrawn by their owner, with the PIN)."""
    keys = [encode_signal(signal)[::2] for signal in signals]  # (type, value_key)
    ids: list[int] = []
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        values = {key for _, key in chunk}
        wanted = set(chunk)
        for signal_id, kind, key in session.execute(
            select(SignalRow.id, SignalRow.type, SignalRow.value_key).where(
                SignalRow.bank_id == bank.id,
                SignalRow.case_id.is_(None),
                SignalRow.value_key.in_(values),
            )
        ):
            if (kind, key) in wanted:
                ids.append(signal_id)
    if ids:
        session.execute(delete(SignalRow).where(SignalRow.id.in_(ids)))
        log_changes(session, "remove", ids, bank_id=bank.id)
    audit(
        session,
        actor,
        "bank.remove_signals",
        f"bank:{bank.name}",
        org_id=bank.org_id,
        removed=len(ids),
    )
    return len(ids)


def bank_signals(session: Session, bank: Bank) -> Iterable[Signal]:
    rows = session.execute(
        select(SignalRow.type, SignalRow.value, SignalRow.quality)
        .where(SignalRow.bank_id == bank.id)
        .order_by(SignalRow.id)
    )
    for kind, value, quality in rows:
        yield decode_signal(kind, value, quality)


def export_bank(session: Session, bank: Bank, actor: str) -> dict[str, Any]:
    """A signed bank file (a JSON document): policy, signals, signer and signature."""
    org = session.get(Organisation, bank.org_id)
    assert org is not None
    document: dict[str, Any] = {
        "format": BANK_FILE_FORMAT,
        "version": BANK_FILE_VERSION,
        "exported_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "bank": {
            "name": bank.name,
            "kind": bank.kind,
            "action": bank.action,
            "pdq_threshold": bank.pdq_threshold,
        },
        "signer": {"organisation": org.name, "public_key": org.signing_public_key},
        "signals": [signal.to_json() for signal in bank_signals(session, bank)],
    }
    private = serialization.load_pem_private_key(org.signing_private_key.encode(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    document["signature"] = base64.b64encode(private.sign(canonical_json(document))).decode()
    audit(
        session,
        actor,
        "bank.export",
        f"bank:{bank.name}",
        org_id=bank.org_id,
        signals=len(document["signals"]),
    )
    return document


def canonical_json(document: dict[str, Any]) -> bytes:
    """The bytes a bank file's signature covers: every key but ``signature``, sorted, compact."""
    body = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_bank_file(document: Any) -> tuple[str, list[Signal]]:
    """Check a bank file's format and signature; returns the signer's public key and signals."""
    if not isinstance(document, dict) or document.get("format") != BANK_FILE_FORMAT:
        raise InvalidRequest("not a rempart bank file")
    if document.get("version") != BANK_FILE_VERSION:
        raise InvalidRequest(f"unsupported bank file version {document.get('version')!r}")
    try:
        public_b64 = document["signer"]["public_key"]
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        public.verify(
            base64.b64decode(document["signature"], validate=True), canonical_json(document)
        )
    except (KeyError, TypeError, ValueError, InvalidSignature) as exc:
        raise InvalidRequest(
            "the bank file's signature does not verify: it was altered or is not signed"
        ) from exc
    raw = document.get("signals")
    if not isinstance(raw, list):
        raise InvalidRequest("the bank file has no signal list")
    try:
        return public_b64, [parse_signal(item) for item in raw]
    except InvalidSignal as exc:
        raise InvalidRequest(f"the bank file holds an invalid signal: {exc.message}") from exc


def import_bank(
    session: Session, principal: Principal, document: Any, name: str | None = None
) -> tuple[Bank, AddResult]:
    """Verify a signed file, check its signer is trusted by the caller, then add its signals to a
    bank of the caller's (created with the file's policy when it does not exist)."""
    public_key, signals = verify_bank_file(document)
    trusted = session.scalar(
        select(TrustedKey).where(
            TrustedKey.org_id == principal.org_id, TrustedKey.public_key == public_key
        )
    )
    if trusted is None:
        raise Forbidden(
            f"the bank file is signed by key {public_key}, which your organisation does not trust;"
            " add it first (POST /v1/trusted-keys or `rempart admin trust-key`)"
        )
    policy = document["bank"]
    bank_name = name or str(policy.get("name", "imported"))
    bank = session.scalar(
        select(Bank).where(Bank.org_id == principal.org_id, Bank.name == bank_name)
    )
    if bank is None:
        bank = create_bank(
            session,
            principal.org_id,
            bank_name,
            kind=str(policy.get("kind", "protect")),
            action=str(policy.get("action", "remove")),
            pdq_threshold=int(policy.get("pdq_threshold", 31)),
            actor=principal.actor,
        )
    result = insert_signals(session, bank, signals)
    audit(
        session,
        principal.actor,
        "bank.import",
        f"bank:{bank.name}",
        org_id=principal.org_id,
        signer=trusted.name,
        added=result.added,
    )
    return bank, result


def trust_key(session: Session, org_id: int, name: str, public_key: str, actor: str) -> TrustedKey:
    try:
        raw = base64.b64decode(public_key, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise InvalidRequest("a public key is 32 bytes of Ed25519, base64-encoded") from exc
    if session.scalar(
        select(TrustedKey).where(TrustedKey.org_id == org_id, TrustedKey.public_key == public_key)
    ):
        raise Conflict("this key is trusted already")
    key = TrustedKey(org_id=org_id, name=name, public_key=public_key)
    session.add(key)
    audit(session, actor, "key.trust", f"trusted:{name}", org_id=org_id)
    return key


def _check_policy(kind: str, action: str, pdq_threshold: int) -> None:
    if kind not in KINDS:
        raise InvalidRequest(f"bank kind must be one of {', '.join(KINDS)}")
    if action not in ACTIONS:
        raise InvalidRequest(f"bank action must be one of {', '.join(ACTIONS)}")
    if not 0 <= pdq_threshold <= MAX_THRESHOLD:
        raise InvalidRequest(f"pdq_threshold must be 0-{MAX_THRESHOLD}")
