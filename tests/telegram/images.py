"""Test pictures for the bot: shared photos as uploaded, and benign derivatives of them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def load(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def regen50(image: Image.Image, donor: Image.Image) -> bytes:
    """The lower-middle half of the frame (x 10%-90%, y from 36% down) replaced with another
    photo's pixels through a blurred mask, JPEG q85: how a "nudified" fake keeps the face and
    background and regenerates the body, simulated with a benign edit."""
    w, h = image.size
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[round(0.36 * h) : round((0.36 + 0.5 / 0.8) * h), round(0.1 * w) : round(0.9 * w)] = 255
    soft = Image.fromarray(mask).filter(ImageFilter.GaussianBlur(0.01 * min(w, h)))
    pasted = Image.composite(donor.resize((w, h), Image.Resampling.BILINEAR), image, soft)
    return jpeg(pasted, 85)
