"""The change log that keeps every worker's in-memory index equal to the store.

Writers append ``signal_changes`` rows in the same transaction as the signals themselves, so a
change is visible to workers exactly when its data is. On PostgreSQL, writers first take a
transaction-scoped advisory lock: sequence numbers are then committed in order, and a worker
that has applied up to ``seq`` N can never later see a smaller number appear (SQLite already
serialises writers).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from rempart.store.models import SignalChange, utcnow

_ADVISORY_LOCK = 0x52454D50  # "REMP"


def log_changes(
    session: Session, op: str, signal_ids: Iterable[int] = (), bank_id: int | None = None
) -> None:
    """Append changes: ``add``/``remove`` of signal ids, or ``bank`` (settings or deletion)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    if op == "bank":
        session.execute(insert(SignalChange), [{"op": op, "bank_id": bank_id}])
        return
    rows = [{"op": op, "signal_id": sid, "bank_id": bank_id} for sid in signal_ids]
    if rows:
        session.execute(insert(SignalChange), rows)


def changes_after(session: Session, seq: int, limit: int = 10_000) -> list[SignalChange]:
    return list(
        session.scalars(
            select(SignalChange)
            .where(SignalChange.seq > seq)
            .order_by(SignalChange.seq)
            .limit(limit)
        )
    )


def prune_changes(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Forget log entries every live worker has long applied (a restarted one reloads in full)."""
    result = session.execute(delete(SignalChange).where(SignalChange.at < utcnow() - older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def last_seq(session: Session) -> int:
    return session.scalar(select(SignalChange.seq).order_by(SignalChange.seq.desc()).limit(1)) or 0
