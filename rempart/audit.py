"""The audit log: who did what, when. Never hash values, PINs or bank contents."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rempart.store.models import AuditEntry


def audit(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    org_id: int | None = None,
    **details: Any,
) -> None:
    """Record an action in the caller's transaction (so it commits or rolls back with it)."""
    session.add(
        AuditEntry(actor=actor, org_id=org_id, action=action, target=target, details=details)
    )
