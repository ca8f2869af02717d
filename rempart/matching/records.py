"""Decide matches between fingerprints: exact equality, PDQ distance within a threshold.

The index layer only finds near hashes; the thresholds and the quality floor are applied here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rempart.records import HashRecord
from rempart.signals import MATCH_THRESHOLD, QUALITY_FLOOR, hamming_packed

MatchType = Literal["exact", "near"]


@dataclass(frozen=True, slots=True)
class RecordMatch:
    """One query matching one reference; ``signal`` names the signal that matched."""

    query: str
    reference: str
    signal: str
    distance: int
    match_type: MatchType

    def to_json(self) -> dict[str, object]:
        return {
            "query": self.query,
            "reference": self.reference,
            "signal": self.signal,
            "distance": self.distance,
            "match_type": self.match_type,
        }


def match_records(
    references: Sequence[HashRecord],
    queries: Iterable[HashRecord],
    threshold: int = MATCH_THRESHOLD,
    min_quality: int = QUALITY_FLOOR,
) -> Iterator[RecordMatch]:
    """Every (query, reference) pair that matches, at most once per pair.

    A byte-identical file (SHA-256, else MD5) is an ``exact`` match at distance 0; otherwise the
    smallest PDQ distance over both sides' hashes (upright and stored order), if within
    ``threshold``, is a ``near`` match. PDQ hashes under ``min_quality`` are not compared: a
    flat picture's hash is mostly noise and would match other flat pictures.
    """
    by_sha256: dict[str, list[int]] = {}
    by_md5: dict[str, list[int]] = {}
    owners: list[int] = []
    packed: list[np.ndarray] = []
    for number, reference in enumerate(references):
        if reference.sha256 is not None:
            by_sha256.setdefault(reference.sha256.value, []).append(number)
        if reference.md5 is not None:
            by_md5.setdefault(reference.md5.value, []).append(number)
        for pdq in reference.pdq:
            if pdq.quality >= min_quality:
                owners.append(number)
                packed.append(pdq.packed())
    bank = np.stack(packed) if packed else np.zeros((0, 32), dtype=np.uint8)
    owner_of = np.asarray(owners, dtype=np.int64)

    for query in queries:
        exact: dict[int, str] = {}
        if query.md5 is not None:
            exact.update(dict.fromkeys(by_md5.get(query.md5.value, ()), "md5"))
        if query.sha256 is not None:
            exact.update(dict.fromkeys(by_sha256.get(query.sha256.value, ()), "sha256"))
        near: dict[int, int] = {}
        for pdq in query.pdq:
            if pdq.quality < min_quality or not len(bank):
                continue
            distances = hamming_packed(bank, pdq.packed())
            for row in np.flatnonzero(distances <= threshold):
                owner = int(owner_of[row])
                near[owner] = min(near.get(owner, 256), int(distances[row]))
        for number in sorted(exact.keys() | near.keys()):
            name = references[number].path
            if number in exact:
                yield RecordMatch(query.path, name, exact[number], 0, "exact")
            else:
                yield RecordMatch(query.path, name, "pdq", near[number], "near")
