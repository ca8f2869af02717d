"""Evidence records: where and when a protected signal was seen, and what was done.

A sighting is attached to the matched signal's case (the victim sees it with her PIN) and
raises a webhook event for the organisation that owns the bank. Records are append-only;
they leave the database only with their case, on withdrawal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import audit
from rempart.errors import InvalidRequest, NotFound
from rempart.store.models import Bank, Case, Organisation, Sighting
from rempart.store.models import Signal as SignalRow
from rempart.webhooks import enqueue_event

MATCH_TYPES = ("exact", "near", "derivative", "video", "clip")


@dataclass(frozen=True, slots=True)
class SightingReport:
    """A match seen somewhere, as a platform, the bot or an investigator reports it."""

    signal_id: int
    platform: str
    location: str
    match_type: str
    action: str
    distance: int | None = None
    uploader: str | None = None
    seen_at: datetime | None = None
    reporter_org_id: int | None = None
    dedup: str | None = None


def record_sighting(session: Session, report: SightingReport, actor: str) -> tuple[Sighting, bool]:
    """Store an evidence record; returns it and whether it is new (a re-sent report is not)."""
    if report.match_type not in MATCH_TYPES:
        raise InvalidRequest(f"match_type must be one of {', '.join(MATCH_TYPES)}")
    if not report.platform.strip() or len(report.platform) > 200:
        raise InvalidRequest("platform is 1-200 characters")
    dedup_key = (
        hashlib.sha256(f"{report.dedup}\n{report.location}".encode()).hexdigest()
        if report.dedup
        else None
    )
    if dedup_key is not None:
        existing = session.scalar(select(Sighting).where(Sighting.dedup_key == dedup_key))
        if existing is not None:
            return existing, False
    signal = session.get(SignalRow, report.signal_id)
    if signal is None:
        raise NotFound("the matched signal is no longer protected (its case was withdrawn)")
    seen_at = report.seen_at or datetime.now(UTC)
    # A timestamp without a zone is taken as UTC, the only zone rempart speaks.
    seen_at = seen_at.replace(tzinfo=UTC) if seen_at.tzinfo is None else seen_at.astimezone(UTC)
    sighting = Sighting(
        case_id=signal.case_id,
        bank_id=signal.bank_id,
        signal_id=signal.id,
        reporter_org_id=report.reporter_org_id,
        platform=report.platform.strip(),
        location=report.location,
        match_type=report.match_type,
        action=report.action,
        distance=report.distance,
        uploader=report.uploader,
        seen_at=seen_at,
        dedup_key=dedup_key,
    )
    session.add(sighting)
    session.flush()
    bank = session.get(Bank, signal.bank_id)
    assert bank is not None
    enqueue_event(session, bank.org_id, _event(session, sighting, bank))
    audit(
        session,
        actor,
        "sighting.record",
        f"sighting:{sighting.id}",
        org_id=report.reporter_org_id,
        platform=sighting.platform,
        match_type=sighting.match_type,
    )
    return sighting, True


def _event(session: Session, sighting: Sighting, bank: Bank) -> dict[str, Any]:
    case = session.get(Case, sighting.case_id) if sighting.case_id else None
    reporter = (
        session.get(Organisation, sighting.reporter_org_id) if sighting.reporter_org_id else None
    )
    return {
        "type": "sighting",
        "sighting_id": sighting.id,
        "bank": bank.name,
        "case_id": case.case_id if case else None,
        "platform": sighting.platform,
        "location": sighting.location,
        "match_type": sighting.match_type,
        "action": sighting.action,
        "distance": sighting.distance,
        "seen_at": iso(sighting.seen_at),
        "reported_by": reporter.name if reporter else None,
    }


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, as every timestamp on the wire."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
