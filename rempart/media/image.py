"""Decode untrusted image bytes into RGB pixel arrays, safely.

This is the only place where image bytes are parsed. Whatever the input (a truncated JPEG, a
text file named ``.jpg``, a 30000x30000 PNG that inflates from a few kilobytes), the result is a
:class:`DecodedImage` or a :class:`~rempart.errors.MediaError`; Pillow's own exceptions never
escape. Sizes are checked from the header before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pillow_heif
from numpy.typing import NDArray
from PIL import Image, ImageFile, ImageSequence, UnidentifiedImageError

from rempart.errors import CorruptMedia, TooLarge, TooSmall, UnsupportedFormat
from rempart.media.limits import DEFAULT_LIMITS, MediaLimits
from rempart.media.reading import read_source

pillow_heif.register_heif_opener()

# Our own limits are checked on the declared size before decoding; Pillow's global bomb check
# would otherwise refuse images that a caller configured rempart to accept.
Image.MAX_IMAGE_PIXELS = None

# Only these decoders ever see untrusted bytes. Pillow knows many more formats (EPS would run
# Ghostscript); none of them is needed to protect a photo.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "HEIF", "AVIF")

_EXIF_ORIENTATION = 0x0112

# EXIF orientation tag -> the transposition that displays the stored pixels upright.
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}

# Extreme aspect ratios must not collapse a side below this when reducing to the working size.
_MIN_REDUCED_SIDE = 32

RGBArray = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An image ready for the signals.

    ``rgb`` is the first frame, upright (EXIF orientation applied), as a C-contiguous
    ``uint8`` array of shape (height, width, 3), reduced so that its longest side is at most
    ``limits.working_side``. ``width`` and ``height`` are the full upright size of the original.
    ``stored_rgb`` is the same pixels in the order they are stored in the file, i.e. what
    tools that ignore EXIF orientation hash; it is ``rgb`` itself when ``orientation`` is 1.
    """

    format: str
    width: int
    height: int
    orientation: int
    frame_count: int
    rgb: RGBArray
    stored_rgb: RGBArray
    limits: MediaLimits = field(repr=False)
    _data: bytes = field(repr=False)

    def frames(self) -> Iterator[RGBArray]:
        """Every frame of an animated image (GIF, WebP, multi-page TIFF), upright, as ``rgb``.

        Frames are decoded one at a time; at most ``limits.max_frames`` are yielded.
        """
        with _open(self._data) as im:
            try:
                for number, frame in enumerate(ImageSequence.Iterator(im)):
                    if number >= self.limits.max_frames:
                        return
                    _check_size(frame.size, self.limits)
                    yield _orient(_to_rgb_array(_reduce(frame, self.limits)), self.orientation)
            except (TooLarge, TooSmall):
                raise
            except Exception as exc:  # Pillow raises many types on damaged frames
                raise CorruptMedia(f"frame {number} cannot be decoded: {_reason(exc)}") from exc


def decode_image(
    source: bytes | str | os.PathLike[str], limits: MediaLimits = DEFAULT_LIMITS
) -> DecodedImage:
    """Decode an image from bytes or a file path.

    Raises ``UnsupportedFormat`` (not an image rempart reads: empty, text, random bytes, an
    unsupported codec), ``CorruptMedia`` (truncated or damaged), ``TooLarge`` (over
    ``limits.max_bytes`` or ``limits.max_pixels``, checked before decoding) or ``TooSmall``
    (a side below ``limits.min_side``), and ``Unreadable`` for a path that cannot be read.
    """
    data = read_source(source, limits.max_bytes)
    return decode_image_bytes(data, limits)


def decode_image_bytes(data: bytes, limits: MediaLimits = DEFAULT_LIMITS) -> DecodedImage:
    """Decode in-memory image bytes; see :func:`decode_image` for the errors."""
    if len(data) > limits.max_bytes:
        raise TooLarge(f"{len(data)} bytes is over the {limits.max_bytes}-byte limit")
    # Some libraries (WeasyPrint) switch Pillow to fill truncated images with grey; a truncated
    # upload must stay an error here, whatever was imported before.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with _open(data) as im:
        fmt = im.format or "unknown"
        size = im.size
        _check_size(size, limits)
        orientation = _orientation(im)
        frame_count = _frame_count(im)
        try:
            stored = _to_rgb_array(_reduce(im, limits))
        except (TooLarge, TooSmall):
            raise
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... on bad data
            raise CorruptMedia(f"{fmt} data cannot be decoded: {_reason(exc)}") from exc
    upright = _orient(stored, orientation)
    width, height = size if orientation < 5 else size[::-1]
    return DecodedImage(
        format=fmt,
        width=width,
        height=height,
        orientation=orientation,
        frame_count=frame_count,
        rgb=upright,
        stored_rgb=stored,
        limits=limits,
        _data=data,
    )


def _open(data: bytes) -> Image.Image:
    if not data:
        raise UnsupportedFormat("the file is empty")
    try:
        return Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except UnidentifiedImageError as exc:
        known = sniff_format(data)
        if known:
            raise CorruptMedia(f"looks like {known} but its header is invalid") from exc
        raise UnsupportedFormat(
            "not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF)"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"declared image size is too large: {exc}") from exc
    except Exception as exc:  # a recognised header whose contents are inconsistent
        raise CorruptMedia(f"image header cannot be read: {_reason(exc)}") from exc


def sniff_format(data: bytes) -> str | None:
    """The image format announced by the first bytes, whether or not the rest is valid."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF/AVIF"
    return None


def _check_size(size: tuple[int, int], limits: MediaLimits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise TooLarge(
            f"{width}x{height} is {width * height} pixels, over the {limits.max_pixels}-pixel limit"
        )
    if min(width, height) < limits.min_side:
        raise TooSmall(
            f"{width}x{height} is too small to fingerprint (each side needs at least"
            f" {limits.min_side} pixels)"
        )


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # malformed EXIF: treat as absent rather than refuse the picture
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _frame_count(im: Image.Image) -> int:
    try:
        return max(1, int(getattr(im, "n_frames", 1)))
    except Exception:  # counting frames walks the file; a damaged tail is found later
        return 1


def _working_size(width: int, height: int, working_side: int) -> tuple[int, int]:
    scale = working_side / max(width, height)
    if scale >= 1:
        return width, height
    return (
        max(round(width * scale), min(width, _MIN_REDUCED_SIDE)),
        max(round(height * scale), min(height, _MIN_REDUCED_SIDE)),
    )


def _reduce(im: Image.Image, limits: MediaLimits) -> Image.Image:
    """Bring a frame down to the working size, decoding large JPEGs at 1/2, 1/4 or 1/8 scale."""
    target = _working_size(*im.size, limits.working_side)
    if target == im.size:
        return im
    if im.format in ("JPEG", "MPO"):
        im.draft(None, target)
    return _rgb_image(im).resize(target, Image.Resampling.BOX)


def _rgb_image(im: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparency is composited over white."""
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        return Image.fromarray(_high_depth_to_uint8(np.asarray(im))).convert("RGB")
    has_alpha = im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _high_depth_to_uint8(values: NDArray[np.generic]) -> NDArray[np.uint8]:
    """16-bit and float greyscale to 8 bits: 16-bit ranges scale down, floats in 0-1 scale up."""
    array = values.astype(np.float64)
    top = float(array.max()) if array.size else 0.0
    if values.dtype.kind == "f" and top <= 1.0:
        array = array * 255.0
    elif top > 255:
        array = array / 257.0
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def _to_rgb_array(im: Image.Image) -> RGBArray:
    return np.ascontiguousarray(np.asarray(_rgb_image(im), dtype=np.uint8))


def _orient(stored: RGBArray, orientation: int) -> RGBArray:
    if orientation == 1:
        return stored
    image = Image.fromarray(stored).transpose(_ORIENT[orientation])
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
