"""Derivative matching: a query matches a reference when enough regions agree on one transform.

Four steps per query (docs/derivatives.md gives the measurements behind each number):

1. **Seeds.** Query regions of quality >= 50 are looked up in Hamming indexes of reference
   regions, each kind where it aims and as far as it must reach (:func:`seed_plan`): the fixed
   layout within 24 bits of every reference region, its mirror within 16 and the layout inside
   a frame within 28; anchor pairs within 28 of the references' anchor-pair regions, face
   regions within 32 of their face regions, and each tile of the zoom ladders within 28 (the
   centre tile's finer ladder: 24) of the one reference tile it aims at (smaller indexes of
   their own, :data:`TARGETS`). A reference hit once is a candidate.
2. **Pairs.** All query regions are compared with all the candidate's regions; pairs within
   :data:`PAIR_RADIUS` bits count.
3. **Geometric agreement.** Every (query box, reference box) pair predicts a per-axis scale and
   translation (tools squash images to a square, so x and y scale independently); the
   prediction that most distinct reference regions agree with, within :data:`BOX_TOLERANCE` of
   their box size, wins. Mirrored query regions agree only among themselves.
4. **Verification where a first match predicts** (only when the query's pixels are at hand, a
   :class:`~rempart.signals.regions.QueryImage`): for the :data:`MAX_VERIFIED` strongest
   candidates, every other region of the reference is mapped through that transform into the
   query, hashed there and compared with the reference region, within :data:`VERIFY_RADIUS`
   bits.

A reference then matches in tier ``remove`` with at least :data:`REMOVE_REGIONS` agreeing
regions, ``review`` with :data:`REVIEW_REGIONS`. A single region is never evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from rempart.errors import InvalidSignal
from rempart.index import HammingIndex, near_pairs, new_index
from rempart.signals import QUALITY_FLOOR
from rempart.signals.regions import (
    FACE_REGIONS,
    MAX_REFERENCE_REGIONS,
    WHOLE,
    ZOOM_TARGETS,
    Box,
    QueryImage,
    QueryProbes,
    RegionalSignature,
    layout_box,
    zoom_target,
)

Tier = Literal["remove", "review"]

# Seed lookups per kind of query region: (index, radius) pairs, the index being "all" regions or
# the name of a target. Measured against 100 k references (4.4 M regions, one core): an index
# lookup costs about 13 / 26 / 26 / 72 us at 16 / 20 / 23 / 26 bits, 15 us at 28 bits in an
# index of one region per reference. Each radius is the smallest that kept the recall of the
# all-at-28 plan on the variants it serves (docs/derivatives.md): the layout needs 24 for
# squared crops, frames and anchor pairs 28 (a frame found a few pixels off, off-centre crops).
# The centre tile's zoom ladder steps by 2%, so its lookups need only 24 bits.
# Faces reach 32: where a fake keeps only the face (regen_face_kept), its two face regions lay
# 29-32 bits from the reference's in 4 of 99 photos (the blended mask edge, the box found a few
# pixels off), and 28 missed them; the face index is small, so this costs little.
# The ladder of the 4x4 grid's centre tiles is not looked up: it adds agreeing regions once a
# seed found the reference.
SEED_LOOKUPS: dict[str, tuple[tuple[str, int], ...]] = {
    "layout": (("all", 24),),
    "mirror": (("all", 16),),
    "border": (("all", 28),),
    "pair": (("pair", 28),),
    "face": (("face", 32),),
    **{f"zoom-{name}": ((name, 24 if name == "centre" else 28),) for name in ZOOM_TARGETS},
    # A region of a signature posted without pixels, its kind unknown (zoom ladder boxes are
    # recognised by their geometry and looked up as such).
    "posted": (("all", 24),),
}
# Only the first anchor pairs of a query (pairs of its strongest anchors first) are looked up.
MAX_SEED_PAIRS = 48
# Reference regions that some query regions aim at, each kind in an index of its own besides
# the index of all regions: the zoom targets (one tile per reference each), face regions and
# anchor-pair regions (a quarter of a reference's regions: the lookups that cost most, at 28
# bits, search an index a quarter the size).
TARGETS = (*ZOOM_TARGETS, "face", "pair")
_ALL = "all"
# Two face regions of one face are the same box grown about its centre by growths whose ratio
# is one of these (clipped to the image alike); boxes compared to within 3 units of 1/10000.
_FACE_RATIOS = tuple(big / small for small in FACE_REGIONS for big in FACE_REGIONS if big > small)
_FACE_BOX_TOLERANCE = 3e-4
_TARGET_OF_BOX = {box: name for name, box in ZOOM_TARGETS.items()}
# Per index, the radius most of its lookups use (the layout's 24 for the index of all regions):
# its tables are planned for that radius (MihIndex's ``radius``).
PLANNED_RADIUS = {
    name: Counter(
        radius for lookups in SEED_LOOKUPS.values() for index, radius in lookups if index == name
    ).most_common(1)[0][0]
    for name in (_ALL, *TARGETS)
}
# The largest radius of any lookup: what the false-match model's seed term rests on.
SEED_RADIUS = max(radius for lookups in SEED_LOOKUPS.values() for _, radius in lookups)
PAIR_RADIUS = 40
VERIFY_RADIUS = 40
BOX_TOLERANCE = 0.1
REMOVE_REGIONS = 3
REVIEW_REGIONS = 2
MAX_VERIFIED = 4
# A transform that shrinks or stretches an axis more than this, or changes the aspect ratio more
# than MAX_ASPECT_CHANGE, is not an edit a derivative goes through.
SCALE_RANGE = (0.25, 4.0)
MAX_ASPECT_CHANGE = 2.5
# Reference ids and region slots share one int64 id in the index.
_SLOT_BITS = 6
_MAX_REF_ID = (1 << (63 - _SLOT_BITS)) - 1

Transform = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class DerivativeMatch:
    """A reference that a query derives from.

    ``regions_agreeing`` counts distinct reference regions that matched and agree on one
    transform; ``score`` sums their weights (1 for a region whose query region hit only this
    reference, 1/n when it hit n references); ``distance`` is the smallest Hamming distance
    among them; ``transform`` maps reference to query coordinates, ``(sx, tx, sy, ty)`` with
    ``x_query = sx * x_ref + tx`` (in the mirror image of the query when ``mirrored``).
    """

    ref_id: int
    tier: Tier
    regions_agreeing: int
    score: float
    distance: int
    transform: Transform
    mirrored: bool = False


@dataclass(frozen=True, slots=True)
class _Reference:
    """One reference's regions: boxes (n, 4), hashes as 4 ``uint64`` words each, usable mask."""

    boxes: NDArray[np.float64]
    words: NDArray[np.uint64]
    usable: NDArray[np.bool_]


class RegionMatcher:
    """Reference signatures in a Hamming index; ``match`` finds the references a query derives from.

    Not thread-safe for writes: the caller serialises ``add``/``remove`` against ``match``.
    """

    def __init__(self, expected_regions: int | None = None) -> None:
        """One index holds every usable reference region, and one more per name of
        :data:`TARGETS` the regions that are such targets (at most one a reference for a zoom
        target, nine for faces), each planned for the radius its lookups mostly use
        (:data:`PLANNED_RADIUS`). ``expected_regions``: how many regions the caller will add at
        most, when it knows (a small set gets the simpler brute-force indexes, see
        :func:`~rempart.index.new_index`)."""
        self._indexes: dict[str, HammingIndex] = {
            name: new_index(expected_regions, radius=PLANNED_RADIUS[name])
            for name in (_ALL, *TARGETS)
        }
        self._references: dict[int, _Reference] = {}

    def __len__(self) -> int:
        return len(self._references)

    @property
    def indexes(self) -> Mapping[str, HammingIndex]:
        """The indexes by name (``"all"`` and :data:`TARGETS`), to measure them; read only:
        writes go through :meth:`add_many` and :meth:`remove`."""
        return MappingProxyType(self._indexes)

    def add(self, ref_id: int, signature: RegionalSignature) -> None:
        """Index a reference signature. Raises ``ValueError`` for a known or out-of-range id,
        ``InvalidSignal`` for a signature over :data:`MAX_REFERENCE_REGIONS` regions."""
        self.add_many([(ref_id, signature)])

    def add_many(self, items: Iterable[tuple[int, RegionalSignature]]) -> None:
        """Index many references in one index write (how a service rebuilds at start).

        Same errors as :meth:`add`; nothing is added when any item is refused.
        """
        staged: dict[int, _Reference] = {}
        ids: dict[str, list[NDArray[np.int64]]] = {name: [] for name in self._indexes}
        hashes: dict[str, list[NDArray[np.uint8]]] = {name: [] for name in self._indexes}
        for ref_id, signature in items:
            if not 0 <= ref_id <= _MAX_REF_ID:
                raise ValueError(f"reference ids are 0-{_MAX_REF_ID}")
            if ref_id in self._references or ref_id in staged:
                raise ValueError(f"reference {ref_id} is already in the matcher")
            if len(signature) > MAX_REFERENCE_REGIONS:
                raise InvalidSignal(
                    f"a reference signature has at most {MAX_REFERENCE_REGIONS} regions"
                )
            reference, packed = _stored(signature)
            staged[ref_id] = reference
            usable = np.flatnonzero(reference.usable)
            targets = reference_targets(signature)
            for name in self._indexes:
                slots = usable if name == _ALL else usable[[targets[s] == name for s in usable]]
                if len(slots):
                    ids[name].append((np.int64(ref_id) << _SLOT_BITS) + slots.astype(np.int64))
                    hashes[name].append(packed[slots])
        for name, index in self._indexes.items():
            if ids[name]:
                index.add(np.concatenate(ids[name]), np.concatenate(hashes[name]))
        self._references.update(staged)

    def remove(self, ref_id: int) -> bool:
        """Forget a reference; False when it was not there."""
        reference = self._references.pop(ref_id, None)
        if reference is None:
            return False
        slots = np.arange(len(reference.boxes), dtype=np.int64)
        for index in self._indexes.values():
            index.remove((np.int64(ref_id) << _SLOT_BITS) + slots)
        return True

    def match(self, query: RegionalSignature | QueryImage) -> list[DerivativeMatch]:
        """The references ``query`` derives from, strongest first.

        ``query`` is either a signature as received (its regions are used as they are) or a
        :class:`QueryImage` computed from pixels, which also allows verification by re-hashing.
        """
        if isinstance(query, QueryImage):
            arrays = query.arrays
            image: QueryImage | None = query
        else:
            arrays = _posted_probes(query)
            image = None
        usable = np.flatnonzero(arrays.quality >= QUALITY_FLOOR)
        if not len(usable) or not self._references:
            return []
        packed = np.ascontiguousarray(arrays.bits[usable])
        kinds = [arrays.kinds[number] for number in usable.tolist()]
        seed_probes, seed_ids = self._seeds(kinds, packed)
        if not len(seed_ids):
            return []
        seed_refs, seed_rank = np.unique(seed_ids >> _SLOT_BITS, return_inverse=True)
        weights = 1.0 / _references_per_probe(seed_probes, seed_rank, len(seed_refs), len(usable))
        query_boxes = arrays.boxes[usable]
        mirrored = arrays.mirrored[usable]
        candidates: list[tuple[int, _Agreement]] = []
        for ref_id in seed_refs.tolist():
            reference = self._references[ref_id]
            probe, slot, distances = near_pairs(packed, reference.words.view(np.uint8), PAIR_RADIUS)
            usable_slot = reference.usable[slot]
            probe, slot, distances = probe[usable_slot], slot[usable_slot], distances[usable_slot]
            agreement = _agree(
                query_boxes[probe],
                mirrored[probe],
                reference.boxes[slot],
                slot,
                distances,
                weights[probe],
            )
            if agreement is not None:
                candidates.append((ref_id, agreement))
        candidates.sort(key=lambda item: (-item[1].score, item[1].distance, item[0]))
        if image is not None:
            candidates = [
                (ref_id, _verify(image, self._references[ref_id], agreement))
                if rank < MAX_VERIFIED
                else (ref_id, agreement)
                for rank, (ref_id, agreement) in enumerate(candidates)
            ]
        found = [
            DerivativeMatch(
                ref_id=ref_id,
                tier="remove" if agreement.count >= REMOVE_REGIONS else "review",
                regions_agreeing=agreement.count,
                score=round(agreement.score, 3),
                distance=agreement.distance,
                transform=agreement.transform,
                mirrored=agreement.mirrored,
            )
            for ref_id, agreement in candidates
            if agreement.count >= REVIEW_REGIONS
        ]
        found.sort(key=lambda m: (-m.score, m.distance, m.ref_id))
        return found

    def _seeds(
        self, kinds: Sequence[str], packed: NDArray[np.uint8]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(probe number, index id) of every seed hit, one index search per lookup."""
        numbers: list[NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)]
        ids: list[NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)]
        for (name, radius), members in seed_plan(kinds).items():
            rows = np.asarray(members, dtype=np.int64)
            hits = self._indexes[name].range_search(packed[rows], radius)
            numbers.append(rows[hits.query_no])
            ids.append(hits.ids)
        return np.concatenate(numbers), np.concatenate(ids)


def seed_plan(kinds: Sequence[str]) -> dict[tuple[str, int], list[int]]:
    """Which probes (by position; ``kinds`` gives each one's kind) are looked up in which index
    (``"all"`` or a name of :data:`TARGETS`) within which radius, as :data:`SEED_LOOKUPS` says."""
    positions: dict[str, list[int]] = {}
    for number, kind in enumerate(kinds):
        positions.setdefault(kind, []).append(number)
    if "pair" in positions:
        positions["pair"] = positions["pair"][:MAX_SEED_PAIRS]
    plan: dict[tuple[str, int], list[int]] = {}
    for kind, members in positions.items():
        for lookup in SEED_LOOKUPS.get(kind, ()):
            plan.setdefault(lookup, []).extend(members)
    return {lookup: sorted(members) for lookup, members in plan.items()}


def _posted_probes(signature: RegionalSignature) -> QueryProbes:
    """A signature posted without pixels as probes, each region's kind read off its box."""
    regions = signature.regions
    return QueryProbes(
        np.frombuffer(b"".join(r.hash.bits for r in regions), dtype=np.uint8).reshape(-1, 32),
        np.array([r.hash.quality for r in regions], dtype=np.int64),
        np.array([r.box for r in regions], dtype=np.float64).reshape(-1, 4),
        np.zeros(len(regions), dtype=bool),
        tuple(_posted_kind(r.box) for r in regions),
    )


def _posted_kind(box: Box) -> str:
    """The kind a region of a posted signature is looked up as: a zoom ladder's, by its box."""
    target = zoom_target(box)
    return "posted" if target is None else f"zoom-{target}"


def reference_targets(signature: RegionalSignature) -> list[str | None]:
    """Per region of a reference signature, the name of :data:`TARGETS` it is indexed under
    besides the index of all regions, or None.

    Zoom targets are known by their box. Face regions by their geometry: the face, inner-face
    and head regions of one face are one box grown about its centre by 1.2, 1 and 2.2 (clipped
    to the image alike), so two regions one of which is the other grown by a ratio of those
    growths, within 3 units of 1/10000 on every edge, are face regions (the whole image never
    is one: a large box grown and clipped becomes it). Anchor-pair regions are the rest: boxes
    that are not of the fixed layout (:func:`~rempart.signals.regions.layout_box`), and the
    whole image: in a screenshot or a framed copy whose frame was not found, anchors on the
    photo's corners span it.
    """
    boxes = np.array([region.box for region in signature.regions], dtype=np.float64)
    found: list[str | None] = [_TARGET_OF_BOX.get(region.box) for region in signature.regions]
    face = _face_regions(boxes.reshape(-1, 4))
    for number, region in enumerate(signature.regions):
        if found[number] is None and face[number]:
            found[number] = "face"
        elif found[number] is None and (region.box == WHOLE or not layout_box(region.box)):
            found[number] = "pair"
    return found


def _face_regions(boxes: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which of a reference's boxes are face regions, by their geometry (see
    :func:`reference_targets`)."""
    face = np.zeros(len(boxes), dtype=bool)
    if len(boxes) < 2:
        return face
    whole = np.all(boxes == WHOLE, axis=1)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2
    for ratio in _FACE_RATIOS:
        grown = np.clip(
            np.concatenate([centre - ratio * half, centre + ratio * half], axis=1), 0, 1
        )
        close = np.all(np.abs(grown[:, None, :] - boxes[None, :, :]) <= _FACE_BOX_TOLERANCE, axis=2)
        close &= ~whole[:, None] & ~whole[None, :]
        face |= close.any(axis=0) | close.any(axis=1)
    return face


def _stored(signature: RegionalSignature) -> tuple[_Reference, NDArray[np.uint8]]:
    """A signature as the matcher keeps it, and its hashes as (n, 32) bytes."""
    boxes = np.array([region.box for region in signature.regions], dtype=np.float64)
    packed = np.array([region.hash.packed() for region in signature.regions], dtype=np.uint8)
    packed = np.ascontiguousarray(packed.reshape(-1, 32))
    usable = np.array(
        [region.hash.quality >= QUALITY_FLOOR for region in signature.regions], dtype=bool
    )
    return _Reference(boxes.reshape(-1, 4), packed.view(np.uint64), usable), packed


@dataclass(frozen=True, slots=True)
class _Agreement:
    """The best transform for one reference and the regions that agree with it."""

    transform: Transform
    mirrored: bool
    weights: dict[int, float]  # reference slot -> weight
    distances: dict[int, int]  # reference slot -> best distance

    @property
    def count(self) -> int:
        return len(self.weights)

    @property
    def score(self) -> float:
        return float(sum(self.weights.values()))

    @property
    def distance(self) -> int:
        return min(self.distances.values())


def _references_per_probe(
    probe: NDArray[np.int64], rank: NDArray[np.int64], refs: int, count: int
) -> NDArray[np.float64]:
    """How many distinct references each of ``count`` query regions hit (at least 1), from its
    hits' references numbered 0 to ``refs`` - 1 (``rank``)."""
    pairs = np.unique(probe * refs + rank)
    return np.maximum(np.bincount(pairs // refs, minlength=count), 1).astype(np.float64)


def transforms_of(query_boxes: NDArray[np.float64], ref_boxes: NDArray[np.float64]) -> NDArray:
    """Per pair, the ``(sx, tx, sy, ty)`` mapping the reference box onto the query box."""
    sx = (query_boxes[:, 2] - query_boxes[:, 0]) / (ref_boxes[:, 2] - ref_boxes[:, 0])
    sy = (query_boxes[:, 3] - query_boxes[:, 1]) / (ref_boxes[:, 3] - ref_boxes[:, 1])
    tx = query_boxes[:, 0] - sx * ref_boxes[:, 0]
    ty = query_boxes[:, 1] - sy * ref_boxes[:, 1]
    return np.stack([sx, tx, sy, ty], axis=1)


def apply(transform: Transform | NDArray, boxes: NDArray[np.float64]) -> NDArray[np.float64]:
    """Reference boxes (n, 4) mapped into query coordinates."""
    sx, tx, sy, ty = transform
    return np.stack(
        [
            sx * boxes[:, 0] + tx,
            sy * boxes[:, 1] + ty,
            sx * boxes[:, 2] + tx,
            sy * boxes[:, 3] + ty,
        ],
        axis=1,
    )


def agreeing(
    transform: Transform | NDArray, query_boxes: NDArray[np.float64], ref_boxes: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Which pairs the transform maps within :data:`BOX_TOLERANCE` of their query box's size."""
    predicted = apply(transform, ref_boxes)
    width = query_boxes[:, 2] - query_boxes[:, 0]
    height = query_boxes[:, 3] - query_boxes[:, 1]
    error_x = np.maximum(
        np.abs(predicted[:, 0] - query_boxes[:, 0]), np.abs(predicted[:, 2] - query_boxes[:, 2])
    )
    error_y = np.maximum(
        np.abs(predicted[:, 1] - query_boxes[:, 1]), np.abs(predicted[:, 3] - query_boxes[:, 3])
    )
    return (error_x <= BOX_TOLERANCE * width) & (error_y <= BOX_TOLERANCE * height)


def plausible(transforms: NDArray) -> NDArray[np.bool_]:
    """Transforms a derivative can go through (scale per axis, aspect change within bounds)."""
    sx, sy = transforms[:, 0], transforms[:, 2]
    low, high = SCALE_RANGE
    ratio = sx / sy
    return (
        (sx >= low)
        & (sx <= high)
        & (sy >= low)
        & (sy <= high)
        & (ratio <= MAX_ASPECT_CHANGE)
        & (ratio >= 1 / MAX_ASPECT_CHANGE)
    )


def fit(query_boxes: NDArray[np.float64], ref_boxes: NDArray[np.float64]) -> Transform:
    """Least-squares per-axis scale and translation mapping reference boxes onto query boxes."""
    # Columns x and y, each box giving its low and high edge; x1 > x0 in every box, so the
    # reference edges always vary and the closed form needs no guard.
    ref = np.concatenate([ref_boxes[:, :2], ref_boxes[:, 2:]])
    qry = np.concatenate([query_boxes[:, :2], query_boxes[:, 2:]])
    ref_mean, qry_mean = ref.mean(axis=0), qry.mean(axis=0)
    centred = ref - ref_mean
    scale = (centred * (qry - qry_mean)).sum(axis=0) / (centred * centred).sum(axis=0)
    shift = qry_mean - scale * ref_mean
    return (float(scale[0]), float(shift[0]), float(scale[1]), float(shift[1]))


def _agree(
    query_boxes: NDArray[np.float64],
    mirrored: NDArray[np.bool_],
    ref_boxes: NDArray[np.float64],
    slots: NDArray[np.int64],
    distances: NDArray[np.int32],
    weights: NDArray[np.float64],
) -> _Agreement | None:
    """The transform most distinct reference regions agree on (RANSAC over every pair).

    Every plausible pair is tried as the seed at once: each seed's transform maps all reference
    boxes (k seeds x n pairs), and the seed whose agreeing pairs weigh most (per distinct
    reference region, its heaviest pair), then count most distinct regions, then lie closest
    in Hamming distance, then comes first, wins.
    """
    candidates = transforms_of(query_boxes, ref_boxes)
    seeds = np.flatnonzero(plausible(candidates))
    if not len(seeds):
        return None
    sx, tx, sy, ty = (candidates[seeds, column][:, None] for column in range(4))
    error_x = np.maximum(
        np.abs(sx * ref_boxes[:, 0] + tx - query_boxes[:, 0]),
        np.abs(sx * ref_boxes[:, 2] + tx - query_boxes[:, 2]),
    )
    error_y = np.maximum(
        np.abs(sy * ref_boxes[:, 1] + ty - query_boxes[:, 1]),
        np.abs(sy * ref_boxes[:, 3] + ty - query_boxes[:, 3]),
    )
    members = (
        (error_x <= BOX_TOLERANCE * (query_boxes[:, 2] - query_boxes[:, 0]))
        & (error_y <= BOX_TOLERANCE * (query_boxes[:, 3] - query_boxes[:, 1]))
        & (mirrored[None, :] == mirrored[seeds][:, None])
    )
    members[np.arange(len(seeds)), seeds] = True
    order = np.argsort(slots, kind="stable")
    ordered = slots[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    per_slot = np.maximum.reduceat(np.where(members, weights, 0.0)[:, order], starts, axis=1)
    score = np.round(per_slot.sum(axis=1), 9)
    count = (per_slot > 0).sum(axis=1)
    total = np.where(members, distances, 0).sum(axis=1)
    members = members[np.lexsort((np.arange(len(seeds)), total, -count, -score))[0]]
    transform = fit(query_boxes[members], ref_boxes[members])
    best_distance: dict[int, int] = {}
    for slot, distance in zip(slots[members].tolist(), distances[members].tolist(), strict=True):
        best_distance[slot] = min(best_distance.get(slot, 256), distance)
    return _Agreement(
        transform,
        bool(mirrored[members][0]),
        _slot_weights(slots[members], weights[members]),
        best_distance,
    )


def _slot_weights(slots: NDArray[np.int64], weights: NDArray[np.float64]) -> dict[int, float]:
    found: dict[int, float] = {}
    for slot, weight in zip(slots.tolist(), weights.tolist(), strict=True):
        found[slot] = max(found.get(slot, 0.0), weight)
    return found


def _verify(image: QueryImage, reference: _Reference, agreement: _Agreement) -> _Agreement:
    """Hash the query where the transform puts each reference region; keep those that agree."""
    weights = dict(agreement.weights)
    distances = dict(agreement.distances)
    predicted = apply(agreement.transform, reference.boxes)
    todo = _hashable(predicted) & reference.usable
    todo[list(weights)] = False
    slots = np.flatnonzero(todo)
    if not len(slots):
        return agreement
    boxes = [(x0, y0, x1, y1) for x0, y0, x1, y1 in np.clip(predicted[slots], 0.0, 1.0).tolist()]
    values = image.hash_boxes(boxes, agreement.mirrored)
    found = np.stack([value.packed() for value in values]).view(np.uint64)
    distance = np.bitwise_count(found ^ reference.words[slots]).sum(axis=1)
    quality = np.array([value.quality for value in values])
    agree = (quality >= QUALITY_FLOOR) & (distance <= VERIFY_RADIUS)
    for slot, value in zip(slots[agree].tolist(), distance[agree].tolist(), strict=True):
        weights[slot] = 1.0
        distances[slot] = value
    return _Agreement(agreement.transform, agreement.mirrored, weights, distances)


def _hashable(boxes: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which predicted boxes lie inside the image, up to a 1% overshoot (clipped when hashed),
    at least 2% wide and high."""
    x0, y0, x1, y1 = boxes.T
    return (
        (x0 >= -0.01)
        & (y0 >= -0.01)
        & (x1 <= 1.01)
        & (y1 <= 1.01)
        & (x1 - x0 >= 0.02)
        & (y1 - y0 >= 0.02)
    )
