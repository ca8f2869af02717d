"""Match videos and clips by their vPDQ signatures, through a Hamming index of frame hashes.

The rule is Meta's vPDQ comparison (docs/video.md): frames of quality under 50 are ignored,
identical hashes count once, and a query frame *matches* a reference when some reference frame
lies within 31 bits of it. Then

- ``query_match_pct``: the share of the query's distinct good frames that match the reference;
- ``reference_match_pct``: the share of the reference's distinct good frames that some query
  frame matches.

A ``video`` match has both at or over their thresholds (the same video, re-encoded, resized,
trimmed a little). A ``clip`` match has only one of them: the query is an excerpt of the
reference (``query_match_pct`` high, a clip cut from a longer video), or the reference appears
inside the query (``reference_match_pct`` high, a protected video within a compilation). Clips
report where the matching frames lie in each video, in seconds.

Meta's defaults (python-threatexchange ``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT = 80``,
``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT = 0``) accept any query whose frames are 80% matched: with
the default thresholds here, every pair Meta's default rule accepts is reported, as ``video`` or
``clip``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from rempart.index import HammingIndex, new_index
from rempart.signals import MATCH_THRESHOLD, QUALITY_FLOOR
from rempart.signals.video import MAX_FRAMES, VideoSignature

# Meta's python-threatexchange vPDQ default for the query side.
QUERY_THRESHOLD_PCT = 80.0
# Meta's vPDQ README example for the compared (reference) side.
REFERENCE_THRESHOLD_PCT = 80.0

VideoMatchType = Literal["video", "clip"]

# An index id packs the reference id and the frame's position among the reference's indexed
# frames: (ref_id << 15) | position. MAX_FRAMES fits in 15 bits; ref ids get the other 48.
_POSITION_BITS = 15
_POSITION_MASK = (1 << _POSITION_BITS) - 1
MAX_REF_ID = (1 << (63 - _POSITION_BITS)) - 1
assert MAX_FRAMES <= _POSITION_MASK + 1


@dataclass(frozen=True, slots=True)
class VideoMatch:
    """One reference matched by a query video.

    Percentages are 0-100. ``distance`` is the median, over the matched query frames, of each
    one's smallest distance to a reference frame (0 for an identical copy). Times are in
    seconds from each video's first frame, spanning the matched frames (at the sampling
    resolution, 1 s by default); they are given for every match, and are what a ``clip`` is
    about.
    """

    ref_id: int
    match_type: VideoMatchType
    query_match_pct: float
    reference_match_pct: float
    distance: int
    reference_start_s: float
    reference_end_s: float
    query_start_s: float
    query_end_s: float

    def to_json(self) -> dict[str, object]:
        return {
            "ref_id": self.ref_id,
            "match_type": self.match_type,
            "query_match_pct": round(self.query_match_pct, 2),
            "reference_match_pct": round(self.reference_match_pct, 2),
            "distance": self.distance,
            "reference_start_s": self.reference_start_s,
            "reference_end_s": self.reference_end_s,
            "query_start_s": self.query_start_s,
            "query_end_s": self.query_end_s,
        }


@dataclass(frozen=True, slots=True)
class _Reference:
    """A reference's indexed frames: distinct good hashes, each with its first and last time."""

    first_s: NDArray[np.float64]
    last_s: NDArray[np.float64]

    @property
    def count(self) -> int:
        return len(self.first_s)


class VideoMatcher:
    """Reference video signatures, searchable by query signatures.

    ``add``/``remove`` take effect at once (a withdrawn case stops matching). Not thread-safe
    for writes: callers serialise ``add``/``remove`` against ``match``, as for the indexes.
    ``index_factory`` builds the empty Hamming index that holds the frame hashes (by default
    ``rempart.index.new_index``: a multi-index hashing index that stays fast with millions of
    frames). Every index answers range searches exactly, so matches do not depend on it.
    """

    def __init__(
        self,
        *,
        query_threshold_pct: float = QUERY_THRESHOLD_PCT,
        reference_threshold_pct: float = REFERENCE_THRESHOLD_PCT,
        clips: bool = True,
        distance: int = MATCH_THRESHOLD,
        min_quality: int = QUALITY_FLOOR,
        index_factory: Callable[[], HammingIndex] = new_index,
    ) -> None:
        for name, value in (
            ("query_threshold_pct", query_threshold_pct),
            ("reference_threshold_pct", reference_threshold_pct),
        ):
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be over 0 and at most 100")
        self.query_threshold_pct = query_threshold_pct
        self.reference_threshold_pct = reference_threshold_pct
        self.clips = clips
        self.distance = distance
        self.min_quality = min_quality
        self._index = index_factory()
        self._references: dict[int, _Reference] = {}

    def __len__(self) -> int:
        """How many references were added (those with no good frame included)."""
        return len(self._references)

    def __contains__(self, ref_id: object) -> bool:
        return ref_id in self._references

    def add(self, ref_id: int, signature: VideoSignature) -> None:
        """Index a reference's good frames. ``ValueError`` for an id in use or out of range.

        A reference with no frame of quality >= ``min_quality`` is kept but can never match.
        """
        self.add_many([(ref_id, signature)])

    def add_many(self, references: Iterable[tuple[int, VideoSignature]]) -> None:
        """Index many references in one index write (loading a bank: one segment, not
        thousands). All or nothing: ``ValueError`` if any id is in use, repeated or out of
        range, and then nothing is added."""
        batch = list(references)
        ref_ids = [ref_id for ref_id, _ in batch]
        for ref_id in ref_ids:
            if not 0 <= ref_id <= MAX_REF_ID:
                raise ValueError(f"ref_id must be 0-{MAX_REF_ID}")
            if ref_id in self._references:
                raise ValueError(f"reference {ref_id} is already in the matcher")
        if len(set(ref_ids)) != len(ref_ids):
            raise ValueError("a reference id appears twice in one batch")
        ids: list[NDArray[np.int64]] = []
        hashes: list[NDArray[np.uint8]] = []
        added: dict[int, _Reference] = {}
        for ref_id, signature in batch:
            frames, first, last = _distinct_good_frames(signature, self.min_quality)
            ids.append(
                (np.int64(ref_id) << _POSITION_BITS) + np.arange(len(frames), dtype=np.int64)
            )
            hashes.append(frames)
            added[ref_id] = _Reference(first, last)
        if any(len(part) for part in ids):
            self._index.add(np.concatenate(ids), np.concatenate(hashes))
        self._references.update(added)

    def remove(self, ref_id: int) -> bool:
        """Forget a reference; returns whether it was there."""
        reference = self._references.pop(ref_id, None)
        if reference is None:
            return False
        if reference.count:
            ids = (np.int64(ref_id) << _POSITION_BITS) + np.arange(reference.count, dtype=np.int64)
            self._index.remove(ids)
        return True

    def match(self, signature: VideoSignature) -> list[VideoMatch]:
        """Every reference the query matches, by descending ``query_match_pct`` then ref id."""
        hashes, first, last = _distinct_good_frames(signature, self.min_quality)
        if not len(hashes) or not len(self._index):
            return []
        hits = self._index.range_search(hashes, self.distance)
        if not len(hits):
            return []
        ref_of_hit = hits.ids >> _POSITION_BITS
        query_count = len(hashes)
        # Distinct (reference, query frame) pairs and (reference, reference frame) pairs.
        query_pairs = np.unique(ref_of_hit * query_count + hits.query_no)
        refs, query_matched = np.unique(query_pairs // query_count, return_counts=True)
        # Every hit counts on both sides, so the same references come out, in the same order.
        _, ref_matched = np.unique(np.unique(hits.ids) >> _POSITION_BITS, return_counts=True)
        totals = np.fromiter(
            (self._references[int(ref)].count for ref in refs), dtype=np.int64, count=len(refs)
        )
        query_pct = query_matched * 100.0 / query_count
        reference_pct = ref_matched * 100.0 / totals
        query_ok = query_pct >= self.query_threshold_pct
        reference_ok = reference_pct >= self.reference_threshold_pct
        wanted = (query_ok | reference_ok) if self.clips else (query_ok & reference_ok)
        found: list[VideoMatch] = []
        for row in np.flatnonzero(wanted):
            ref = int(refs[row])
            mine = ref_of_hit == ref
            query_rows = hits.query_no[mine]
            positions = hits.ids[mine] & _POSITION_MASK
            reference = self._references[ref]
            best = np.full(query_count, 257, dtype=np.int64)
            np.minimum.at(best, query_rows, hits.distances[mine])
            found.append(
                VideoMatch(
                    ref_id=ref,
                    match_type="video" if query_ok[row] and reference_ok[row] else "clip",
                    query_match_pct=float(query_pct[row]),
                    reference_match_pct=float(reference_pct[row]),
                    distance=int(np.median(best[best <= 256])),
                    reference_start_s=float(reference.first_s[positions].min()),
                    reference_end_s=float(reference.last_s[positions].max()),
                    query_start_s=float(first[query_rows].min()),
                    query_end_s=float(last[query_rows].max()),
                )
            )
        found.sort(key=lambda match: (-match.query_match_pct, match.ref_id))
        return found


def _distinct_good_frames(
    signature: VideoSignature, min_quality: int
) -> tuple[NDArray[np.uint8], NDArray[np.float64], NDArray[np.float64]]:
    """Distinct hashes of quality >= ``min_quality``, with each one's first and last time."""
    good = signature.qualities() >= min_quality
    packed = signature.packed()[good]
    times = signature.timestamps()[good]
    if not len(packed):
        empty = np.zeros(0, dtype=np.float64)
        return np.zeros((0, packed.shape[1]), dtype=np.uint8), empty, empty
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first_rows, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first_rows, kind="stable")  # keep the distinct hashes in time order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    slot = rank[inverse.ravel()]
    first = np.full(len(order), np.inf)
    last = np.full(len(order), -np.inf)
    np.minimum.at(first, slot, times)
    np.maximum.at(last, slot, times)
    return np.ascontiguousarray(packed[first_rows[order]]), first, last
