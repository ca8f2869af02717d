"""Small helpers that build test images in memory."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def textured(width: int, height: int, seed: int = 0) -> Image.Image:
    """A deterministic picture with structure at several scales (PDQ quality well above 50)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = (np.sin(x / max(width, 1) * 7 + seed) + np.cos(y / max(height, 1) * 5)) * 60 + 128
    noise = rng.normal(0, 12, (height, width))
    red = np.clip(base + noise, 0, 255)
    green = np.clip(255 - base + noise, 0, 255)
    blue = np.clip(base * 0.5 + 64 + noise, 0, 255)
    return Image.fromarray(np.stack([red, green, blue], axis=2).astype(np.uint8))


def png_header_only(width: int, height: int, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """A PNG that declares a size in its IHDR, followed by a tiny (invalid-length) IDAT and IEND."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_bomb(side: int) -> bytes:
    """A valid 1-bit greyscale PNG of side x side pixels: a few hundred KB that inflate to GBs."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(compressor.compress(row * (side % 1000)))
    parts.append(compressor.flush())
    idat = b"".join(parts)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame header (SOF0/SOF2) of a JPEG to declare another size."""
    data = bytearray(jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            data[at + 5 : at + 9] = struct.pack(">HH", height, width)
            return bytes(data)
    raise ValueError("no SOF marker")


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())
