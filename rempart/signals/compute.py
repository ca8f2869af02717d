"""All the signals of one piece of media, computed in one pass over its bytes."""

from __future__ import annotations

from dataclasses import dataclass

from rempart.media import DEFAULT_LIMITS, MediaLimits, decode_image_bytes
from rempart.signals.exact import ExactHash, md5_of, sha256_of
from rempart.signals.pdq import PdqHash, pdq_dihedral, pdq_hash
from rempart.signals.registry import Signal


@dataclass(frozen=True, slots=True)
class ImageSignals:
    """What rempart knows of one image, without keeping a pixel of it.

    ``pdq`` is the hash of the upright image (EXIF orientation applied). When the file carries
    an orientation other than 1, ``pdq_stored_order`` is the hash of the pixels in stored
    order, which is what tools that ignore EXIF (Meta's C++ hasher among them) compute, so a
    hash list made by such a tool still matches.
    """

    format: str
    width: int
    height: int
    orientation: int
    pdq: PdqHash
    pdq_stored_order: PdqHash | None
    md5: ExactHash
    sha256: ExactHash
    dihedral: dict[str, PdqHash] | None = None

    def signals(self) -> list[Signal]:
        """The signals a case or a bank stores for this image."""
        found: list[Signal] = [self.pdq]
        if self.pdq_stored_order is not None:
            found.append(self.pdq_stored_order)
        return [*found, self.md5, self.sha256]


def compute_image_signals(
    data: bytes, limits: MediaLimits = DEFAULT_LIMITS, *, dihedral: bool = False
) -> ImageSignals:
    """Decode ``data`` in memory and fingerprint it; raises ``MediaError`` on bad input."""
    image = decode_image_bytes(data, limits)
    if dihedral:
        variants = pdq_dihedral(image.rgb)
        upright = variants["original"]
    else:
        variants = None
        upright = pdq_hash(image.rgb)
    stored = pdq_hash(image.stored_rgb) if image.orientation != 1 else None
    return ImageSignals(
        format=image.format,
        width=image.width,
        height=image.height,
        orientation=image.orientation,
        pdq=upright,
        pdq_stored_order=stored,
        md5=md5_of(data),
        sha256=sha256_of(data),
        dihedral=variants,
    )
