"""Victims' cases: create with hashes only, follow with the PIN, add photos, withdraw.

A case's signals live in the shared cases bank. Withdrawal is one unit of work: every signal of
the case and every sighting leave the database and every worker's index, and the case row keeps
only its id and withdrawal time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rempart.audit import audit
from rempart.banks import insert_signals
from rempart.config import Settings
from rempart.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    RempartError,
    Unauthorized,
)
from rempart.security import hash_pin, new_case_id, new_pin, normalise_case_id, verify_pin
from rempart.signals import QUALITY_FLOOR, ExactHash, PdqHash, Signal
from rempart.store.changes import log_changes
from rempart.store.models import Bank, Case, Sighting, utcnow
from rempart.store.models import Signal as SignalRow

MAX_SIGNALS_PER_CASE = 10_000


@dataclass(frozen=True, slots=True)
class CaseView:
    """What the case owner sees: never the hashes, never the matched content."""

    case_id: str
    status: str
    created_at: datetime | None
    withdrawn_at: datetime | None
    signals_count: int
    sightings: list[Sighting]


def check_case_signals(signals: Sequence[Signal]) -> None:
    """Refuse what cannot protect anyone: no signal, or flat photos without exact hashes."""
    if not signals:
        raise InvalidRequest("a case needs at least one signal (hash) of a photo or video")
    if len(signals) > MAX_SIGNALS_PER_CASE:
        raise InvalidRequest(f"at most {MAX_SIGNALS_PER_CASE} signals per request")
    flat = [s for s in signals if isinstance(s, PdqHash) and s.quality < QUALITY_FLOOR]
    if flat and not any(isinstance(s, ExactHash) for s in signals):
        raise InvalidRequest(
            f"{len(flat)} photo hash(es) have PDQ quality under {QUALITY_FLOOR}: the photo is too"
            " flat (nearly uniform) to protect reliably by its look. Send its MD5/SHA-256 too,"
            " so exact copies can still be caught, or choose a photo with more detail."
        )


def create_case(session: Session, bank: Bank, signals: Sequence[Signal]) -> tuple[Case, str]:
    """A new case and its PIN (returned once; only its Argon2 hash is kept)."""
    check_case_signals(signals)
    pin = new_pin()
    case_id = new_case_id()
    while session.scalar(select(Case.id).where(Case.case_id == case_id)):
        case_id = new_case_id()
    case = Case(case_id=case_id, pin_hash=hash_pin(pin), bank_id=bank.id)
    session.add(case)
    session.flush()
    insert_signals(session, bank, signals, case_id=case.id, skip_duplicates=False)
    audit(session, f"case:{case_id}", "case.create", f"case:{case_id}", signals=len(signals))
    return case, pin


@dataclass(frozen=True, slots=True)
class PinCheck:
    """The outcome of a PIN check: the case, or the error to raise once failures are saved."""

    case: Case | None
    error: RempartError | None


def check_pin(session: Session, settings: Settings, case_id: str, pin: str | None) -> PinCheck:
    """Check a case id and PIN, counting failures (lockout with doubling backoff).

    The failure count is written in the caller's transaction; the caller commits it and only
    then raises ``error``, so failed attempts are remembered. A withdrawn case opens without a
    PIN check: only its id and withdrawal time remain.
    """
    case = session.scalar(
        select(Case).where(Case.case_id == normalise_case_id(case_id)).with_for_update()
    )
    if case is not None and case.status == "withdrawn":
        return PinCheck(case, None)
    now = utcnow()
    if case is not None and case.locked_until is not None and case.locked_until > now:
        wait = int((case.locked_until - now).total_seconds()) + 1
        return PinCheck(None, RateLimited(f"too many wrong PINs; try again in {wait} s", wait))
    if not pin:
        verify_pin(None, "")
        return PinCheck(None, Unauthorized("this case needs its PIN (header X-Rempart-Pin)"))
    if case is None:
        verify_pin(None, pin)
        return PinCheck(None, NotFound("no case with this id"))
    if not verify_pin(case.pin_hash, pin):
        _count_failure(session, settings, case, now)
        return PinCheck(None, Unauthorized("wrong PIN for this case"))
    if case.failed_pin_attempts:
        case.failed_pin_attempts = 0
        case.locked_until = None
    return PinCheck(case, None)


def _count_failure(session: Session, settings: Settings, case: Case, now: datetime) -> None:
    case.failed_pin_attempts += 1
    over = case.failed_pin_attempts - settings.pin_max_failures
    if over >= 0:
        seconds = min(settings.pin_lockout_seconds * 2**over, settings.pin_lockout_max_seconds)
        case.locked_until = now + timedelta(seconds=seconds)
        audit(session, "system", "case.locked", f"case:{case.case_id}", seconds=seconds)


def view_case(session: Session, case: Case) -> CaseView:
    count = session.scalar(select(func.count()).where(SignalRow.case_id == case.id)) or 0
    sightings = session.scalars(
        select(Sighting).where(Sighting.case_id == case.id).order_by(Sighting.seen_at)
    ).all()
    return CaseView(
        case.case_id, case.status, case.created_at, case.withdrawn_at, count, list(sightings)
    )


def add_case_signals(session: Session, case: Case, signals: Sequence[Signal]) -> int:
    if case.status != "active" or case.bank_id is None:
        raise Conflict("this case was withdrawn; create a new case to protect more photos")
    check_case_signals(signals)
    bank = session.get(Bank, case.bank_id)
    assert bank is not None
    result = insert_signals(session, bank, signals, case_id=case.id, skip_duplicates=False)
    audit(
        session,
        f"case:{case.case_id}",
        "case.add_signals",
        f"case:{case.case_id}",
        signals=result.added,
    )
    return result.added


def withdraw_case(session: Session, case: Case) -> None:
    """Delete every signal and sighting of the case and forget everything but id and time."""
    if case.status == "withdrawn":
        return
    ids = list(session.scalars(select(SignalRow.id).where(SignalRow.case_id == case.id)))
    session.execute(delete(SignalRow).where(SignalRow.case_id == case.id))
    session.execute(delete(Sighting).where(Sighting.case_id == case.id))
    log_changes(session, "remove", ids, bank_id=case.bank_id)
    case.status = "withdrawn"
    case.withdrawn_at = utcnow()
    case.pin_hash = None
    case.created_at = None
    case.bank_id = None
    case.failed_pin_attempts = 0
    case.locked_until = None
    audit(
        session, f"case:{case.case_id}", "case.withdraw", f"case:{case.case_id}", signals=len(ids)
    )
