"""Decode untrusted media bytes: the only package that parses them."""

from rempart.media.image import IMAGE_FORMATS, DecodedImage, decode_image, decode_image_bytes
from rempart.media.limits import DEFAULT_LIMITS, MediaLimits
from rempart.media.reading import read_source

__all__ = [
    "DEFAULT_LIMITS",
    "IMAGE_FORMATS",
    "DecodedImage",
    "MediaLimits",
    "decode_image",
    "decode_image_bytes",
    "read_source",
]
