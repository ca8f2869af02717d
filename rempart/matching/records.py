"""Decide matches between fingerprints: exact equality, PDQ distance within a threshold, videos
or clips by their vPDQ frames (``rempart.matching.video``), and derivatives by their regional
signatures (``rempart.matching.regions``).

The index layer only finds near hashes; the thresholds and the quality floor are applied here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rempart.matching.regions import DerivativeMatch, RegionMatcher, Tier
from rempart.matching.video import VideoMatcher
from rempart.records import HashRecord
from rempart.signals import MATCH_THRESHOLD, QUALITY_FLOOR, hamming_packed

MatchType = Literal["exact", "near", "video", "clip", "derivative"]


@dataclass(frozen=True, slots=True)
class RecordMatch:
    """One query matching one reference; ``signal`` names the signal that matched.

    Video matches (``signal`` ``vpdq``, ``match_type`` ``video`` or ``clip``) also carry the
    shares of matched frames (0-100) and where the matched frames lie, in seconds from each
    video's start; ``distance`` is then the median frame distance (docs/video.md).
    Derivative matches (``signal`` ``regions``) carry ``regions_agreeing`` and ``tier``
    (``remove`` or ``review``); ``distance`` is then the smallest distance among the agreeing
    regions (docs/derivatives.md).
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
    regions_agreeing: int | None = None
    tier: Tier | None = None

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
        for key in (
            "reference_start_s",
            "reference_end_s",
            "query_start_s",
            "query_end_s",
            "regions_agreeing",
            "tier",
        ):
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
    ``VideoMatcher`` decides it, frames within ``threshold``. Otherwise, when both sides have
    regional signatures, a ``derivative`` match as ``RegionMatcher`` decides it (its own
    thresholds; ``threshold`` does not apply). Raises ``InvalidSignal`` when a reference's
    regional signature has more regions than a reference may.
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
    with_regions = [(n, r.regions) for n, r in enumerate(references) if r.regions is not None]
    regional = RegionMatcher(sum(len(signature) for _, signature in with_regions))
    regional.add_many(with_regions)

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
        derived: dict[int, DerivativeMatch] = {}
        if query.regions is not None and len(regional):
            derived = {found.ref_id: found for found in regional.match(query.regions)}
        for number in sorted(exact.keys() | near.keys() | moving.keys() | derived.keys()):
            name = references[number].path
            if number in exact:
                yield RecordMatch(query.path, name, exact[number], 0, "exact")
            elif number in near:
                yield RecordMatch(query.path, name, "pdq", near[number], "near")
            elif number in derived and number not in moving:
                found_regions = derived[number]
                yield RecordMatch(
                    query.path,
                    name,
                    "regions",
                    found_regions.distance,
                    "derivative",
                    regions_agreeing=found_regions.regions_agreeing,
                    tier=found_regions.tier,
                )
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
