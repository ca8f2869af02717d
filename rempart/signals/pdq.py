"""PDQ: Meta's 256-bit perceptual image hash, through the ``pdqhash`` bindings of the C++ reference.

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
import pdqhash
from numpy.typing import NDArray

from rempart.errors import InvalidSignal

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
MATCH_THRESHOLD = 31
MAX_THRESHOLD = 63
QUALITY_FLOOR = 50

# The order in which ``pdqhash.compute_dihedral`` returns its eight hashes.
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
    bits, quality = pdqhash.compute(_contiguous(rgb))
    return PdqHash(_pack(bits), int(quality))


def pdq_dihedral(rgb: NDArray[np.uint8]) -> dict[str, PdqHash]:
    """The eight hashes of the image's rotations and flips, keyed by :data:`DIHEDRAL_NAMES`.

    They come from one pass (PDQ's DCT is transformed, not the pixels), so matching a rotated
    or mirrored repost costs nothing more at query time than comparing eight hashes.
    """
    vectors, quality = pdqhash.compute_dihedral(_contiguous(rgb))
    return {
        name: PdqHash(_pack(bits), int(quality))
        for name, bits in zip(DIHEDRAL_NAMES, vectors, strict=True)
    }


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


def _pack(bits: NDArray[Any]) -> bytes:
    # pdqhash gives 256 ints, most significant bit of the hex form first.
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def _contiguous(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("PDQ hashes an RGB uint8 array of shape (height, width, 3)")
    return np.ascontiguousarray(rgb)
