"""Where the bot gets its verdicts and leaves its evidence: one small interface, two homes.

``DirectBackend`` runs the matching service in the bot's process (``REMPART_DATABASE_URL``: the
same store as the service, banks loaded at start and kept current by the change log);
``RemoteBackend`` calls a rempart service's HTTP API (``REMPART_API_URL`` + ``REMPART_API_KEY``).
The bot behaves the same with either. Both are synchronous (the core is); the bot calls them
through ``asyncio.to_thread``. Media bytes are hashed in memory and dropped; neither backend logs
or keeps them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from rempart import errors
from rempart.errors import RempartError
from rempart.evidence import SightingReport, iso
from rempart.matching.engine import MATCH_STRENGTH
from rempart.orgs import Principal, get_org
from rempart.service import Service

PLATFORM = "telegram"
BOT_ACTOR = "telegram-bot"
# How long a remote bank version is trusted before /readyz is asked again (seconds).
_VERSION_TTL = 2.0


@dataclass(frozen=True, slots=True)
class Hit:
    """One bank match of one signal computed from a media item.

    ``token`` is the service's sighting token for it; ``signal_id`` is known in direct mode only.
    """

    signal_index: int
    bank: str
    match_type: str
    distance: int
    action: str  # remove | review | none
    token: str
    signal_id: int | None = None

    @property
    def strength(self) -> tuple[int, int]:
        """Sort key: exact before near before derivative, then the smaller distance."""
        return MATCH_STRENGTH.get(self.match_type, 3), self.distance


@dataclass(frozen=True, slots=True)
class Evidence:
    """A sighting to record: what matched, where, and what the bot did about it."""

    token: str
    signal_id: int | None
    match_type: str
    distance: int
    location: str
    action: str
    seen_at: datetime
    uploader: str | None


class TransientBackendError(RempartError):
    """The service could not answer now (network, 5xx, rate limit): retry later."""

    code = "service_unavailable"


class MatchBackend(Protocol):
    """What the bot needs of a rempart service."""

    def start(self) -> None:
        """Connect (and in direct mode load the banks); raises ``RempartError`` if impossible."""

    def stop(self) -> None: ...

    def match_media(self, data: bytes) -> list[Hit]:
        """Hash ``data`` in memory and match every signal; raises ``MediaError`` for bytes that
        are no media rempart reads, ``TransientBackendError`` when the service cannot answer."""

    def record_sighting(self, evidence: Evidence) -> bool:
        """Record an evidence record on the matched case; idempotent (the token and location
        identify it). Returns whether it is new. ``NotFound`` when the case was withdrawn."""

    def bank_version(self) -> int:
        """A number that grows whenever any bank changes (signals added or removed, settings)."""


def selected_hits(hits: Iterable[Hit]) -> list[Hit]:
    """The hits worth acting on, one set per bank.

    One upload yields several signals (PDQ, MD5, SHA-256, regions...) that often match the same
    case through different stored signals. Per bank, keep the hits of the query signal whose
    best hit is strongest: the engine already reports that signal's hits once per case, so two
    victims who protected the same photo both get the sighting, and one victim gets it once.
    Hits whose action is ``none`` (an allow-list bank) are dropped.
    """
    by_bank: dict[str, dict[int, list[Hit]]] = {}
    for hit in hits:
        if hit.action != "none":
            by_bank.setdefault(hit.bank, {}).setdefault(hit.signal_index, []).append(hit)
    chosen: list[Hit] = []
    for bank in sorted(by_bank):
        per_signal = by_bank[bank]
        best = min(
            per_signal, key=lambda index: (min(h.strength for h in per_signal[index]), index)
        )
        chosen.extend(sorted(per_signal[best], key=lambda h: h.strength))
    return chosen


class DirectBackend:
    """The matching service in this process, querying as the organisation ``settings.bot_org``.

    The bot acts for that organisation: it sees that organisation's banks and every shared bank
    (the victims' cases bank among them), as an API key of that organisation would.
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self._principal: Principal | None = None

    def start(self) -> None:
        self.service.start(background=True)
        with self.service.db.reading() as session:
            org = get_org(session, self.service.settings.bot_org)
            self._principal = Principal(org.id, org.name, BOT_ACTOR, frozenset({"match"}))

    def stop(self) -> None:
        self.service.stop()

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise RempartError("the backend is not started")
        return self._principal

    def match_media(self, data: bytes) -> list[Hit]:
        found = self.service.match_media(self.principal, data)
        del data
        return [
            Hit(
                signal_index=index,
                bank=result.match.bank.name,
                match_type=result.match.match_type,
                distance=result.match.distance,
                action=result.match.action,
                token=result.token,
                signal_id=result.match.signal_id,
            )
            for index, results in enumerate(found.results)
            for result in results
        ]

    def record_sighting(self, evidence: Evidence) -> bool:
        if evidence.signal_id is None:
            raise errors.InvalidRequest("a direct sighting needs the matched signal id")
        _, new = self.service.record_sighting(
            SightingReport(
                signal_id=evidence.signal_id,
                platform=PLATFORM,
                location=evidence.location,
                match_type=evidence.match_type,
                action=evidence.action,
                distance=evidence.distance,
                uploader=evidence.uploader,
                seen_at=evidence.seen_at,
                reporter_org_id=self.principal.org_id,
                dedup=evidence.token,
            ),
            BOT_ACTOR,
        )
        return new

    def bank_version(self) -> int:
        return self.service.sync.applied_seq


# Error codes of the API's ``{"error": {"code", "message"}}`` body, back to rempart's errors.
_ERRORS: dict[str, type[RempartError]] = {
    cls.code: cls
    for cls in (
        errors.MediaError,
        errors.UnsupportedFormat,
        errors.CorruptMedia,
        errors.TooLarge,
        errors.TooSmall,
        errors.InvalidRequest,
        errors.NotFound,
        errors.Unauthorized,
        errors.Forbidden,
    )
}


class RemoteBackend:
    """A rempart service's HTTP API: ``POST /v1/match/file``, ``POST /v1/sightings``, and the
    ``applied_seq`` of ``GET /readyz`` as the bank version.

    ``client`` is injected in tests; by default an ``httpx.Client`` on ``api_url`` with the key.
    """

    def __init__(
        self, api_url: str, api_key: str, *, client: httpx.Client | None = None, timeout: float = 30
    ) -> None:
        self._client = client or httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._version = 0
        self._version_checked = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        self._refresh_version()
        # A cheap authenticated call, so a wrong key stops the bot at start, not at a match.
        self._call("POST", "/v1/match", json={"signals": [{"type": "md5", "value": "0" * 32}]})

    def stop(self) -> None:
        self._client.close()

    def match_media(self, data: bytes) -> list[Hit]:
        body = self._call("POST", "/v1/match/file", files={"file": ("media", data)})
        del data
        return [
            Hit(
                signal_index=int(result["signal_index"]),
                bank=str(match["bank"]),
                match_type=str(match["match_type"]),
                distance=int(match["distance"]),
                action=str(match["action"]),
                token=str(match["token"]),
            )
            for result in body["results"]
            for match in result["matches"]
        ]

    def record_sighting(self, evidence: Evidence) -> bool:
        body = self._call(
            "POST",
            "/v1/sightings",
            json={
                "token": evidence.token,
                "platform": PLATFORM,
                "location": evidence.location,
                "action": evidence.action,
                "seen_at": iso(evidence.seen_at),
                "uploader": evidence.uploader,
            },
        )
        return bool(body["recorded"])

    def bank_version(self) -> int:
        if time.monotonic() - self._version_checked > _VERSION_TTL:
            # On failure keep the last known version; the next call asks again.
            with contextlib.suppress(TransientBackendError):
                self._refresh_version()
        return self._version

    def _refresh_version(self) -> None:
        seq = int(self._call("GET", "/readyz")["applied_seq"])
        with self._lock:
            # Workers of one service apply the log at their own pace: only ever move forward.
            self._version = max(self._version, seq)
            self._version_checked = time.monotonic()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientBackendError(f"the rempart service did not answer: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientBackendError(f"the rempart service answered {response.status_code}")
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise TransientBackendError("the rempart service sent a body that is not JSON") from exc
        if response.is_success:
            return body
        error = body.get("error") or {}
        cls = _ERRORS.get(str(error.get("code")), RempartError)
        raise cls(str(error.get("message") or f"HTTP {response.status_code}"))
