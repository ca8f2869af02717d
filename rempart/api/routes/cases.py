"""Victims' cases: no API key, the PIN instead (header ``X-Rempart-Pin``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from rempart.api.convert import parse_signals, sighting_out
from rempart.api.deps import CaseLimit, Pin, ServiceDep
from rempart.api.schemas import CaseCreated, CaseOut, CaseSignalsAdded, ErrorOut, SignalsIn
from rempart.evidence import iso

router = APIRouter(prefix="/v1/cases", tags=["cases"], dependencies=[CaseLimit])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 404, 409, 422, 429)
}


@router.post("", status_code=201, response_model=CaseCreated, responses=_ERRORS)
def create_case(body: SignalsIn, service: ServiceDep) -> CaseCreated:
    """Protect photos by their hashes: returns the case id and a PIN, shown once."""
    case_id, pin = service.create_case(parse_signals(body.signals))
    return CaseCreated(case_id=case_id, pin=pin)


@router.get("/{case_id}", response_model=CaseOut, responses=_ERRORS)
def get_case(case_id: str, service: ServiceDep, pin: Pin = None) -> CaseOut:
    """Status, number of signals and sightings (when, where, what was done); never hashes."""
    view = service.case_view(case_id, pin)
    return CaseOut(
        case_id=view.case_id,
        status="active" if view.status == "active" else "withdrawn",
        signals_count=view.signals_count,
        sightings=[sighting_out(s) for s in view.sightings],
        created_at=iso(view.created_at) if view.created_at else None,
        withdrawn_at=iso(view.withdrawn_at) if view.withdrawn_at else None,
    )


@router.post("/{case_id}/signals", response_model=CaseSignalsAdded, responses=_ERRORS)
def add_signals(
    case_id: str, body: SignalsIn, service: ServiceDep, pin: Pin = None
) -> CaseSignalsAdded:
    """Protect more photos in the same case."""
    added = service.add_case_signals(case_id, pin, parse_signals(body.signals))
    return CaseSignalsAdded(
        added=added, signals_count=service.case_view(case_id, pin).signals_count
    )


@router.delete("/{case_id}", status_code=204, responses=_ERRORS)
def withdraw(case_id: str, service: ServiceDep, pin: Pin = None) -> Response:
    """Withdraw the case: every hash is deleted from every bank and index at once."""
    service.withdraw_case(case_id, pin)
    return Response(status_code=204)
