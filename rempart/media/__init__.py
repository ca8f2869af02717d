"""Decode untrusted media bytes: the only package that parses them."""

from rempart.media.image import IMAGE_FORMATS, DecodedImage, decode_image, decode_image_bytes
from rempart.media.limits import DEFAULT_LIMITS, MediaLimits
from rempart.media.reading import read_source
from rempart.media.video import (
    DEFAULT_VIDEO_LIMITS,
    VIDEO_CODECS,
    VIDEO_FORMATS,
    SampledFrame,
    VideoInfo,
    VideoLimits,
    VideoReader,
    open_video,
    sniff_video_format,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_VIDEO_LIMITS",
    "IMAGE_FORMATS",
    "VIDEO_CODECS",
    "VIDEO_FORMATS",
    "DecodedImage",
    "MediaLimits",
    "SampledFrame",
    "VideoInfo",
    "VideoLimits",
    "VideoReader",
    "decode_image",
    "decode_image_bytes",
    "open_video",
    "read_source",
    "sniff_video_format",
]
