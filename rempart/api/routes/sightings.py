"""Where a match was seen: evidence records on the case, webhook events for the bank owner."""

from __future__ import annotations

from fastapi import APIRouter, Response

from rempart.api.deps import MatchScope, ServiceDep
from rempart.api.schemas import ErrorOut, SightingIn, SightingRecorded

router = APIRouter(prefix="/v1", tags=["sightings"])


@router.post(
    "/sightings",
    status_code=201,
    response_model=SightingRecorded,
    responses={code: {"model": ErrorOut} for code in (401, 403, 404, 422, 429)},
)
def report_sighting(
    body: SightingIn, service: ServiceDep, principal: MatchScope, response: Response
) -> SightingRecorded:
    """Report that a match (identified by its token from /v1/match) was seen at a location."""
    sighting, new = service.report_sighting(
        principal,
        body.token,
        body.platform,
        body.location,
        action=body.action,
        seen_at=body.seen_at,
        uploader=body.uploader,
    )
    if not new:
        response.status_code = 200
    return SightingRecorded(sighting_id=sighting.id, recorded=new)
