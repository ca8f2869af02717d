"""Regional signatures: PDQ hashes of regions of an image, each with its box.

A "nudified" fake keeps the face, hair and background of a photo and regenerates the body;
whole-image PDQ drifts far past its threshold, but the regions that were kept still hash alike.
A regional signature is a small set of PDQ hashes of regions (the whole image, multi-scale grid
tiles, the centred square that tools crop to, detected faces grown by a margin, and boxes spanned
by pairs of corner anchors, which any crop moves with the image), each with its box in
normalised 0-1 coordinates ``[x0, y0, x1, y1]`` of the image (origin top left).
``rempart.matching.regions`` decides a match when enough regions agree on one transform.

Every region is cut from a working copy of the image (longest side :data:`WORKING_SIDE`, area
interpolation), resampled to 64x64 with area interpolation (PDQ's own down-sampling aliases on
small tiles) and hashed with PDQ; regions whose PDQ quality is under
:data:`~rempart.signals.pdq.QUALITY_FLOOR` are flat (sky, walls, frames) and are dropped. Only
OpenCV operations that a browser can reproduce are used (``resize`` with ``INTER_AREA``,
``GaussianBlur``, ``goodFeaturesToTrack`` and the bundled Haar cascade from OpenCV.js;
``cornerSubPix``, which OpenCV.js lacks, is ported in ``rempart/web/static/subpix.js``) so that a
browser computes the same regions; docs/derivatives.md gives the rules.

A **reference** signature (what a victim's device sends) has at most
:data:`MAX_REFERENCE_REGIONS` regions, 1974 bytes in the binary form of
:meth:`RegionalSignature.to_bytes`. A **query** (an upload being checked) hashes many more
regions: the same layout, its mirror, the layout inside a detected frame, jittered face boxes, a
ladder of centred zooms and more anchor pairs; :class:`QueryImage` also keeps the working pixels
so that the matcher can hash more boxes where a first match predicts them. Region hashes reveal
the coarse layout of their region (docs/privacy-regions.md): treat them like whole-image hashes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from rempart.errors import InvalidSignal
from rempart.signals import _tiles
from rempart.signals._faces import detect_faces, detect_query_faces
from rempart.signals.pdq import (
    DCT_MATRIX,
    QUALITY_FLOOR,
    PdqHash,
    bits_of,
    pdq_hash,
    quality_of,
)

Box = tuple[float, float, float, float]
# The whole image, as a normalised box.
WHOLE: Box = (0.0, 0.0, 1.0, 1.0)

# Anchors are refined by cornerSubPix with a 5-pixel half window, which needs an image of at
# least 2 * 5 + 5 pixels each way; smaller images get no anchor pairs.
SUBPIX_WINDOW = 5
MIN_ANCHOR_SIDE = 2 * SUBPIX_WINDOW + 5
WORKING_SIDE = 512
REGION_SIDE = 64
MAX_REFERENCE_REGIONS = 48
MAX_QUERY_REGIONS = 1024
# Boxes are kept to 4 decimals (1/10000 of a side): the JSON and binary forms round-trip exactly.
BOX_SCALE = 10_000

# A face region is the cascade's box grown to 1.2 times its side (forehead to chin; the
# regen_face_kept threat keeps exactly this much); the inner face is the box itself (a second,
# independent-enough region inside what such a fake keeps: a single region is never evidence);
# a head region, 2.2 times, adds hair, neck and the background around the head.
FACE_GROWTH = 1.2
INNER_FACE_GROWTH = 1.0
HEAD_GROWTH = 2.2
FACE_REGIONS = (FACE_GROWTH, INNER_FACE_GROWTH, HEAD_GROWTH)
MAX_REFERENCE_FACES = 3
MAX_QUERY_FACES = 4
# Query-side jitter of face boxes: the cascade's box moves by a few percent between an image and
# its derivative, and PDQ of a region moves by about 25 bits per 1% shift.
FACE_JITTER = 0.02
FACE_ZOOMS = (0.96, 1.04)
# Centred zooms tried by the query (crops that keep the centre), up to 2x. The 3x3 grid's centre
# tile, a seed, steps by 2%: every crop lies within 1% of a step, and its hash then lies within
# 20 bits of the reference's in 9 of 10 photos (median 11; at 2% off, as steps of 4% allow:
# median 20, p90 28-30; 50 shared photos, 25% and 10% crops), so its lookups reach 24 bits
# (steps of 4% at 28 bits missed 4 of 450 crop25 photos that these find, at the same cost).
# The 4x4 grid's centre tiles, only verified, step by 4%. The two middle tiles of the upper
# band, further from the centre (they move more per step), step by 1.5% up to 1.6x.
CENTRE_ZOOM_STEP = 1.02
ZOOM_STEP = 1.04
MAX_ZOOM = 2.05
# The centre tile's ladder also zooms out, to 0.7 (a photo padded or shrunk inside a frame, a
# screenshot, when the frame is not found: its edge blends with the photo's).
MIN_ZOOM = 0.7
BAND_ZOOM_STEP = 1.015
BAND_MAX_ZOOM = 1.6
# Anchor pairs: corners (Shi-Tomasi on a copy blurred by 0.6% of the short side, at least 6% of
# the short side apart, refined to sub-pixel) found again whatever the crop; the box spanned by two
# of them moves exactly as the image does under any crop, scale or squash. A pair box must span
# at least 15% of the image each way, with sides within 3:1.
REFERENCE_ANCHORS = 10
QUERY_ANCHORS = 24
MAX_REFERENCE_PAIRS = 12
# A reference prefers anchors at least this far from every edge: crops take the edges away.
ANCHOR_EDGE_MARGIN = 0.12
ANCHOR_BLUR = 0.006
ANCHOR_SPACING = 0.06
ANCHOR_QUALITY = 0.02
PAIR_MIN_SIDE = 0.15
PAIR_MAX_ASPECT = 3.0
# A square view is worth storing only when the image is not square already.
SQUARE_MIN_ASPECT = 1.05
# Uniform borders (padding, screenshots, frames): a line belongs to the border while 95% of its
# pixels lie within this many grey levels of the outermost line's median.
BORDER_TOLERANCE = 12
MAX_BORDER = 0.25
# A region with more than this share of its area on a uniform border is not hashed (both sides).
MAX_BORDER_SHARE = 0.1
EDGE_SHARE = 0.5

# PDQ's luma weights (Rec. 601), as the C++ reference takes them.
_LUMA = np.array([[0.299, 0.587, 0.114]], dtype=np.float32)

_FORMAT = b"RGN"
_VERSION = 1
_HEADER = struct.Struct("<3sBH")
_REGION = struct.Struct("<32sB4H")


@dataclass(frozen=True, slots=True)
class Region:
    """One region: the PDQ hash (with quality) of a box of the image."""

    hash: PdqHash
    box: Box

    def __post_init__(self) -> None:
        check_box(self.box)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.hash.hex, "quality": self.hash.quality, "box": list(self.box)}

    @classmethod
    def from_json(cls, obj: Any) -> Region:
        """Parse ``{"value": "<64 hex>", "quality": 0-100, "box": [x0, y0, x1, y1]}``."""
        if not isinstance(obj, dict):
            raise InvalidSignal("a region is an object with 'value', 'quality' and 'box'")
        if "quality" not in obj:
            raise InvalidSignal("a region needs its PDQ quality (0-100)")
        box = obj.get("box")
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise InvalidSignal("a region box is [x0, y0, x1, y1] in 0-1 coordinates")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
            raise InvalidSignal("region box coordinates are numbers between 0 and 1")
        value = obj.get("value")
        if not isinstance(value, str):
            raise InvalidSignal("a region value is a PDQ hash: 64 hexadecimal digits")
        return cls(PdqHash.from_hex(value, obj["quality"]), quantise_box(box))


@dataclass(frozen=True, slots=True)
class RegionalSignature:
    """The regions of one image; the wire form is a public contract (docs/derivatives.md).

    ``{"type": "regions", "regions": [{"value": "<64 hex>", "quality": 0-100,
    "box": [x0, y0, x1, y1]}, ...]}``
    """

    TYPE: ClassVar[str] = "regions"

    regions: tuple[Region, ...]

    def __len__(self) -> int:
        return len(self.regions)

    @classmethod
    def from_json(cls, obj: Any, max_regions: int = MAX_QUERY_REGIONS) -> RegionalSignature:
        """Parse the wire form; raises ``InvalidSignal`` (bad hex, quality, box, too many)."""
        if not isinstance(obj, dict) or obj.get("type", cls.TYPE) != cls.TYPE:
            raise InvalidSignal('a regional signature is {"type": "regions", "regions": [...]}')
        regions = obj.get("regions")
        if not isinstance(regions, list):
            raise InvalidSignal("a regional signature has a list of 'regions'")
        if len(regions) > max_regions:
            raise InvalidSignal(f"{len(regions)} regions is over the limit of {max_regions}")
        return cls(tuple(Region.from_json(region) for region in regions))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "regions": [region.to_json() for region in self.regions]}

    def to_bytes(self) -> bytes:
        """Compact storage form: ``RGN``, version 1, count (u16), then 41 bytes per region.

        Each region is its 32 hash bytes, its quality (u8) and its box as four u16 in units of
        1/10000 (little endian). 48 regions take 1974 bytes.
        """
        parts = [_HEADER.pack(_FORMAT, _VERSION, len(self.regions))]
        for region in self.regions:
            box = (round(v * BOX_SCALE) for v in region.box)
            parts.append(_REGION.pack(region.hash.bits, region.hash.quality, *box))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, max_regions: int = MAX_QUERY_REGIONS) -> RegionalSignature:
        """Read :meth:`to_bytes` back; raises ``InvalidSignal`` on anything malformed."""
        if len(data) < _HEADER.size:
            raise InvalidSignal("a binary regional signature starts with a 6-byte header")
        magic, version, count = _HEADER.unpack_from(data)
        if magic != _FORMAT or version != _VERSION:
            raise InvalidSignal("not a version-1 binary regional signature")
        if count > max_regions:
            raise InvalidSignal(f"{count} regions is over the limit of {max_regions}")
        if len(data) != _HEADER.size + count * _REGION.size:
            raise InvalidSignal("binary regional signature length does not match its count")
        regions = []
        for number in range(count):
            bits, quality, *box = _REGION.unpack_from(data, _HEADER.size + number * _REGION.size)
            regions.append(Region(PdqHash(bits, quality), quantise_box(v / BOX_SCALE for v in box)))
        return cls(tuple(regions))


@dataclass(frozen=True, slots=True)
class QueryRegion:
    """A region of a query; ``mirrored`` when it was hashed on the left-right mirror image.

    A mirrored region's box is in the mirror image's coordinates, so that all the mirrored
    regions of a query agree on one transform with the reference, as the plain ones do.
    ``kind`` says why it was hashed, and so how the matcher looks it up: ``layout`` (the
    reference's fixed layout), ``mirror``, ``border`` (inside a frame), ``face``,
    ``zoom-centre``, ``zoom-band-left``, ``zoom-band-right`` (centred-crop ladders aimed at a
    tile of :data:`ZOOM_TARGETS`), ``zoom-4x4`` (the ladder of the 4x4 grid's centre tiles) or
    ``pair`` (two anchors).
    """

    region: Region
    mirrored: bool = False
    kind: str = "layout"


@dataclass(frozen=True, slots=True)
class QueryProbes:
    """A query's regions as arrays, in one order: what the matcher reads (no object per region).

    ``bits`` (n, 32) ``uint8`` hashes in the order of their hex form, ``quality`` (n,),
    ``boxes`` (n, 4) quantised like :func:`quantise_box` (a mirrored region's in the mirror
    image), ``mirrored`` (n,) and ``kinds`` (see :class:`QueryRegion`).
    """

    bits: NDArray[np.uint8]
    quality: NDArray[np.int64]
    boxes: NDArray[np.float64]
    mirrored: NDArray[np.bool_]
    kinds: tuple[str, ...]

    @classmethod
    def join(cls, parts: Sequence[QueryProbes]) -> QueryProbes:
        return cls(
            np.concatenate([part.bits for part in parts]).reshape(-1, 32),
            np.concatenate([part.quality for part in parts]).astype(np.int64),
            np.concatenate([part.boxes for part in parts]).reshape(-1, 4),
            np.concatenate([part.mirrored for part in parts]).astype(bool),
            tuple(kind for part in parts for kind in part.kinds),
        )

    def regions(self) -> list[QueryRegion]:
        """The same regions as objects (a signature's wire form, tests, the evaluation); the
        boxes are quantised already."""
        return [
            QueryRegion(Region(PdqHash(bits, quality), (x0, y0, x1, y1)), flip, kind)
            for bits, quality, (x0, y0, x1, y1), flip, kind in zip(
                (row.tobytes() for row in self.bits),
                self.quality.tolist(),
                self.boxes.tolist(),
                self.mirrored.tolist(),
                self.kinds,
                strict=True,
            )
        ]


class QueryImage:
    """The regions of an image being checked, plus its working pixels for re-hashing.

    Built by :func:`compute_query_regions`. ``arrays`` is what the matcher reads, ``probes``
    the same regions as objects and ``signature`` what a client that keeps its pixels would
    post; :meth:`hash_box` lets the matcher hash the boxes a first match predicts. Pickled as
    its arrays and pixels: a hashing pool hands every photo's query back to the bot's process.
    """

    def __init__(self, canvas: _Canvas, arrays: QueryProbes) -> None:
        self._canvas = canvas
        self.arrays = arrays

    def __reduce__(self) -> tuple[Any, ...]:
        return (QueryImage, (self._canvas, self.arrays))

    @cached_property
    def probes(self) -> tuple[QueryRegion, ...]:
        return tuple(self.arrays.regions())

    @property
    def signature(self) -> RegionalSignature:
        return RegionalSignature(tuple(probe.region for probe in self.probes))

    def hash_box(self, box: Box, mirrored: bool = False) -> PdqHash:
        """PDQ of ``box`` (normalised); with ``mirrored``, ``box`` is in the mirror image."""
        return self.hash_boxes([box], mirrored)[0]

    def hash_boxes(self, boxes: Sequence[Box], mirrored: bool = False) -> list[PdqHash]:
        """:meth:`hash_box` of many boxes at once (one batch: cheaper per box)."""
        if mirrored:
            boxes = [mirror(box) for box in boxes]
        return _hashes(*self._canvas.hash_many(boxes, mirrored))


def check_box(box: Box) -> None:
    """Raise ``InvalidSignal`` unless ``box`` is ``(x0, y0, x1, y1)`` with 0<=x0<x1<=1, same y."""
    x0, y0, x1, y1 = box
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise InvalidSignal(f"region box {list(box)} is not [x0, y0, x1, y1] with 0<=x0<x1<=1")


def quantise_box(values: Iterable[float]) -> Box:
    """A box rounded to :data:`BOX_SCALE` units (validated by :class:`Region`)."""
    x0, y0, x1, y1 = (round(float(v) * BOX_SCALE) / BOX_SCALE for v in values)
    return (x0, y0, x1, y1)


def pdq_of_tiles(luma: NDArray[np.float32]) -> list[PdqHash]:
    """PDQ hashes (with quality) of many 64x64 luma tiles, shape (n, 64, 64), in one pass.

    On a 64x64 input PDQ has nothing to downsample: the hash is the 16x16 block of the tile's
    DCT thresholded at its median (the 128th smallest coefficient, as the reference's Torben
    median gives), and the quality counts significant gradients between neighbouring pixels.
    Both are computed here for all tiles at once (two matrix products and vector operations,
    float32 as in the C++ reference); on 2,000 tiles of the shared photos every hash and
    quality equalled ``pdqhash.compute`` of the same tile, at a fifteenth of its cost.
    """
    return _hashes(*_tile_hashes(luma))


def _tile_hashes(luma: NDArray[np.float32]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """:func:`pdq_of_tiles` as arrays: hashes (n, 32) in the order of their hex form, and
    qualities (n,)."""
    count = len(luma)
    if not count:
        return np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64)
    coefficients = (DCT_MATRIX @ luma @ DCT_MATRIX.T).reshape(count, 256)
    return bits_of(coefficients), quality_of(luma)


def _hashes(bits: NDArray[np.uint8], quality: NDArray[np.int64]) -> list[PdqHash]:
    return [
        PdqHash(row.tobytes(), value) for row, value in zip(bits, quality.tolist(), strict=True)
    ]


def grid(n: int, frame: Box = WHOLE) -> list[Box]:
    """The n x n tiles of ``frame``, row by row from the top left."""
    x0, y0, x1, y1 = frame
    w, h = (x1 - x0) / n, (y1 - y0) / n
    return [
        (x0 + col * w, y0 + row * h, x0 + (col + 1) * w, y0 + (row + 1) * h)
        for row in range(n)
        for col in range(n)
    ]


# The reference tiles that the query's zoom ladder aims at, by name, as references store them:
# the centre tile of the 3x3 grid and the two middle tiles of the upper band (both sides hash
# them). A ladder region's kind is "zoom-" and the name of its target.
ZOOM_TARGETS: dict[str, Box] = {
    "centre": quantise_box(grid(3)[4]),
    "band-left": quantise_box(grid(6)[8]),
    "band-right": quantise_box(grid(6)[9]),
}


def grow(box: Box, factor: float) -> Box:
    """``box`` scaled about its centre by ``factor``, clipped to the image."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * factor / 2, (box[3] - box[1]) * factor / 2
    return (max(0.0, cx - hw), max(0.0, cy - hh), min(1.0, cx + hw), min(1.0, cy + hh))


def mirror(box: Box) -> Box:
    """The box in the left-right mirror image."""
    return (1.0 - box[2], box[1], 1.0 - box[0], box[3])


# What a pickled canvas leaves behind (see _Canvas.__getstate__).
_UNPICKLED = frozenset({"luma", "grey"})


class _Canvas:
    """The working copy of an image, from which every region is cut and hashed."""

    def __init__(self, rgb: NDArray[np.uint8]) -> None:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("regions are computed from an RGB uint8 array (height, width, 3)")
        height, width = rgb.shape[:2]
        scale = WORKING_SIDE / max(height, width)
        if scale < 1:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        self.rgb: NDArray[np.uint8] = np.ascontiguousarray(rgb)
        self.height, self.width = self.rgb.shape[:2]
        self.grey = np.asarray(cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        self.content = _content_box(self.grey)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the luma cache and the grey copy: a query image crosses a process
        boundary when a hashing pool computes it; the float luma is larger than the pixels and
        :meth:`hash_many` recomputes it where it is needed, and the grey copy only served to
        find faces, anchors and the frame, done by then."""
        return {name: value for name, value in self.__dict__.items() if name not in _UNPICKLED}

    def mostly_border(self, box: Box) -> bool:
        """Whether more than :data:`MAX_BORDER_SHARE` of ``box`` lies on a uniform border.

        Frames and padding carry no identity, and two different photos in the same frame would
        otherwise agree on every tile that the frame dominates.
        """
        if self.content is None:
            return False
        cx0, cy0, cx1, cy1 = self.content
        x0, y0, x1, y1 = box
        inside = max(0.0, min(x1, cx1) - max(x0, cx0)) * max(0.0, min(y1, cy1) - max(y0, cy0))
        return inside < (1.0 - MAX_BORDER_SHARE) * (x1 - x0) * (y1 - y0)

    def pixels(self, box: Box) -> tuple[int, int, int, int]:
        """Pixel bounds of a normalised box, at least one pixel each way."""
        x0, y0, x1, y1 = self.pixels_of([box])[0].tolist()
        return x0, y0, x1, y1

    def pixels_of(self, boxes: Sequence[Box]) -> NDArray[np.int32]:
        """:meth:`pixels` of many boxes, shape (n, 4): each edge rounded to the nearest pixel
        (half to even), the box at least one pixel each way and inside the image."""
        size = np.array([self.width, self.height, self.width, self.height], dtype=np.float64)
        edges = np.rint(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * size)
        x0 = np.clip(edges[:, 0], 0, self.width - 1)
        y0 = np.clip(edges[:, 1], 0, self.height - 1)
        x1 = np.maximum(x0 + 1, np.minimum(self.width, edges[:, 2]))
        y1 = np.maximum(y0 + 1, np.minimum(self.height, edges[:, 3]))
        return np.stack([x0, y0, x1, y1], axis=1).astype(np.int32)

    def hash(self, box: Box) -> PdqHash:
        """The reference side's hash of ``box``: PDQ (the C++ reference) of the RGB tile."""
        x0, y0, x1, y1 = self.pixels(box)
        tile = cv2.resize(
            self.rgb[y0:y1, x0:x1], (REGION_SIDE, REGION_SIDE), interpolation=cv2.INTER_AREA
        )
        return pdq_hash(np.asarray(tile, dtype=np.uint8))

    def reference_regions(self, boxes: Iterable[Box], limit: int | None = None) -> list[Region]:
        """Hash each box the reference way; keep those above the quality floor, the first
        ``limit`` of them when given."""
        found: list[Region] = []
        for box in boxes:
            if limit is not None and len(found) >= limit:
                break
            if self.mostly_border(box):
                continue
            value = self.hash(box)
            if value.quality >= QUALITY_FLOOR:
                found.append(Region(value, quantise_box(box)))
        return found

    @cached_property
    def luma(self) -> NDArray[np.float32]:
        """PDQ's luma (0.299 R + 0.587 G + 0.114 B) of the working copy, as float32."""
        rgb = self.rgb.astype(np.float32)
        return np.asarray(cv2.transform(rgb, _LUMA), dtype=np.float32)

    def hash_many(
        self, boxes: Sequence[Box], mirrored: bool = False
    ) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        """The query side's hashes of many boxes (in this image's coordinates; ``mirrored``:
        of the mirror image's tiles, flipped after cutting), as :func:`_tile_hashes` gives them.

        Each tile is the luma of the working copy resampled to 64x64 with area interpolation
        (all the reductions in one call of ``rempart/signals/_tiles.c``, which equals OpenCV's
        INTER_AREA to float rounding at about a third of its cost; the few boxes under 64
        pixels, which OpenCV enlarges linearly, by ``cv2.resize``), then hashed by
        :func:`pdq_of_tiles`'s arrays. The reference side resamples the RGB tile and
        rounds it to 8 bits before taking the luma; resampling the luma directly skips that
        rounding and costs a third of the time. Measured on the shared photos: the two hashes
        of a query region differ by 0.85 bits on average (p99: 12, from boxes whose edges
        round to another pixel).
        """
        bounds = self.pixels_of(boxes)
        tiles = np.empty((len(boxes), REGION_SIDE, REGION_SIDE), dtype=np.float32)
        _tiles.area_tiles(self.luma, self.height, self.width, bounds, tiles)
        small = (bounds[:, 2] - bounds[:, 0] < REGION_SIDE) | (
            bounds[:, 3] - bounds[:, 1] < REGION_SIDE
        )
        for number in np.flatnonzero(small).tolist():
            x0, y0, x1, y1 = bounds[number].tolist()
            cv2.resize(
                self.luma[y0:y1, x0:x1],
                (REGION_SIDE, REGION_SIDE),
                dst=tiles[number],
                interpolation=cv2.INTER_AREA,
            )
        if mirrored:
            tiles = tiles[:, :, ::-1]
        return _tile_hashes(tiles)

    def query_regions(
        self, boxes: Iterable[Box], mirrored: bool = False, kind: str = "layout"
    ) -> QueryProbes:
        """Hash the boxes the query way (see :meth:`hash_many`); keep those above the quality
        floor. Mirrored regions get their box in mirror coordinates. Boxes are quantised as
        :func:`quantise_box` does (half to even, then divided: the same floats)."""
        kept = [box for box in boxes if not self.mostly_border(box)]
        bits, quality = self.hash_many(kept, mirrored)
        good = quality >= QUALITY_FLOOR
        edges = np.asarray(kept, dtype=np.float64).reshape(-1, 4)[good]
        if mirrored:
            edges = np.stack(
                [1.0 - edges[:, 2], edges[:, 1], 1.0 - edges[:, 0], edges[:, 3]], axis=1
            )
        count = int(good.sum())
        return QueryProbes(
            bits[good],
            quality[good],
            np.rint(edges * BOX_SCALE) / BOX_SCALE,
            np.full(count, mirrored),
            (kind,) * count,
        )


def compute_regional_signature(rgb: NDArray[np.uint8]) -> RegionalSignature:
    """The reference signature of an upright RGB ``uint8`` image (height, width, 3).

    In priority order, keeping those at or above the quality floor, at most
    :data:`MAX_REFERENCE_REGIONS`: the whole image; for each of the 3 largest faces, the face
    region (box x1.2), the inner face (the box itself) and the head region (box x2.2); the 3x3
    grid; the centred square (when the image is not square), the top two rows of its 3x3 grid
    and the top row of its 4x4 grid; up to 8 anchor-pair boxes; the upper band (the 4x4 grid's
    top row and the four middle tiles of the 6x6 grid's second row, which a regenerated body
    leaves intact); then the other rows of the 4x4 grid until the limit. Regions with more
    than 10% of their area on a uniform frame are left out. Deterministic: the same pixels give
    the same signature.
    """
    canvas = _Canvas(rgb)
    boxes: list[Box] = [WHOLE]
    for face in detect_faces(canvas.grey)[:MAX_REFERENCE_FACES]:
        boxes += [grow(face, growth) for growth in FACE_REGIONS]
    boxes += grid(3)
    square = _centred_square(canvas.width, canvas.height)
    if square is not None:
        boxes += [square, *grid(3, square)[:6], *grid(4, square)[:4]]
    boxes += _upper_band()
    anchors = _away_from_edges(_anchors(canvas.grey, 2 * REFERENCE_ANCHORS))[:REFERENCE_ANCHORS]
    pairs = canvas.reference_regions(_pair_boxes(anchors), limit=MAX_REFERENCE_PAIRS)
    boxes += [region.box for region in pairs]
    boxes += grid(4)[4:]
    kept = canvas.reference_regions(boxes)
    return RegionalSignature(tuple(kept[:MAX_REFERENCE_REGIONS]))


def compute_query_regions(rgb: NDArray[np.uint8]) -> QueryImage:
    """The query-side regions of an upright RGB ``uint8`` image, with its working pixels.

    The reference's fixed layout (whole image, 3x3 and 4x4 grids, upper band) on the image as it
    is (a square query is also the reference's centred square); the whole image, 3x3 and 4x4
    grids of its mirror; the same inside a uniform border when one is found (padding,
    screenshots); face and head regions of up to 4 faces, each jittered by 2% and zoomed by 4%;
    the centre tiles and upper-band tiles under a ladder of centred zooms (crops; the centre tile
    zoomed out too, for frames not found); and the boxes
    of pairs of its 24 strongest anchors (any crop). About 300-400 regions; only queries pay.
    """
    canvas = _Canvas(rgb)
    coarse = [WHOLE, *grid(3), *grid(4)]
    parts = [canvas.query_regions([*coarse, *_upper_band()[4:]])]
    parts.append(canvas.query_regions(coarse, mirrored=True, kind="mirror"))
    content = canvas.content
    if content is not None:
        parts.append(
            canvas.query_regions([content, *grid(3, content), *grid(4, content)], kind="border")
        )
    faces = detect_query_faces(canvas.grey)[:MAX_QUERY_FACES]
    parts.append(
        canvas.query_regions(
            [
                box
                for face in faces
                for factor in FACE_REGIONS
                for box in _jittered(grow(face, factor))
            ],
            kind="face",
        )
    )
    for name, target in ZOOM_TARGETS.items():
        if name == "centre":
            ladder = _zoom_ladder([target], CENTRE_ZOOM_STEP, MAX_ZOOM, MIN_ZOOM)
        else:
            ladder = _zoom_ladder([target], BAND_ZOOM_STEP, BAND_MAX_ZOOM)
        parts.append(canvas.query_regions(ladder, kind=f"zoom-{name}"))
    parts.append(
        canvas.query_regions(
            _zoom_ladder([grid(4)[i] for i in (5, 6, 9, 10)], ZOOM_STEP, MAX_ZOOM), kind="zoom-4x4"
        )
    )
    parts.append(
        canvas.query_regions(_pair_boxes(_anchors(canvas.grey, QUERY_ANCHORS)), kind="pair")
    )
    return QueryImage(canvas, QueryProbes.join(parts))


def _upper_band() -> list[Box]:
    """The 4x4 grid's top row, then the four middle tiles of the 6x6 grid's second row."""
    return grid(4)[:4] + grid(6)[7:11]


def _anchors(grey: NDArray[np.uint8], count: int) -> list[tuple[float, float]]:
    """Up to ``count`` corner points in normalised coordinates, strongest first (none on an
    image too small for the sub-pixel refinement's window)."""
    height, width = grey.shape
    short = min(height, width)
    if short < MIN_ANCHOR_SIDE:
        return []
    blurred = cv2.GaussianBlur(grey, (0, 0), max(0.5, ANCHOR_BLUR * short))
    found = cv2.goodFeaturesToTrack(
        blurred,
        maxCorners=count,
        qualityLevel=ANCHOR_QUALITY,
        minDistance=ANCHOR_SPACING * short,
        blockSize=7,
    )
    if found is None:
        return []
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.03)
    window = (SUBPIX_WINDOW, SUBPIX_WINDOW)
    refined = cv2.cornerSubPix(blurred, found.astype(np.float32), window, (-1, -1), criteria)
    return [(float(x) / width, float(y) / height) for x, y in refined.reshape(-1, 2).tolist()]


def _away_from_edges(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``points`` with those :data:`ANCHOR_EDGE_MARGIN` from every edge first (order kept)."""

    def near_edge(point: tuple[float, float]) -> bool:
        return min(*point, 1.0 - point[0], 1.0 - point[1]) < ANCHOR_EDGE_MARGIN

    return sorted(points, key=near_edge)


def _pair_boxes(points: Sequence[tuple[float, float]]) -> list[Box]:
    """Boxes spanned by two anchors, pairs of the strongest anchors first."""
    found = []
    for second in range(1, len(points)):
        for first in range(second):
            (ax, ay), (bx, by) = points[first], points[second]
            box = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
            width, height = box[2] - box[0], box[3] - box[1]
            if (
                min(width, height) >= PAIR_MIN_SIDE
                and max(width, height) <= PAIR_MAX_ASPECT * min(width, height)
                and _inside(box)
            ):
                found.append(box)
    return found


def _centred_square(width: int, height: int) -> Box | None:
    """The centred square crop (as nudification tools prepare their input), if not square."""
    if max(width, height) < SQUARE_MIN_ASPECT * min(width, height):
        return None
    if width > height:
        margin = (1.0 - height / width) / 2
        return (margin, 0.0, 1.0 - margin, 1.0)
    margin = (1.0 - width / height) / 2
    return (0.0, margin, 1.0, 1.0 - margin)


def _jittered(box: Box) -> list[Box]:
    """``box``, shifted by +-2% of its side in x and y, and zoomed by 0.96 and 1.04."""
    w, h = box[2] - box[0], box[3] - box[1]
    found = []
    for dy in (-FACE_JITTER, 0.0, FACE_JITTER):
        for dx in (-FACE_JITTER, 0.0, FACE_JITTER):
            shifted = (box[0] + dx * w, box[1] + dy * h, box[2] + dx * w, box[3] + dy * h)
            if _inside(shifted):
                found.append(shifted)
    found += [grow(box, zoom) for zoom in FACE_ZOOMS]
    return found


def _zoom_ladder(tiles: Sequence[Box], step: float, top: float, bottom: float = 1.0) -> list[Box]:
    """Where ``tiles`` land under centred crops: scaled about the image centre by ``step``,
    ``step`` squared, ... up to ``top``, those still inside the image; then, down to
    ``bottom``, by 1 / ``step``, 1 / ``step`` squared, ... (the image shrunk inside a frame)."""
    found = []
    zoom = step
    while zoom <= top:
        found += [box for box in (_zoomed(tile, zoom) for tile in tiles) if _inside(box)]
        zoom *= step
    zoom = 1 / step
    while zoom >= bottom:
        found += [_zoomed(tile, zoom) for tile in tiles]
        zoom /= step
    return found


def zoom_target(box: Box) -> str | None:
    """The name of the tile of :data:`ZOOM_TARGETS` of which ``box`` is a centred zoom (by other
    than 1), or None: how the matcher recognises the zoom ladder in a signature posted without
    kinds."""
    for name, target in ZOOM_TARGETS.items():
        zoom = (box[2] - box[0]) / (target[2] - target[0])
        if abs(zoom - 1) > 0.005 and all(
            abs(v - (0.5 + (t - 0.5) * zoom)) <= 5.0 / BOX_SCALE
            for v, t in zip(box, target, strict=True)
        ):
            return name
    return None


def layout_box(box: Box) -> bool:
    """Whether ``box`` (quantised) is a box of the reference's fixed layout: the whole image,
    its 3x3 and 4x4 grids, the upper band, or the centred square (whatever the image's aspect)
    and its tiles. How the matcher tells anchor-pair boxes, which are anything else but faces,
    apart in a signature posted without kinds."""
    if box in _FIXED_BOXES:
        return True
    return _square_tile(box) or _square_tile((box[1], box[0], box[3], box[2]))


# The boxes of the reference's layout that do not depend on the image (quantised).
_FIXED_BOXES = frozenset(quantise_box(box) for box in [WHOLE, *grid(3), *grid(4), *_upper_band()])
# Within this of its exact value, a quantised coordinate is taken for it (3 rounding units; a
# column's predicted edge, from a width and a margin, within one such per column of the grid).
_LAYOUT_TOLERANCE = 3.0 / BOX_SCALE


def _square_tile(box: Box) -> bool:
    """Whether ``box`` is the centred square of a landscape image (full height, centred in x),
    or a tile of its 3x3 or 4x4 grid (rows on thirds or quarters, columns evenly spaced from a
    margin); a portrait image's are the same with the axes swapped."""
    x0, y0, x1, y1 = box
    tolerance = _LAYOUT_TOLERANCE
    if abs(y0) <= tolerance and abs(y1 - 1.0) <= tolerance:
        return x0 > tolerance and abs(x0 + x1 - 1.0) <= 2 * tolerance
    width = x1 - x0
    for n in (3, 4):
        row = round(y0 * n)
        if abs(y0 - row / n) > tolerance or abs(y1 - (row + 1) / n) > tolerance:
            continue
        margin = (1.0 - n * width) / 2
        column = round((x0 - margin) / width)
        on_column = abs(x0 - (margin + column * width)) <= n * tolerance
        if margin > tolerance and 0 <= column < n and on_column:
            return True
    return False


def _zoomed(box: Box, zoom: float) -> Box:
    """``box`` scaled by ``zoom`` about the image centre (how a centred crop moves it)."""
    x0, y0, x1, y1 = (0.5 + (v - 0.5) * zoom for v in box)
    return (x0, y0, x1, y1)


def _inside(box: Sequence[float]) -> bool:
    return box[0] >= 0.0 and box[1] >= 0.0 and box[2] <= 1.0 and box[3] <= 1.0


def _content_box(grey: NDArray[np.uint8]) -> Box | None:
    """The box inside a uniform border (padding, a screenshot's frame), or None without one.

    From each edge, lines (rows or columns) belong to the border while 95% of their pixels lie
    within :data:`BORDER_TOLERANCE` grey levels of the outermost line's median; at most 25% of
    a side. None when no side loses at least 1% of the image.
    """
    height, width = grey.shape
    image = grey.astype(np.int16)
    top = _border_depth(image, round(height * MAX_BORDER))
    bottom = _border_depth(image[::-1], round(height * MAX_BORDER))
    left = _border_depth(image.T, round(width * MAX_BORDER))
    right = _border_depth(image.T[::-1], round(width * MAX_BORDER))
    if max(top / height, bottom / height, left / width, right / width) < 0.01:
        return None
    return quantise_box(
        (left / width, top / height, (width - right) / width, (height - bottom) / height)
    )


def _border_depth(lines: NDArray[np.int16], limit: int) -> int:
    """How many leading lines of ``lines`` form a frame in the outermost line's colour.

    The run of uniform lines counts only when the picture starts with a straight edge right
    after it (at least half of the next lines' pixels differ from the border colour): a frame
    or padding does, a plain background that a subject's outline interrupts does not.
    """
    if limit < 1 or len(lines) <= limit + 2:
        return 0
    colour = int(np.median(lines[0]))
    if np.percentile(np.abs(lines[0] - colour), 95) > BORDER_TOLERANCE:
        return 0  # the outermost line is no border: most photos, decided on one line
    deviation = np.abs(lines[: limit + 3] - colour)
    uniform = np.percentile(deviation[:limit], 95, axis=1) <= BORDER_TOLERANCE
    if uniform.all():
        return 0
    depth = int(np.argmin(uniform))
    inside = deviation[depth + 1 : depth + 3] > BORDER_TOLERANCE
    return depth if depth and float(inside.mean()) >= EDGE_SHARE else 0
