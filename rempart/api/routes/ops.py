"""Health, readiness and metrics for operators and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from rempart.api.deps import ServiceDep
from rempart.api.errors import error_response
from rempart.api.metrics import INDEX_SIZE, SYNC_SEQ, render

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(service: ServiceDep) -> dict[str, object] | Response:
    """The database answers and this worker's index is loaded and syncing."""
    try:
        with service.db.reading() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # any database failure means not ready
        return error_response(503, "not_ready", "the database does not answer")
    return {
        "status": "ready",
        "signals": len(service.engine),
        "applied_seq": service.sync.applied_seq,
    }


@router.get("/metrics", include_in_schema=False)
def metrics(service: ServiceDep) -> Response:
    for kind, size in service.engine.sizes().items():
        INDEX_SIZE.labels(kind).set(size)
    SYNC_SEQ.set(service.sync.applied_seq)
    body, content_type = render()
    return Response(body, media_type=content_type)
