"""Decide matches between fingerprints: exact equality, PDQ distance within a threshold, and
videos or clips by their vPDQ frames (``rempart.matching.video``).

The index layer only finds near hashes; the thresholds and the quality floor are applied here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rempart.matching.video import VideoMatcher
from rempart.records import HashRecord
from rempart.signals import MATCH_THRESHOLD, QUALITY_FLOOR, hamming_packed

MatchType = Literal["exact", "near", "video", "clip"]


@dataclass(frozen=True, slots=True)
class RecordMatch:
    """One query matching one reference; ``signal`` names the signal that matched.

    Video matches (``signal`` ``vpdq``, ``match_type`` ``video`` or ``clip``) also carry the
    shares of matched frames (0-100) and where the matched frames lie, in seconds from each
    video's start; ``distance`` is then the median frame distance (docs/video.md).
    """

    query: str
    reference: str
    signal: str
    distance: int
    match_type: MatchType
    query_match_pct: float | None = None
    reference_match_pct: float | None = None
    reference_start_s: float | None = None
    reference_end_s: float | None = None
    query_start_s: float | None = None
    query_end_s: float | None = None

    def to_json(self) -> dict[str, object]:
        found: dict[str, object] = {
            "query": self.query,
            "reference": self.reference,
            "signal": self.signal,
            "distance": self.distance,
            "match_type": self.match_type,
        }
        if self.query_match_pct is not None:
            found["query_match_pct"] = round(self.query_match_pct, 2)
        if self.reference_match_pct is not None:
            found["reference_match_pct"] = round(self.reference_match_pct, 2)
        for key in ("reference_start_s", "reference_end_s", "query_start_s", "query_end_s"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        return found


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
    flat picture's hash is mostly noise and would match other flat pictures. Otherwise, when
    both sides have video frames (``vpdq``), a ``video`` or ``clip`` match as
    ``VideoMatcher`` decides it, frames within ``threshold``.
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
    videos = VideoMatcher(distance=threshold, min_quality=min_quality)
    for number, reference in enumerate(references):
        if reference.vpdq is not None:
            videos.add(number, reference.vpdq)

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
        moving = {
            found.ref_id: found
            for found in (
                videos.match(query.vpdq) if query.vpdq is not None and len(videos) else []
            )
        }
        for number in sorted(exact.keys() | near.keys() | moving.keys()):
            name = references[number].path
            if number in exact:
                yield RecordMatch(query.path, name, exact[number], 0, "exact")
            elif number in near:
                yield RecordMatch(query.path, name, "pdq", near[number], "near")
            else:
                found = moving[number]
                clip = found.match_type == "clip"
                yield RecordMatch(
                    query.path,
                    name,
                    "vpdq",
                    found.distance,
                    found.match_type,
                    query_match_pct=found.query_match_pct,
                    reference_match_pct=found.reference_match_pct,
                    reference_start_s=found.reference_start_s if clip else None,
                    reference_end_s=found.reference_end_s if clip else None,
                    query_start_s=found.query_start_s if clip else None,
                    query_end_s=found.query_end_s if clip else None,
                )
