"""Decoding: every supported format, modes, orientation, animation, and bounded bad inputs."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rempart.errors import (
    CorruptMedia,
    MediaError,
    TooLarge,
    TooSmall,
    Unreadable,
    UnsupportedFormat,
)
from rempart.media import MediaLimits, decode_image, decode_image_bytes
from tests.conftest import PDQ_REFERENCE
from tests.media.images import (
    encode,
    jpeg_with_declared_size,
    png_bomb,
    png_header_only,
    textured,
    with_orientation,
)

PICTURE = textured(320, 240)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {"quality": 90}),
        ("PNG", {}),
        ("WEBP", {"quality": 90}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("HEIF", {"quality": 90}),
    ],
)
def test_every_supported_format_decodes_to_upright_rgb(fmt: str, params: dict[str, object]) -> None:
    image = decode_image_bytes(encode(PICTURE, fmt, **params))

    assert image.rgb.shape == (240, 320, 3)
    assert image.rgb.dtype == np.uint8
    assert image.rgb.flags["C_CONTIGUOUS"]
    assert (image.width, image.height) == (320, 240)
    assert image.format == fmt
    # Lossy formats stay close to the original pixels.
    error = np.abs(image.rgb.astype(int) - np.asarray(PICTURE, dtype=int)).mean()
    assert error < 25


def test_a_path_and_its_bytes_decode_alike(tmp_path: os.PathLike[str]) -> None:
    data = encode(PICTURE, "PNG")
    path = os.path.join(tmp_path, "picture.png")
    with open(path, "wb") as handle:
        handle.write(data)

    assert np.array_equal(decode_image(path).rgb, decode_image_bytes(data).rgb)


def test_wrong_extension_is_ignored(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "really-a-png.jpg")
    with open(path, "wb") as handle:
        handle.write(encode(PICTURE, "PNG"))

    assert decode_image(path).format == "PNG"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_and_stored_order_kept(orientation: int) -> None:
    stored = textured(300, 200, seed=3)
    image = decode_image_bytes(with_orientation(stored, orientation))

    assert image.orientation == orientation
    assert image.stored_rgb.shape == (200, 300, 3)
    upright_shape = (300, 200, 3) if orientation >= 5 else (200, 300, 3)
    assert image.rgb.shape == upright_shape
    assert (image.height, image.width) == upright_shape[:2]
    expected = Image.fromarray(image.stored_rgb)
    transposes = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    if orientation != 1:
        expected = expected.transpose(transposes[orientation])
    assert np.array_equal(image.rgb, np.asarray(expected))


def test_transparency_is_composited_over_white() -> None:
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[:32, :, :] = (200, 10, 10, 255)  # opaque red top half, transparent bottom half
    image = decode_image_bytes(encode(Image.fromarray(rgba), "PNG"))

    assert tuple(image.rgb[10, 10]) == (200, 10, 10)
    assert tuple(image.rgb[50, 10]) == (255, 255, 255)


def test_palette_transparency_is_composited_over_white() -> None:
    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([10, 200, 10] * 256)
    palette.paste(1, (0, 16, 32, 32))
    image = decode_image_bytes(encode(palette, "GIF", transparency=1))

    assert tuple(image.rgb[4, 4]) == (10, 200, 10)
    assert tuple(image.rgb[28, 4]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["P", "LA", "CMYK", "L", "1", "I;16", "I", "F"])
def test_any_mode_becomes_rgb(mode: str) -> None:
    grey = PICTURE.convert("L")
    if mode == "I;16":
        source = Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257)
        fmt = "PNG"
    elif mode == "I":
        source = Image.fromarray(np.asarray(grey, dtype=np.int32) * 257)
        fmt = "TIFF"
    elif mode == "F":
        source = Image.fromarray(np.asarray(grey, dtype=np.float32) / 255.0)
        fmt = "TIFF"
    else:
        source = PICTURE.convert(mode)
        fmt = "JPEG" if mode == "CMYK" else "PNG"
    assert source.mode == mode
    image = decode_image_bytes(encode(source, fmt))

    assert image.rgb.shape == (240, 320, 3)
    if mode in ("I;16", "I", "F", "L"):
        # High bit depths are scaled to 8 bits, not clipped to white.
        luma = image.rgb[..., 0].astype(int)
        assert abs(luma.mean() - np.asarray(grey, dtype=int).mean()) < 2


def test_every_reference_mode_file_decodes() -> None:
    folder = PDQ_REFERENCE / "misc" / "modes"
    files = sorted(folder.iterdir())
    assert len(files) >= 14
    for path in files:
        image = decode_image(path)
        assert image.rgb.shape == (1004, 1600, 3), path.name


def test_animated_gif_gives_first_frame_and_all_frames() -> None:
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    frames = [Image.new("RGB", (40, 30), colour) for colour in colours]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = decode_image_bytes(data)

    assert image.frame_count == 3
    assert tuple(image.rgb[5, 5]) == colours[0]
    all_frames = list(image.frames())
    assert [tuple(frame[5, 5]) for frame in all_frames] == colours


def test_frames_stop_at_the_frame_limit() -> None:
    frames = [Image.new("RGB", (20, 20), (i * 20, 0, 0)) for i in range(6)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    image = decode_image_bytes(data, MediaLimits(max_frames=4))

    assert len(list(image.frames())) == 4


def test_large_images_are_reduced_to_the_working_side() -> None:
    big = textured(3000, 1000)
    for fmt in ("JPEG", "PNG"):
        image = decode_image_bytes(encode(big, fmt), MediaLimits(working_side=1024))
        assert image.rgb.shape == (341, 1024, 3)
        assert (image.width, image.height) == (3000, 1000)


def test_extreme_aspect_ratio_keeps_a_usable_short_side() -> None:
    strip = textured(20000, 6)
    image = decode_image_bytes(encode(strip, "PNG"))

    assert image.rgb.shape == (6, 2048, 3)


# Every bad input of the issue, with the exact error type rempart promises.
def _truncated(fmt: str) -> bytes:
    data = encode(textured(400, 300), fmt)
    return data[: len(data) // 2]


BAD_INPUTS = [
    ("zero bytes", b"", UnsupportedFormat),
    (
        "random bytes",
        bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)),
        UnsupportedFormat,
    ),
    ("text file named .jpg", b"Dear helpline, here is my statement.\n" * 20, UnsupportedFormat),
    ("truncated JPEG", _truncated("JPEG"), CorruptMedia),
    ("truncated PNG", _truncated("PNG"), CorruptMedia),
    ("truncated WebP", _truncated("WEBP"), CorruptMedia),
    ("truncated GIF", _truncated("GIF")[:40], CorruptMedia),
    ("JPEG header only", encode(PICTURE, "JPEG")[:200], CorruptMedia),
    ("PNG with 0 pixels", png_header_only(0, 0), CorruptMedia),
    ("PNG with 1 pixel", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), TooSmall),
    ("GIF with 1 pixel", encode(Image.new("P", (1, 1)), "GIF"), TooSmall),
    ("2 pixels tall, very wide", png_header_only(100000, 2), TooSmall),
    ("decompression bomb PNG 30000x30000", png_bomb(30000), TooLarge),
    (
        "JPEG declaring 60000x60000",
        jpeg_with_declared_size(encode(PICTURE, "JPEG"), 60000, 60000),
        TooLarge,
    ),
    ("very tall, over the pixel limit", png_header_only(4, 40_000_000), TooLarge),
]


@pytest.mark.parametrize(("label", "data", "error"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_raises_its_typed_error(label: str, data: bytes, error: type[MediaError]) -> None:
    with pytest.raises(error) as raised:
        decode_image_bytes(data)
    assert type(raised.value) is error
    assert raised.value.message


def test_byte_limit_is_checked_before_reading(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "big.png")
    with open(path, "wb") as handle:
        handle.write(encode(PICTURE, "PNG"))

    with pytest.raises(TooLarge):
        decode_image(path, MediaLimits(max_bytes=1000))


def test_pixel_limit_is_configurable() -> None:
    data = encode(PICTURE, "PNG")

    with pytest.raises(TooLarge):
        decode_image_bytes(data, MediaLimits(max_pixels=320 * 240 - 1))
    assert decode_image_bytes(data, MediaLimits(max_pixels=320 * 240)).width == 320


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_unreadable_paths(tmp_path: os.PathLike[str], make: str) -> None:
    path = os.path.join(tmp_path, "nothing.jpg")
    if make == "folder":
        os.mkdir(path)
    with pytest.raises(Unreadable):
        decode_image(path)


MODES = ["RGB", "RGBA", "L", "LA", "P", "1", "CMYK", "I;16"]
FORMATS = {"PNG": {"RGB", "RGBA", "L", "LA", "P", "1", "I;16"}, "JPEG": {"RGB", "L", "CMYK"}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 3000),
    height=st.integers(1, 3000),
    mode=st.sampled_from(MODES),
    fmt=st.sampled_from(sorted(FORMATS)),
    seed=st.integers(0, 2**16),
)
def test_any_generated_image_hashes_or_raises_a_media_error(
    width: int, height: int, mode: str, fmt: str, seed: int
) -> None:
    from rempart.signals import compute_image_signals

    if mode not in FORMATS[fmt]:
        mode = "RGB"
    height = max(1, min(height, 1_000_000 // width))  # keep generation quick
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if mode == "I;16":
        image = Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
    elif mode != "RGB":
        image = image.convert(mode)
    data = encode(image, fmt)
    try:
        signals = compute_image_signals(data)
    except MediaError:
        assert min(width, height) < 5
        return
    assert len(signals.pdq.hex) == 64
    assert 0 <= signals.pdq.quality <= 100


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    with contextlib.suppress(MediaError):
        decode_image_bytes(data)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 100), flip=st.integers(0, 10_000))
def test_damaged_real_photo_never_escapes_as_other_errors(cut: int, flip: int) -> None:
    data = bytearray(encode(PICTURE, "JPEG"))
    data = data[: max(0, len(data) * cut // 100)]
    if data:
        data[flip % len(data)] ^= 0xFF
    with contextlib.suppress(MediaError):
        decode_image_bytes(bytes(data))
