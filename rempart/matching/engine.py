"""The in-process match engine: every enabled bank's signals, indexed, and the decision rules.

One engine lives in each worker process. It is filled from the store at start and kept current
by the change log (``rempart.sync``); it never touches the database itself. Reads and writes
are serialised by one lock: a lookup takes well under a millisecond, so readers barely wait.

Decision rules, in order, for one query signal:
1. candidates from the signal type's structure (exact digest, PDQ within the widest bank
   threshold, regional or video agreement);
2. keep banks that are enabled and visible to the querying organisation (its own, or shared);
3. PDQ: keep hits within that bank's own threshold;
4. an ``allow`` bank hit (an organisation's known false positive) turns every hit of the same
   organisation's ``protect`` banks into ``action: "none"``, with the reason;
5. one result per (bank, case) — the strongest — so a case with several hashes of one photo is
   reported once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rempart.index import HammingIndex, new_index
from rempart.matching.kinds import (
    Candidate,
    ExactKind,
    PdqKind,
    RegionsKind,
    SignalKind,
    VpdqKind,
)
from rempart.matching.regions import RegionMatcher
from rempart.matching.video import VideoMatcher
from rempart.signals import MATCH_THRESHOLD, Signal, signal_type_of
from rempart.signals.regions import QueryImage

MATCH_STRENGTH = {"exact": 0, "near": 1, "video": 1, "clip": 2, "derivative": 2}


@dataclass(frozen=True, slots=True)
class BankInfo:
    """What the engine needs to know of a bank (a copy of its row)."""

    id: int
    org_id: int
    name: str
    kind: str = "protect"
    action: str = "remove"
    pdq_threshold: int = MATCH_THRESHOLD
    enabled: bool = True
    shared: bool = False

    def visible_to(self, org_id: int | None) -> bool:
        return self.shared or org_id is None or org_id == self.org_id


@dataclass(frozen=True, slots=True)
class BankMatch:
    """A query signal matching a stored signal of a bank, with the action the bank asks for."""

    bank: BankInfo
    signal_id: int
    case_id: int | None
    signal_type: str
    distance: int
    match_type: str
    action: str
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Stored:
    bank_id: int
    case_id: int | None
    type: str


def default_kinds(index_factory: Callable[[], HammingIndex]) -> dict[str, SignalKind]:
    return {
        "pdq": PdqKind(index_factory()),
        "md5": ExactKind(),
        "sha256": ExactKind(),
        "vpdq": VpdqKind(VideoMatcher(index_factory=index_factory)),
        # The region matcher plans its indexes for its own lookup radii.
        "regions": RegionsKind(RegionMatcher()),
    }


class MatchEngine:
    """Signals by id, banks by id, and the per-type lookup structures."""

    def __init__(self, kinds: dict[str, SignalKind] | None = None) -> None:
        self._kinds = kinds if kinds is not None else default_kinds(new_index)
        self._signals: dict[int, _Stored] = {}
        self._banks: dict[int, BankInfo] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._signals)

    def sizes(self) -> dict[str, int]:
        """Indexed entries per signal type (for metrics)."""
        with self._lock:
            return {name: len(kind) for name, kind in self._kinds.items()}

    def accepts(self, signal_type: str) -> bool:
        return signal_type in self._kinds

    def set_bank(self, bank: BankInfo) -> None:
        with self._lock:
            self._banks[bank.id] = bank

    def drop_bank(self, bank_id: int) -> None:
        """Forget a deleted bank and every signal in it."""
        with self._lock:
            self._banks.pop(bank_id, None)
            self.remove([sid for sid, s in self._signals.items() if s.bank_id == bank_id])

    def bank(self, bank_id: int) -> BankInfo | None:
        return self._banks.get(bank_id)

    def add(self, entries: Iterable[tuple[int, int, int | None, Signal]]) -> int:
        """Add ``(signal_id, bank_id, case_id, signal)`` entries; known ids are skipped.

        Returns how many were added. Signal types without a lookup structure are skipped too
        (stored, exportable, but not matched by this engine).
        """
        by_type: dict[str, list[tuple[int, Signal]]] = {}
        with self._lock:
            for signal_id, bank_id, case_id, signal in entries:
                kind = signal_type_of(signal)
                if signal_id in self._signals or kind not in self._kinds:
                    continue
                self._signals[signal_id] = _Stored(bank_id, case_id, kind)
                by_type.setdefault(kind, []).append((signal_id, signal))
            for kind, batch in by_type.items():
                self._kinds[kind].add(batch)
        return sum(len(batch) for batch in by_type.values())

    def remove(self, signal_ids: Iterable[int]) -> int:
        by_type: dict[str, list[int]] = {}
        with self._lock:
            for signal_id in signal_ids:
                stored = self._signals.pop(signal_id, None)
                if stored is not None:
                    by_type.setdefault(stored.type, []).append(signal_id)
            for kind, ids in by_type.items():
                self._kinds[kind].remove(ids)
        return sum(len(ids) for ids in by_type.values())

    def match(self, query: Signal | QueryImage, org_id: int | None) -> list[BankMatch]:
        """Every bank match of one query for the querying organisation (see module doc)."""
        return self.match_many([query], org_id)[0]

    def match_many(
        self, queries: Sequence[Signal | QueryImage], org_id: int | None
    ) -> list[list[BankMatch]]:
        """For each query, in order, its bank matches for the querying organisation.

        A query is a signal, or the query regions computed from an image's pixels. Queries of
        one type are looked up together (one index search for all PDQ hashes of a request).
        """
        by_kind: dict[str, list[int]] = {}
        for number, query in enumerate(queries):
            kind = "regions" if isinstance(query, QueryImage) else signal_type_of(query)
            by_kind.setdefault(kind, []).append(number)
        results: list[list[BankMatch]] = [[] for _ in queries]
        with self._lock:
            radius = max(
                (b.pdq_threshold for b in self._banks.values() if b.enabled),
                default=MATCH_THRESHOLD,
            )
            for kind, numbers in by_kind.items():
                structure = self._kinds.get(kind)
                if structure is None:
                    continue
                batch = structure.candidates([queries[n] for n in numbers], radius)
                for number, candidates in zip(numbers, batch, strict=True):
                    results[number] = [
                        hit
                        for candidate in candidates
                        if (hit := self._bank_match(candidate, kind, org_id)) is not None
                    ]
        return [_strongest_per_case(_apply_allow_lists(found)) for found in results]

    def _bank_match(self, candidate: Candidate, kind: str, org_id: int | None) -> BankMatch | None:
        stored = self._signals.get(candidate.signal_id)
        if stored is None:
            return None
        bank = self._banks.get(stored.bank_id)
        if bank is None or not bank.enabled or not bank.visible_to(org_id):
            return None
        if kind == "pdq" and candidate.distance > bank.pdq_threshold:
            return None
        if bank.kind == "allow":
            action = "none"
        else:
            action = "review" if candidate.review_only else bank.action
        return BankMatch(
            bank=bank,
            signal_id=candidate.signal_id,
            case_id=stored.case_id,
            signal_type=kind,
            distance=candidate.distance,
            match_type=candidate.match_type,
            action=action,
            reason="allow list: known false positive" if bank.kind == "allow" else None,
            details=candidate.details,
        )


def _apply_allow_lists(found: list[BankMatch]) -> list[BankMatch]:
    allowing = {m.bank.org_id: m.bank.name for m in found if m.bank.kind == "allow"}
    if not allowing:
        return found
    return [
        replace(
            m,
            action="none",
            reason=f"allowed by bank '{allowing[m.bank.org_id]}' (a known false positive)",
        )
        if m.bank.kind == "protect" and m.bank.org_id in allowing
        else m
        for m in found
    ]


def _strongest_per_case(found: list[BankMatch]) -> list[BankMatch]:
    best: dict[tuple[int, int], BankMatch] = {}
    for m in found:
        key = (m.bank.id, m.case_id if m.case_id is not None else -m.signal_id)
        held = best.get(key)
        rank = (MATCH_STRENGTH.get(m.match_type, 3), m.distance)
        if held is None or rank < (MATCH_STRENGTH.get(held.match_type, 3), held.distance):
            best[key] = m
    return sorted(best.values(), key=lambda m: (m.bank.name, m.distance, m.signal_id))
