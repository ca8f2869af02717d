"""Per-signal-type lookup structures behind the match engine.

Each kind keeps its own structure keyed by the store's signal id and answers "which stored
signals are candidates for this query signal?". Bank thresholds, visibility and actions are
applied by the engine, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rempart.index import HammingIndex
from rempart.matching.regions import RegionMatcher
from rempart.matching.video import VideoMatch, VideoMatcher
from rempart.signals import MAX_THRESHOLD, QUALITY_FLOOR, ExactHash, PdqHash, Signal
from rempart.signals.regions import QueryImage, RegionalSignature
from rempart.signals.video import VideoSignature


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored signal that a query signal hits.

    ``review_only`` marks weaker evidence that a human must look at whatever the bank's action.
    """

    signal_id: int
    distance: int
    match_type: str
    review_only: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class SignalKind(Protocol):
    """The lookup structure for one signal type."""

    def add(self, entries: list[tuple[int, Signal]]) -> None: ...

    def remove(self, signal_ids: list[int]) -> None: ...

    def candidates(
        self, queries: Sequence[Signal | QueryImage], radius: int
    ) -> list[list[Candidate]]:
        """For each query, in order, the stored signals it hits."""
        ...

    def __len__(self) -> int: ...


class ExactKind:
    """MD5 or SHA-256 equality: a dict from digest to signal ids."""

    def __init__(self) -> None:
        self._ids: dict[str, set[int]] = {}
        self._digest_of: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._digest_of)

    def add(self, entries: list[tuple[int, Signal]]) -> None:
        for signal_id, signal in entries:
            assert isinstance(signal, ExactHash)
            self._ids.setdefault(signal.value, set()).add(signal_id)
            self._digest_of[signal_id] = signal.value

    def remove(self, signal_ids: list[int]) -> None:
        for signal_id in signal_ids:
            digest = self._digest_of.pop(signal_id, None)
            if digest is not None:
                holders = self._ids[digest]
                holders.discard(signal_id)
                if not holders:
                    del self._ids[digest]

    def candidates(
        self, queries: Sequence[Signal | QueryImage], radius: int
    ) -> list[list[Candidate]]:
        found = []
        for query in queries:
            assert isinstance(query, ExactHash)
            found.append(
                [Candidate(sid, 0, "exact") for sid in sorted(self._ids.get(query.value, ()))]
            )
        return found


class PdqKind:
    """PDQ hashes in a Hamming index. Hashes under the quality floor are neither indexed nor
    searched: a flat picture's hash would match other flat pictures."""

    def __init__(self, index: HammingIndex) -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def add(self, entries: list[tuple[int, Signal]]) -> None:
        usable = [
            (sid, signal)
            for sid, signal in entries
            if isinstance(signal, PdqHash) and signal.quality >= QUALITY_FLOOR
        ]
        if usable:
            ids = np.fromiter((sid for sid, _ in usable), dtype=np.int64, count=len(usable))
            hashes = np.frombuffer(b"".join(s.bits for _, s in usable), dtype=np.uint8)
            self._index.add(ids, hashes.reshape(-1, 32))

    def remove(self, signal_ids: list[int]) -> None:
        if signal_ids:
            self._index.remove(np.asarray(signal_ids, dtype=np.int64))

    def candidates(
        self, queries: Sequence[Signal | QueryImage], radius: int
    ) -> list[list[Candidate]]:
        """One range search for the whole batch (the index is faster per query in batches)."""
        found: list[list[Candidate]] = [[] for _ in queries]
        usable = [
            number
            for number, query in enumerate(queries)
            if isinstance(query, PdqHash) and query.quality >= QUALITY_FLOOR
        ]
        if not usable:
            return found
        packed = np.stack([queries[number].packed() for number in usable])  # type: ignore[union-attr]
        hits = self._index.range_search(packed, min(radius, MAX_THRESHOLD))
        for row, signal_id, distance in hits:
            found[usable[row]].append(Candidate(signal_id, distance, "near"))
        return found


class VpdqKind:
    """Video signatures in a ``VideoMatcher`` (frame hashes in a Hamming index).

    Candidates are ``video`` or ``clip`` matches by Meta's vPDQ percentages (docs/video.md);
    bank PDQ thresholds do not apply to them.
    """

    def __init__(self, matcher: VideoMatcher | None = None) -> None:
        self._matcher = matcher or VideoMatcher()

    def __len__(self) -> int:
        return len(self._matcher)

    def add(self, entries: list[tuple[int, Signal]]) -> None:
        self._matcher.add_many(
            (sid, signal) for sid, signal in entries if isinstance(signal, VideoSignature)
        )

    def remove(self, signal_ids: list[int]) -> None:
        for signal_id in signal_ids:
            self._matcher.remove(signal_id)

    def candidates(
        self, queries: Sequence[Signal | QueryImage], radius: int
    ) -> list[list[Candidate]]:
        found = []
        for query in queries:
            assert isinstance(query, VideoSignature)
            found.append(
                [
                    Candidate(m.ref_id, m.distance, m.match_type, details=_video_details(m))
                    for m in self._matcher.match(query)
                ]
            )
        return found


def _video_details(match: VideoMatch) -> dict[str, Any]:
    details = match.to_json()
    del details["ref_id"], details["match_type"], details["distance"]
    return details


class RegionsKind:
    """Regional signatures in a ``RegionMatcher``: derivatives by geometric agreement.

    A query is a signature as received, or a ``QueryImage`` computed from pixels (which lets
    the matcher re-hash where a first match predicts). ``review`` tier evidence is marked
    ``review_only`` whatever the bank's action; bank PDQ thresholds do not apply.
    """

    def __init__(self, matcher: RegionMatcher | None = None) -> None:
        self._matcher = matcher or RegionMatcher()

    def __len__(self) -> int:
        return len(self._matcher)

    def add(self, entries: list[tuple[int, Signal]]) -> None:
        self._matcher.add_many(
            (sid, signal) for sid, signal in entries if isinstance(signal, RegionalSignature)
        )

    def remove(self, signal_ids: list[int]) -> None:
        for signal_id in signal_ids:
            self._matcher.remove(signal_id)

    def candidates(
        self, queries: Sequence[Signal | QueryImage], radius: int
    ) -> list[list[Candidate]]:
        found = []
        for query in queries:
            assert isinstance(query, RegionalSignature | QueryImage)
            found.append(
                [
                    Candidate(
                        m.ref_id,
                        m.distance,
                        "derivative",
                        review_only=m.tier == "review",
                        details={
                            "regions_agreeing": m.regions_agreeing,
                            "tier": m.tier,
                            "score": m.score,
                        },
                    )
                    for m in self._matcher.match(query)
                ]
            )
        return found
