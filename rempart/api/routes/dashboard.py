"""Read-only views for the moderator dashboard (``/admin``), scope ``bank:read``.

Recent sightings of the caller's banks, sightings per platform per day, the audit log and the
webhook delivery status. Nothing here returns a hash value or an image; webhook URLs are cut to
their origin (a path or query may hold a platform's token).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from rempart.api.deps import BankRead, ServiceDep
from rempart.api.schemas import ErrorOut
from rempart.evidence import iso

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 422, 429)
}


class DashboardSighting(BaseModel):
    seen_at: str
    bank: str
    platform: str
    location: str
    match_type: str
    action: str
    distance: int | None = None


class DashboardSightings(BaseModel):
    sightings: list[DashboardSighting]


class PlatformDay(BaseModel):
    day: str = Field(description="UTC calendar day, YYYY-MM-DD")
    platform: str
    sightings: int


class DashboardActivity(BaseModel):
    days: int
    since: str = Field(description="First UTC day of the window, YYYY-MM-DD")
    counts: list[PlatformDay] = Field(description="Only days and platforms with sightings")


class DashboardAuditEntry(BaseModel):
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class DashboardAudit(BaseModel):
    entries: list[DashboardAuditEntry]


class DashboardWebhook(BaseModel):
    id: int
    origin: str = Field(description="scheme://host[:port] of the endpoint")
    enabled: bool
    pending: int
    delivered: int
    failed: int
    last_error: str | None = None


class DashboardWebhooks(BaseModel):
    webhooks: list[DashboardWebhook]


@router.get("/sightings", response_model=DashboardSightings, responses=_ERRORS)
def recent_sightings(
    service: ServiceDep,
    principal: BankRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DashboardSightings:
    """The latest sightings of your banks' signals, newest first (never the uploader)."""
    return DashboardSightings(
        sightings=[
            DashboardSighting(
                seen_at=iso(sighting.seen_at),
                bank=bank,
                platform=sighting.platform,
                location=sighting.location,
                match_type=sighting.match_type,
                action=sighting.action,
                distance=sighting.distance,
            )
            for sighting, bank in service.recent_sightings(principal, limit)
        ]
    )


@router.get("/activity", response_model=DashboardActivity, responses=_ERRORS)
def activity(
    service: ServiceDep,
    principal: BankRead,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> DashboardActivity:
    """Sightings per platform per UTC day over the last ``days`` days, today included."""
    counts = service.sightings_per_day(principal, days)
    return DashboardActivity(
        days=days,
        since=_first_day(days),
        counts=[PlatformDay(day=d, platform=p, sightings=n) for d, p, n in counts],
    )


@router.get("/audit", response_model=DashboardAudit, responses=_ERRORS)
def audit_log(
    service: ServiceDep,
    principal: BankRead,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DashboardAudit:
    """Your organisation's audit log, newest first (who did what, when; never hash values)."""
    return DashboardAudit(
        entries=[
            DashboardAuditEntry(
                at=iso(entry.at),
                actor=entry.actor,
                action=entry.action,
                target=entry.target,
                details=_shown(entry.details or {}),
            )
            for entry in service.audit_entries(principal, limit)
        ]
    )


@router.get("/webhooks", response_model=DashboardWebhooks, responses=_ERRORS)
def webhooks(service: ServiceDep, principal: BankRead) -> DashboardWebhooks:
    """Your webhook endpoints' delivery counts and last error (origin only, no secret)."""
    return DashboardWebhooks(
        webhooks=[
            DashboardWebhook(
                id=status.id,
                origin=_origin(status.url),
                enabled=status.enabled,
                pending=status.pending,
                delivered=status.delivered,
                failed=status.failed,
                last_error=status.last_error,
            )
            for status in service.list_webhooks(principal)
        ]
    )


def _shown(details: dict[str, Any]) -> dict[str, Any]:
    """Audit details as the dashboard shows them: a webhook URL cut to its origin."""
    if isinstance(details.get("url"), str):
        return {**details, "url": _origin(details["url"])}
    return details


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _first_day(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days - 1)).strftime("%Y-%m-%d")
