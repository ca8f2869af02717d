"""Webhook endpoints of the caller's organisation (scope ``admin``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from rempart.api.deps import Admin, ServiceDep
from rempart.api.schemas import ErrorOut, WebhookCreated, WebhookIn, WebhookOut, WebhooksOut

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 422, 429)
}


@router.post("", status_code=201, response_model=WebhookCreated, responses=_ERRORS)
def create(body: WebhookIn, service: ServiceDep, principal: Admin) -> WebhookCreated:
    """Register an endpoint for sighting events; the signing secret is shown once."""
    webhook_id, secret = service.register_webhook(principal, body.url)
    return WebhookCreated(id=webhook_id, url=body.url, secret=secret)


@router.get("", response_model=WebhooksOut, responses=_ERRORS)
def list_webhooks(service: ServiceDep, principal: Admin) -> WebhooksOut:
    """Endpoints with delivery counts (pending, delivered, failed) and the last error."""
    return WebhooksOut(
        webhooks=[
            WebhookOut(
                id=s.id,
                url=s.url,
                enabled=s.enabled,
                pending=s.pending,
                delivered=s.delivered,
                failed=s.failed,
                last_error=s.last_error,
            )
            for s in service.list_webhooks(principal)
        ]
    )


@router.delete("/{webhook_id}", status_code=204, responses=_ERRORS)
def delete(webhook_id: int, service: ServiceDep, principal: Admin) -> Response:
    service.delete_webhook(principal, webhook_id)
    return Response(status_code=204)
