"""Keep a worker's match engine equal to the store: full load at start, then the change log.

Every worker process runs one ``ChangeSync``: a background thread applies the changes other
workers (or hosts) committed, every ``interval`` seconds, and the worker that made a change
applies it at once after its commit (``catch_up``), so its own caller reads its writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.banks import bank_info
from rempart.errors import InvalidSignal
from rempart.matching.engine import MatchEngine
from rempart.signals import Signal
from rempart.store.changes import changes_after, last_seq
from rempart.store.codec import decode_signal
from rempart.store.db import Database
from rempart.store.models import Bank, SignalChange
from rempart.store.models import Signal as SignalRow

log = logging.getLogger(__name__)

_LOAD_BATCH = 50_000
# What the engine needs of a stored signal, in the order ``_decoded`` reads it.
_SIGNAL_COLUMNS = select(
    SignalRow.id,
    SignalRow.bank_id,
    SignalRow.case_id,
    SignalRow.type,
    SignalRow.value,
    SignalRow.quality,
)


class ChangeSync:
    """Loads the engine and applies the change log in sequence order."""

    def __init__(self, database: Database, engine: MatchEngine, interval: float = 0.2) -> None:
        self._db = database
        self._engine = engine
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied_seq = 0
        self.last_applied_at = time.monotonic()

    def load_all(self) -> None:
        """Build the engine from every bank and signal, then catch up on what changed meanwhile."""
        with self._lock, self._db.reading() as session:
            self.applied_seq = last_seq(session)
            for bank in session.scalars(select(Bank)):
                self._engine.set_bank(bank_info(bank))
            after = 0
            while True:
                rows = session.execute(
                    _SIGNAL_COLUMNS.where(SignalRow.id > after)
                    .order_by(SignalRow.id)
                    .limit(_LOAD_BATCH)
                ).all()
                if not rows:
                    break
                self._engine.add(_decoded(rows))
                after = rows[-1][0]
        self.catch_up()

    def catch_up(self) -> int:
        """Apply every committed change not applied yet; returns how many were applied."""
        applied = 0
        with self._lock, self._db.reading() as session:
            while True:
                changes = changes_after(session, self.applied_seq)
                if not changes:
                    break
                for op, run in groupby(changes, key=lambda change: change.op):
                    self._apply(session, op, list(run))
                self.applied_seq = changes[-1].seq
                applied += len(changes)
        self.last_applied_at = time.monotonic()
        return applied

    def _apply(self, session: Session, op: str, run: list[SignalChange]) -> None:
        """Apply a run of consecutive changes of one kind (runs keep the log's order)."""
        if op == "bank":
            for bank_id in dict.fromkeys(c.bank_id for c in run if c.bank_id is not None):
                self._apply_bank(session, bank_id)
            return
        ids = [c.signal_id for c in run if c.signal_id is not None]
        if op == "add":
            # A signal removed since is no longer in the table and is simply not loaded.
            self._engine.add(_decoded(_signal_rows(session, ids)))
        elif op == "remove":
            self._engine.remove(ids)

    def _apply_bank(self, session: Session, bank_id: int) -> None:
        bank = session.get(Bank, bank_id)
        if bank is None:
            self._engine.drop_bank(bank_id)
        else:
            session.refresh(bank)
            self._engine.set_bank(bank_info(bank))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rempart-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.catch_up()
            except Exception:  # a database hiccup must not kill the worker's sync for good
                log.exception("change log sync failed; retrying")


def _signal_rows(
    session: Session, ids: list[int]
) -> list[tuple[int, int, int | None, str, str, int | None]]:
    rows: list[tuple[int, int, int | None, str, str, int | None]] = []
    for start in range(0, len(ids), 5000):
        rows.extend(
            session.execute(_SIGNAL_COLUMNS.where(SignalRow.id.in_(ids[start : start + 5000])))
        )
    return rows


def _decoded(
    rows: Sequence[tuple[int, int, int | None, str, str, int | None]],
) -> Iterator[tuple[int, int, int | None, Signal]]:
    for signal_id, bank_id, case_id, kind, value, quality in rows:
        try:
            yield signal_id, bank_id, case_id, decode_signal(kind, value, quality)
        except InvalidSignal:
            log.error("signal %s in bank %s cannot be decoded; not indexed", signal_id, bank_id)
