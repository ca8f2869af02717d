"""Matching for platforms (scope ``match``): signals, or a file hashed in memory."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from rempart.api.convert import parse_signals, results_out
from rempart.api.deps import MatchScope, ServiceDep
from rempart.api.metrics import count_matches
from rempart.api.schemas import ErrorOut, FileMatchOut, MatchIn, MatchResultsOut, MediaOut
from rempart.api.uploads import read_upload

router = APIRouter(prefix="/v1", tags=["match"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 413, 415, 422, 429)
}


@router.post("/match", response_model=MatchResultsOut, responses=_ERRORS)
async def match(body: MatchIn, service: ServiceDep, principal: MatchScope) -> MatchResultsOut:
    """Does each signal match a protected one? One result per signal, in order.

    Runs on the event loop: a lookup takes well under a millisecond, less than a thread hop.
    """
    results = service.match(principal, parse_signals(body.signals))
    count_matches(results)
    return MatchResultsOut(results=results_out(results))


@router.post(
    "/match/file",
    response_model=FileMatchOut,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def match_file(request: Request, service: ServiceDep, principal: MatchScope) -> FileMatchOut:
    """Upload media (multipart ``file``, or a raw body): hashed in memory, never stored."""
    data = await read_upload(request, service.settings.max_upload_bytes)
    found = await run_in_threadpool(service.match_media, principal, data)
    del data
    count_matches(found.results)
    media = found.media
    return FileMatchOut(
        results=results_out(found.results),
        signals=[signal.to_json() for signal in media.signals],
        media=MediaOut(
            width=media.width, height=media.height, format=media.format, kind=media.kind
        ),
    )
