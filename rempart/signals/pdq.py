"""PDQ: Meta's 256-bit perceptual image hash, computed as the C++ reference computes it.

The reduction of the image to PDQ's 64x64 buffer and 16x16 DCT is ``rempart/signals/_pdq.c``:
the reference's float operations in the reference's order, so the bits are the reference's
(checked against the ``pdqhash`` bindings in the tests), five times as fast at 1280 px
(docs/decisions.md).

Two images are "near" when the Hamming distance between their hashes is at most
:data:`MATCH_THRESHOLD` (31 of 256 bits, Meta's recommended operating point: re-encodes,
resizes and light edits stay well under it, unrelated photos sit around 128). A hash whose
quality is under :data:`QUALITY_FLOOR` comes from a flat or featureless picture (a plain wall, a
dark frame): its bits are mostly noise and it would match unrelated flat pictures, so rempart does
not rely on it alone. See docs/signals.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from rempart.errors import InvalidSignal
from rempart.signals._pdq import reduce_whole
from rempart.signals._tiles import tile_quality

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
MATCH_THRESHOLD = 31
MAX_THRESHOLD = 63
QUALITY_FLOOR = 50

# The reference's names and order for the eight hashes of an image's rotations and flips.
DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)

_HEX = re.compile(r"[0-9a-f]{64}")

# The reference's DCT matrix, rows 1-16 of the 64-point DCT-II: its scale factor sqrt(2 / 64) is
# a float before it multiplies the (double) cosine, and the product is stored as a float.
DCT_MATRIX = (
    np.float64(np.float32(np.sqrt(2.0 / 64.0)))
    * np.cos(np.pi / 2 / 64.0 * np.arange(1, 17)[:, None] * (2 * np.arange(64)[None, :] + 1))
).astype(np.float32)
# Below this many pixels on a side the reference gives the all-zero hash with quality 0.
MIN_HASHABLE_SIDE = 5
# Sign patterns (rows i, columns j of the 16x16 DCT) and transposition that turn the DCT of an
# image into that of its rotation or flip, in the order of DIHEDRAL_NAMES.
_ODD = np.arange(16) % 2 == 1
_ROW_SIGN = np.where(_ODD, 1.0, -1.0).astype(np.float32)[:, None]
_COLUMN_SIGN = np.where(_ODD, 1.0, -1.0).astype(np.float32)[None, :]
_CHECKER = np.where((np.arange(16)[:, None] + np.arange(16)[None, :]) % 2 == 1, -1.0, 1.0).astype(
    np.float32
)
_DIHEDRAL: tuple[tuple[NDArray[np.float32] | None, bool], ...] = (
    (None, False),  # original
    (_COLUMN_SIGN, True),  # rotate90
    (_CHECKER, False),  # rotate180
    (_ROW_SIGN, True),  # rotate270
    (_ROW_SIGN, False),  # flipx
    (_COLUMN_SIGN, False),  # flipy
    (None, True),  # flip_plus1
    (_CHECKER, True),  # flip_minus1
)

PackedHashes = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A PDQ hash: 32 bytes in the order of its hex form, plus its quality (0-100)."""

    TYPE: ClassVar[str] = "pdq"

    bits: bytes
    quality: int

    def __post_init__(self) -> None:
        if len(self.bits) != HASH_BYTES:
            raise InvalidSignal(f"a PDQ hash has {HASH_BYTES} bytes, got {len(self.bits)}")
        if not 0 <= self.quality <= 100:
            raise InvalidSignal(f"PDQ quality must be 0-100, got {self.quality}")

    @classmethod
    def from_hex(cls, value: str, quality: int = 100) -> PdqHash:
        """Parse 64 hex digits (either case). Raises ``InvalidSignal``."""
        if not isinstance(value, str) or not _HEX.fullmatch(value.lower()):
            raise InvalidSignal("a PDQ hash is 64 hexadecimal digits")
        if isinstance(quality, bool) or not isinstance(quality, int):
            raise InvalidSignal("PDQ quality must be an integer 0-100")
        return cls(bytes.fromhex(value), quality)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PdqHash:
        """Parse the wire form ``{"type": "pdq", "value": "<64 hex>", "quality": 0-100}``."""
        if "quality" not in obj:
            raise InvalidSignal("a PDQ signal needs its quality (0-100) beside its value")
        return cls.from_hex(obj.get("value"), obj["quality"])  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.TYPE, "value": self.hex, "quality": self.quality}

    @property
    def hex(self) -> str:
        return self.bits.hex()

    def packed(self) -> PackedHashes:
        """The hash as a ``uint8`` array of 32 bytes, for :func:`hamming_packed` and the indexes."""
        return np.frombuffer(self.bits, dtype=np.uint8)

    def distance(self, other: PdqHash) -> int:
        """Hamming distance in bits (0-256)."""
        return (int.from_bytes(self.bits, "big") ^ int.from_bytes(other.bits, "big")).bit_count()


def pdq_hash(rgb: NDArray[np.uint8]) -> PdqHash:
    """PDQ hash of an upright RGB ``uint8`` array of shape (height, width, 3)."""
    dct, quality = _reduce(rgb)
    return PdqHash(bits_of(dct.reshape(1, 256))[0].tobytes(), quality)


def pdq_dihedral(rgb: NDArray[np.uint8]) -> dict[str, PdqHash]:
    """The eight hashes of the image's rotations and flips, keyed by :data:`DIHEDRAL_NAMES`.

    They come from one pass (PDQ's DCT is transformed, not the pixels: signs and a
    transposition, exact in floats), so matching a rotated or mirrored repost costs nothing more
    at query time than comparing eight hashes.
    """
    dct, quality = _reduce(rgb)
    variants = []
    for sign, transpose in _DIHEDRAL:
        variant = dct if sign is None else dct * sign
        variants.append(variant.T if transpose else variant)
    bits = bits_of(np.stack(variants).reshape(len(variants), 256))
    return {
        name: PdqHash(row.tobytes(), quality)
        for name, row in zip(DIHEDRAL_NAMES, bits, strict=True)
    }


def bits_of(coefficients: NDArray[np.float32]) -> NDArray[np.uint8]:
    """PDQ bits of DCT outputs, shape (n, 256) row-major 16x16: bit ``i * 16 + j`` is set when
    coefficient (i, j) exceeds the median (the 128th smallest, as the reference's Torben median
    gives), packed (n, 32) in the order of the hex form, which starts with bit 255."""
    median = np.partition(coefficients, 127, axis=1)[:, 127:128]
    return np.packbits((coefficients > median)[:, ::-1], axis=1)


def quality_of(buffers: NDArray[np.float32]) -> NDArray[np.int64]:
    """PDQ's quality of 64x64 luma buffers, shape (n, 64, 64): the sum of
    |trunc((u - v) * 100 / 255)| over vertical and horizontal neighbours (float32, as the
    reference computes it), divided by 90, at most 100 (in C: ``rempart/signals/_tiles.c``)."""
    quality = np.empty(len(buffers), dtype=np.int64)
    tile_quality(np.ascontiguousarray(buffers, dtype=np.float32), quality)
    return quality


def _reduce(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], int]:
    """The 16x16 DCT of PDQ's 64x64 buffer of ``rgb``, and the buffer's quality."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("PDQ hashes an RGB uint8 array of shape (height, width, 3)")
    height, width = rgb.shape[:2]
    dct = np.zeros((16, 16), dtype=np.float32)
    if min(height, width) < MIN_HASHABLE_SIDE:
        return dct, 0
    buffer = np.empty((64, 64), dtype=np.float32)
    reduce_whole(np.ascontiguousarray(rgb), height, width, DCT_MATRIX, buffer, dct)
    return dct, int(quality_of(buffer[None])[0])


def hamming_hex(a: str, b: str) -> int:
    """Hamming distance between two PDQ hashes in hex. Raises ``InvalidSignal`` on bad hex."""
    return PdqHash.from_hex(a).distance(PdqHash.from_hex(b))


def hamming_packed(a: PackedHashes, b: PackedHashes) -> NDArray[np.int64]:
    """Hamming distances between packed hashes (last axis: 32 ``uint8``), broadcasting the rest.

    ``hamming_packed(bank, query)`` with a bank of shape (n, 32) and one query of shape (32,)
    gives the n distances.
    """
    a = np.asarray(a, dtype=np.uint8)
    b = np.asarray(b, dtype=np.uint8)
    if a.shape[-1] != HASH_BYTES or b.shape[-1] != HASH_BYTES:
        raise ValueError(f"packed PDQ hashes have {HASH_BYTES} bytes on their last axis")
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int64)


def pack_hex(values: list[str]) -> PackedHashes:
    """Many hex hashes to an (n, 32) ``uint8`` array. Raises ``InvalidSignal`` on bad hex."""
    if not values:
        return np.zeros((0, HASH_BYTES), dtype=np.uint8)
    return np.stack([PdqHash.from_hex(value).packed() for value in values])
