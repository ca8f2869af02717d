"""Between wire schemas and core values."""

from __future__ import annotations

from rempart.api.schemas import MatchOut, SightingOut, SignalIn, SignalResult
from rempart.errors import InvalidSignal
from rempart.evidence import iso
from rempart.service import MatchResult
from rempart.signals import Signal, parse_signal
from rempart.store.models import Sighting


def parse_signals(items: list[SignalIn]) -> list[Signal]:
    """Core signals from the wire; the error names the first bad one by its index."""
    parsed = []
    for number, item in enumerate(items):
        try:
            parsed.append(parse_signal(item.model_dump(exclude_none=True)))
        except InvalidSignal as exc:
            raise InvalidSignal(f"signals[{number}]: {exc.message}") from exc
    return parsed


def match_out(result: MatchResult) -> MatchOut:
    m = result.match
    return MatchOut(
        bank=m.bank.name,
        signal_type=m.signal_type,
        distance=m.distance,
        match_type=m.match_type,
        action=m.action,
        token=result.token,
        reason=m.reason,
        details=m.details or None,
    )


def results_out(results: list[list[MatchResult]]) -> list[SignalResult]:
    return [
        SignalResult(signal_index=number, matches=[match_out(r) for r in found])
        for number, found in enumerate(results)
    ]


def sighting_out(sighting: Sighting) -> SightingOut:
    return SightingOut(
        seen_at=iso(sighting.seen_at),
        platform=sighting.platform,
        location=sighting.location,
        match_type=sighting.match_type,
        action=sighting.action,
        distance=sighting.distance,
    )
