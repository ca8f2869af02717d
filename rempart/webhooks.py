"""Webhooks: signed JSON events to an organisation's endpoints, delivered from a persisted outbox.

An event is written to ``webhook_deliveries`` in the same transaction as what caused it, so a
crash or restart loses nothing. Any worker may deliver it: a delivery is claimed for a while
before it is sent, retried with exponential backoff on failure, and given up after
``webhook_max_attempts`` (status ``failed``, visible on the dashboard). Receivers check
``X-Rempart-Signature: sha256=HMAC(secret, timestamp + "." + body)`` (docs/api.md).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from rempart.audit import audit
from rempart.config import Settings
from rempart.errors import InvalidRequest, NotFound
from rempart.security import webhook_signature
from rempart.store.db import Database
from rempart.store.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60


def register_webhook(session: Session, org_id: int, url: str, actor: str) -> tuple[Webhook, str]:
    """A new endpoint and its signing secret (returned once)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 2000:
        raise InvalidRequest("a webhook URL is an absolute http(s) URL")
    secret = secrets.token_urlsafe(32)
    hook = Webhook(org_id=org_id, url=url, secret=secret)
    session.add(hook)
    session.flush()
    audit(session, actor, "webhook.create", f"webhook:{hook.id}", org_id=org_id, url=url)
    return hook, secret


def delete_webhook(session: Session, org_id: int, webhook_id: int, actor: str) -> None:
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.org_id != org_id:
        raise NotFound(f"no webhook {webhook_id} in your organisation")
    session.delete(hook)
    audit(session, actor, "webhook.delete", f"webhook:{webhook_id}", org_id=org_id)


@dataclass(frozen=True, slots=True)
class WebhookStatus:
    id: int
    url: str
    enabled: bool
    pending: int
    delivered: int
    failed: int
    last_error: str | None


def webhook_status(session: Session, org_id: int) -> list[WebhookStatus]:
    """An organisation's endpoints with their delivery counts and latest error."""
    found = []
    for hook in session.scalars(
        select(Webhook).where(Webhook.org_id == org_id).order_by(Webhook.id)
    ):
        counts: dict[str, int] = {
            status: count
            for status, count in session.execute(
                select(WebhookDelivery.status, func.count())
                .where(WebhookDelivery.webhook_id == hook.id)
                .group_by(WebhookDelivery.status)
            )
        }
        last_error = session.scalar(
            select(WebhookDelivery.last_error)
            .where(WebhookDelivery.webhook_id == hook.id, WebhookDelivery.last_error.is_not(None))
            .order_by(WebhookDelivery.id.desc())
            .limit(1)
        )
        found.append(
            WebhookStatus(
                hook.id,
                hook.url,
                hook.enabled,
                counts.get("pending", 0),
                counts.get("delivered", 0),
                counts.get("failed", 0),
                last_error,
            )
        )
    return found


def enqueue_event(session: Session, org_id: int, event: dict[str, Any]) -> int:
    """Persist one delivery per enabled endpoint of the organisation; returns how many."""
    hooks = session.scalars(
        select(Webhook).where(Webhook.org_id == org_id, Webhook.enabled.is_(True))
    ).all()
    for hook in hooks:
        event_id = str(uuid.uuid4())
        payload = json.dumps({"event_id": event_id, **event}, separators=(",", ":"))
        session.add(WebhookDelivery(webhook_id=hook.id, event_id=event_id, payload=payload))
    return len(hooks)


class WebhookDeliverer:
    """Sends due deliveries; run as a background thread per worker, or call ``deliver_due``."""

    def __init__(
        self, database: Database, settings: Settings, client: httpx.Client | None = None
    ) -> None:
        self._db = database
        self._settings = settings
        self._client = client or httpx.Client(
            timeout=settings.webhook_timeout, follow_redirects=False
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval: float = 1.0) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="rempart-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.deliver_due()
            except Exception:  # keep delivering after a database or network hiccup
                log.exception("webhook delivery round failed; retrying")

    def deliver_due(self, now: datetime | None = None) -> int:
        """Try every delivery that is due and not claimed by another worker; returns how many."""
        now = now or datetime.now(UTC)
        with self._db.reading() as session:
            due = session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    or_(
                        WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now
                    ),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(50)
            ).all()
        sent = 0
        for delivery_id in due:
            if self._claim(delivery_id, now):
                self._attempt(delivery_id)
                sent += 1
        return sent

    def _claim(self, delivery_id: int, now: datetime) -> bool:
        with self._db.transaction() as session:
            claimed = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    or_(
                        WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now
                    ),
                )
                .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            )
            return bool(claimed.rowcount)  # type: ignore[attr-defined]

    def _attempt(self, delivery_id: int) -> None:
        with self._db.reading() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            hook = session.get(Webhook, delivery.webhook_id) if delivery else None
            if delivery is None or hook is None:
                return
            url, secret, payload = hook.url, hook.secret, delivery.payload
            attempts, event_id = delivery.attempts, delivery.event_id
        body = payload.encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "rempart-webhooks/1",
            "X-Rempart-Event": json.loads(payload).get("type", "event"),
            "X-Rempart-Delivery": event_id,
            "X-Rempart-Timestamp": timestamp,
            "X-Rempart-Signature": webhook_signature(secret, timestamp, body),
        }
        error: str | None
        try:
            response = self._client.post(url, content=body, headers=headers)
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._settle(delivery_id, attempts + 1, error)

    def _settle(self, delivery_id: int, attempts: int, error: str | None) -> None:
        now = datetime.now(UTC)
        with self._db.transaction() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts = attempts
            delivery.claimed_until = None
            if error is None:
                delivery.status = "delivered"
                delivery.delivered_at = now
                delivery.last_error = None
                return
            delivery.last_error = error[:500]
            if attempts >= self._settings.webhook_max_attempts:
                delivery.status = "failed"
                log.warning("webhook delivery %s failed for good: %s", delivery.event_id, error)
                return
            backoff = min(2 ** (attempts - 1), self._settings.webhook_max_backoff)
            delivery.next_attempt_at = now + timedelta(seconds=backoff)
