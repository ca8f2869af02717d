"""The matching service as one object: store, match engine, change sync, webhooks.

Adapters (HTTP API, Telegram bot, CLI) call these methods and nothing deeper: each method is
one unit of work (one transaction), and after a commit that changed signals or banks the local
engine catches up at once, so the caller reads its own writes; other workers follow within
``sync_interval``.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, or_, select

from rempart import banks as bank_ops
from rempart import cases as case_ops
from rempart import reports
from rempart.audit import audit
from rempart.config import Settings
from rempart.errors import Conflict, InvalidRequest, NotFound, RempartError
from rempart.evidence import SightingReport, record_sighting
from rempart.fingerprint import Fingerprint, Fingerprinter
from rempart.index import HammingIndex, new_index
from rempart.matching.engine import BankMatch, MatchEngine, default_kinds
from rempart.orgs import Principal, authenticate, create_key, create_org
from rempart.security import hash_secret, read_token, sign_token
from rempart.signals import Signal, signal_type_of
from rempart.signals.regions import MAX_REFERENCE_REGIONS, QueryImage, RegionalSignature
from rempart.store import Database, is_current, upgrade
from rempart.store.changes import prune_changes
from rempart.store.models import (
    ApiKey,
    AuditEntry,
    Bank,
    Organisation,
    ServiceSecret,
    Sighting,
    utcnow,
)
from rempart.sync import ChangeSync
from rempart.webhooks import (
    WebhookDeliverer,
    WebhookStatus,
    delete_webhook,
    register_webhook,
    webhook_status,
)

log = logging.getLogger(__name__)

OPERATOR_ORG = "local"
TOKEN_MAX_AGE = 90 * 24 * 3600
_KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class MatchResult:
    """A bank match as the API reports it, with the token that lets the caller report a sighting."""

    match: BankMatch
    token: str


@dataclass(frozen=True, slots=True)
class MediaMatch:
    """Signals computed from uploaded bytes (the bytes are gone) and what each matched."""

    media: Fingerprint
    results: list[list[MatchResult]]


@dataclass
class _KeyCache:
    entries: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Service:
    """Everything a worker process needs, started once per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        index_factory: Callable[[], HammingIndex] = new_index,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.db = Database(settings)
        self.engine = MatchEngine(default_kinds(index_factory))
        self.sync = ChangeSync(self.db, self.engine, settings.sync_interval)
        self.webhooks = WebhookDeliverer(self.db, settings, http_client)
        self.fingerprinter = Fingerprinter(
            settings.media_limits,
            settings.video_limits,
            regions=self.engine.accepts("regions"),
            image_workers=settings.hash_workers,
        )
        self._token_key = b""
        self._keys = _KeyCache()
        self.started_at = time.time()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Check or migrate the schema, create the defaults, load the index, start the threads."""
        if self.settings.is_sqlite:
            upgrade(self.settings)
        elif not is_current(self.db.engine, self.settings):
            raise RempartError("the database schema is not current: run `rempart db upgrade` first")
        self._ensure_defaults()
        self.sync.load_all()
        if background:
            self.sync.start()
            self.webhooks.start()
        log.info("service ready: %d signals indexed", len(self.engine))

    def stop(self) -> None:
        self.sync.stop()
        self.webhooks.stop()
        self.fingerprinter.close()
        self.db.dispose()

    def _ensure_defaults(self) -> None:
        with self.db.transaction() as session:
            operator = session.scalar(select(Organisation).where(Organisation.name == OPERATOR_ORG))
            if operator is None:
                operator = create_org(session, OPERATOR_ORG, actor="system")
            if not session.scalar(
                select(Bank).where(
                    Bank.org_id == operator.id, Bank.name == self.settings.cases_bank
                )
            ):
                bank_ops.create_bank(
                    session, operator.id, self.settings.cases_bank, shared=True, actor="system"
                )
            prune_changes(session)
            secret = session.get(ServiceSecret, "token_key")
            if secret is None:
                secret = ServiceSecret(name="token_key", value=secrets.token_hex(32))
                session.add(secret)
        self._token_key = (self.settings.secret_key or secret.value).encode()

    def bootstrap_admin_key(self) -> str | None:
        """On a fresh database, an admin key for the operator, written to a 0600 file.

        Returns the key (to print once) or None when keys exist already.
        """
        with self.db.transaction() as session:
            if session.scalar(select(func.count()).select_from(ApiKey)):
                return None
            operator = session.scalar(select(Organisation).where(Organisation.name == OPERATOR_ORG))
            assert operator is not None
            token = create_key(session, operator, ["admin"], name="first start", actor="system")
        path = self.settings.key_file
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(token + "\n")
        os.chmod(path, 0o600)
        return token

    def _changed(self) -> None:
        self.sync.catch_up()

    # -- auth -------------------------------------------------------------------------------

    def cached_principal(self, token: str) -> Principal | None:
        """The principal of an API key verified in the last few seconds, else None: no database
        access, so the event loop can ask it without a thread hop."""
        with self._keys.lock:
            held = self._keys.entries.get(hash_secret(token))
        return held[0] if held is not None and held[1] > time.monotonic() else None

    def authenticate(self, token: str) -> Principal:
        """The principal of an API key; verified keys are cached for a few seconds."""
        held = self.cached_principal(token)
        if held is not None:
            return held
        cache_key = hash_secret(token)
        now = time.monotonic()
        with self.db.reading() as session:
            principal = authenticate(session, token)
        with self._keys.lock:
            if len(self._keys.entries) > 10_000:
                self._keys.entries.clear()
            self._keys.entries[cache_key] = (principal, now + _KEY_CACHE_SECONDS)
        return principal

    # -- cases (victim side) ---------------------------------------------------------------

    def create_case(self, signals: Sequence[Signal]) -> tuple[str, str]:
        """A case for these signals in the cases bank; returns ``(case_id, pin)``."""
        self._check_matchable(signals)
        with self.db.transaction() as session:
            bank = self._cases_bank(session)
            case, pin = case_ops.create_case(session, bank, signals)
            case_id = case.case_id
        self._changed()
        return case_id, pin

    def case_view(self, case_id: str, pin: str | None) -> case_ops.CaseView:
        case_pk = self._open_case(case_id, pin)
        with self.db.reading() as session:
            case = session.get(case_ops.Case, case_pk)
            assert case is not None
            return case_ops.view_case(session, case)

    def add_case_signals(self, case_id: str, pin: str | None, signals: Sequence[Signal]) -> int:
        self._check_matchable(signals)
        case_pk = self._open_case(case_id, pin)
        with self.db.transaction() as session:
            case = session.get(case_ops.Case, case_pk)
            assert case is not None
            added = case_ops.add_case_signals(session, case, signals)
        self._changed()
        return added

    def withdraw_case(self, case_id: str, pin: str | None) -> None:
        case_pk = self._open_case(case_id, pin)
        with self.db.transaction() as session:
            case = session.get(case_ops.Case, case_pk)
            assert case is not None
            case_ops.withdraw_case(session, case)
        self._changed()

    def case_is_active(self, case_id: str, pin: str | None) -> bool:
        return self.case_view(case_id, pin).status == "active"

    def _open_case(self, case_id: str, pin: str | None) -> int:
        with self.db.transaction() as session:
            check = case_ops.check_pin(session, self.settings, case_id, pin)
            case_pk = check.case.id if check.case is not None else None
        if check.error is not None:
            raise check.error
        assert case_pk is not None
        return case_pk

    def _cases_bank(self, session: Any) -> Bank:
        bank = session.scalar(
            select(Bank)
            .join(Organisation, Organisation.id == Bank.org_id)
            .where(Organisation.name == OPERATOR_ORG, Bank.name == self.settings.cases_bank)
        )
        if bank is None:
            raise NotFound("the cases bank is missing: restart the service to recreate it")
        return bank

    def _check_matchable(self, signals: Sequence[Signal]) -> None:
        """Refuse, before storing, what the match engine could not index."""
        for signal in signals:
            kind = signal_type_of(signal)
            if not self.engine.accepts(kind):
                raise InvalidRequest(f"signals of type {kind} are not supported by this service")
            if isinstance(signal, RegionalSignature) and len(signal) > MAX_REFERENCE_REGIONS:
                raise InvalidRequest(
                    f"a stored regional signature has at most {MAX_REFERENCE_REGIONS} regions"
                    f" (this one has {len(signal)}): post what `rempart hash --regions` writes"
                )

    # -- matching (platform side) ----------------------------------------------------------

    def match(
        self, principal: Principal, signals: Sequence[Signal | QueryImage]
    ) -> list[list[MatchResult]]:
        """For each query signal, its bank matches (with sighting tokens)."""
        now = time.time()
        return [
            [self._result(m, principal, now) for m in found]
            for found in self.engine.match_many(signals, principal.org_id)
        ]

    def fingerprint(self, data: bytes) -> Fingerprint:
        """Signals of uploaded bytes (photo, animation or video), computed in memory."""
        return self.fingerprinter.fingerprint(data)

    def match_media(self, principal: Principal, data: bytes) -> MediaMatch:
        """Hash uploaded bytes in memory (never stored, never logged), then match every signal."""
        media = self.fingerprint(data)
        del data
        return MediaMatch(media, self.match(principal, media.queries))

    def _result(self, match: BankMatch, principal: Principal, now: float) -> MatchResult:
        payload = {
            "s": match.signal_id,
            "t": match.match_type,
            "d": match.distance,
            "a": match.action,
            "o": principal.org_id,
            "at": int(now),
        }
        return MatchResult(match, sign_token(self._token_key, payload))

    def report_sighting(
        self,
        principal: Principal,
        token: str,
        platform: str,
        location: str,
        action: str | None = None,
        seen_at: datetime | None = None,
        uploader: str | None = None,
    ) -> tuple[Sighting, bool]:
        """Turn a match token into an evidence record on the case; idempotent per token+location."""
        payload = read_token(self._token_key, token, TOKEN_MAX_AGE)
        if payload.get("o") != principal.org_id:
            raise InvalidRequest("this match token was issued to another organisation")
        report = SightingReport(
            signal_id=int(payload["s"]),
            platform=platform,
            location=location,
            match_type=str(payload["t"]),
            action=action or str(payload["a"]),
            distance=int(payload["d"]),
            uploader=uploader,
            seen_at=seen_at,
            reporter_org_id=principal.org_id,
            dedup=token,
        )
        with self.db.transaction() as session:
            return record_sighting(session, report, principal.actor)

    def record_sighting(self, report: SightingReport, actor: str) -> tuple[Sighting, bool]:
        """An evidence record made inside rempart (the Telegram bot in direct mode)."""
        with self.db.transaction() as session:
            return record_sighting(session, report, actor)

    # -- banks (operator side) --------------------------------------------------------------

    def list_banks(self, principal: Principal) -> list[tuple[Bank, int]]:
        with self.db.reading() as session:
            return bank_ops.list_banks(session, principal)

    def get_bank(self, principal: Principal, name: str) -> tuple[Bank, int]:
        for bank, count in self.list_banks(principal):
            if bank.name == name:
                return bank, count
        raise NotFound(f"no bank named {name!r} in your organisation")

    def create_bank(self, principal: Principal, name: str, **policy: Any) -> Bank:
        with self.db.transaction() as session:
            bank = bank_ops.create_bank(
                session, principal.org_id, name, actor=principal.actor, **policy
            )
        self._changed()
        return bank

    def update_bank(self, principal: Principal, name: str, **policy: Any) -> Bank:
        with self.db.transaction() as session:
            bank = bank_ops.get_bank(session, principal, name)
            bank_ops.update_bank(session, bank, principal.actor, **policy)
        self._changed()
        return bank

    def delete_bank(self, principal: Principal, name: str) -> None:
        with self.db.transaction() as session:
            bank_ops.delete_bank(
                session, bank_ops.get_bank(session, principal, name), principal.actor
            )
        self._changed()

    def add_bank_signals(
        self, principal: Principal, name: str, signals: Sequence[Signal]
    ) -> bank_ops.AddResult:
        self._check_matchable(signals)
        with self.db.transaction() as session:
            bank = bank_ops.get_bank(session, principal, name)
            result = bank_ops.add_signals(session, bank, signals, principal.actor)
        self._changed()
        return result

    def remove_bank_signals(
        self, principal: Principal, name: str, signals: Sequence[Signal]
    ) -> int:
        with self.db.transaction() as session:
            bank = bank_ops.get_bank(session, principal, name)
            removed = bank_ops.remove_signals(session, bank, signals, principal.actor)
        self._changed()
        return removed

    def export_bank(self, principal: Principal, name: str) -> dict[str, Any]:
        with self.db.transaction() as session:
            return bank_ops.export_bank(
                session, bank_ops.get_bank(session, principal, name), principal.actor
            )

    def import_bank(
        self, principal: Principal, document: Any, name: str | None = None
    ) -> tuple[Bank, bank_ops.AddResult]:
        self._check_matchable(bank_ops.verify_bank_file(document)[1])
        with self.db.transaction() as session:
            bank, result = bank_ops.import_bank(session, principal, document, name)
        self._changed()
        return bank, result

    def trust_key(self, principal: Principal, name: str, public_key: str) -> None:
        with self.db.transaction() as session:
            bank_ops.trust_key(session, principal.org_id, name, public_key, principal.actor)

    # -- webhooks ----------------------------------------------------------------------------

    def register_webhook(self, principal: Principal, url: str) -> tuple[int, str]:
        with self.db.transaction() as session:
            hook, secret = register_webhook(session, principal.org_id, url, principal.actor)
            return hook.id, secret

    def delete_webhook(self, principal: Principal, webhook_id: int) -> None:
        with self.db.transaction() as session:
            delete_webhook(session, principal.org_id, webhook_id, principal.actor)

    def list_webhooks(self, principal: Principal) -> list[WebhookStatus]:
        with self.db.reading() as session:
            return webhook_status(session, principal.org_id)

    def signing_key(self, principal: Principal) -> str:
        with self.db.reading() as session:
            org = session.get(Organisation, principal.org_id)
            assert org is not None
            return org.signing_public_key

    # == web pages and evidence reports (rempart.web, rempart.reports) =====================
    # Read-only views for the moderator dashboard, and the evidence report of a case. None of
    # them returns a hash value.

    def case_report(
        self, case_id: str, pin: str | None, language: str = "en"
    ) -> reports.CaseReport:
        """The evidence report (PDF) of an active case, recorded in the audit log with the
        SHA-256 of its content and of the PDF itself (docs/reports.md).

        Raises what ``case_view`` raises, and ``Conflict`` for a withdrawn case (its evidence
        was deleted with it). Rendering takes about a second.
        """
        view = self.case_view(case_id, pin)
        if view.status != "active":
            raise Conflict("this case was withdrawn: its evidence was deleted with it")
        report = reports.render_case_report(view, language=language)
        with self.db.transaction() as session:
            audit(
                session,
                f"case:{view.case_id}",
                "case.report",
                f"case:{view.case_id}",
                content_sha256=report.content_sha256,
                pdf_sha256=report.pdf_sha256,
                sightings=len(view.sightings),
            )
        return report

    def recent_sightings(self, principal: Principal, limit: int = 50) -> list[tuple[Sighting, str]]:
        """The latest sightings of the caller's banks' signals, newest first, with the bank
        name."""
        with self.db.reading() as session:
            rows = session.execute(
                select(Sighting, Bank.name)
                .join(Bank, Bank.id == Sighting.bank_id)
                .where(Bank.org_id == principal.org_id)
                .order_by(Sighting.seen_at.desc(), Sighting.id.desc())
                .limit(limit)
            ).all()
            return [(sighting, name) for sighting, name in rows]

    def sightings_per_day(self, principal: Principal, days: int = 30) -> list[tuple[str, str, int]]:
        """``(UTC day "YYYY-MM-DD", platform, count)`` of the caller's banks' sightings over the
        last ``days`` days (today included), ordered by day then platform."""
        since = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=days - 1
        )
        # Both give the UTC calendar day as text; PostgreSQL's date() would use the session's
        # time zone.
        day = (
            func.date(Sighting.seen_at)
            if self.settings.is_sqlite
            else func.to_char(func.timezone("UTC", Sighting.seen_at), "YYYY-MM-DD")
        )
        with self.db.reading() as session:
            rows = session.execute(
                select(day, Sighting.platform, func.count())
                .join(Bank, Bank.id == Sighting.bank_id)
                .where(Bank.org_id == principal.org_id, Sighting.seen_at >= since)
                .group_by(day, Sighting.platform)
                .order_by(day, Sighting.platform)
            ).all()
            return [(str(d), platform, int(count)) for d, platform, count in rows]

    def audit_entries(self, principal: Principal, limit: int = 100) -> list[AuditEntry]:
        """The caller's organisation's audit entries, newest first. The operator organisation
        also sees the entries that belong to no organisation (victims' cases, the system)."""
        with self.db.reading() as session:
            operator = session.scalar(
                select(Organisation.id).where(Organisation.name == OPERATOR_ORG)
            )
            mine = AuditEntry.org_id == principal.org_id
            if principal.org_id == operator:
                mine = or_(mine, AuditEntry.org_id.is_(None))
            return list(
                session.scalars(
                    select(AuditEntry)
                    .where(mine)
                    .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                    .limit(limit)
                )
            )
