"""The C kernels of the query side (rempart/signals/_tiles.c) against OpenCV and NumPy oracles."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rempart.signals import _tiles
from rempart.signals.regions import pdq_of_tiles
from tests.conftest import PHOTOS


@pytest.fixture(scope="module")
def luma() -> np.ndarray:
    rgb = np.asarray(Image.open(PHOTOS / "img_0003.jpg").convert("RGB"), dtype=np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.ascontiguousarray(grey, dtype=np.float32)


def opencv_tiles(image: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    tiles = np.empty((len(bounds), 64, 64), dtype=np.float32)
    for number, (x0, y0, x1, y1) in enumerate(bounds.tolist()):
        cv2.resize(image[y0:y1, x0:x1], (64, 64), dst=tiles[number], interpolation=cv2.INTER_AREA)
    return tiles


def kernel_tiles(image: np.ndarray, bounds: np.ndarray) -> tuple[int, np.ndarray]:
    tiles = np.full((len(bounds), 64, 64), np.nan, dtype=np.float32)
    filled = _tiles.area_tiles(image, image.shape[0], image.shape[1], bounds, tiles)
    return filled, tiles


def test_reductions_equal_opencvs_area_resampling(luma: np.ndarray) -> None:
    height, width = luma.shape
    rng = np.random.default_rng(5)
    bounds = [
        (0, 0, width, height),  # the whole image: fractional cells both ways
        (0, 0, 64, 64),  # nothing to reduce
        (10, 20, 138, 148),  # exactly half: OpenCV's integer-scale path
        (width - 65, height - 97, width, height),  # touching the far edges
    ]
    for _ in range(200):
        w, h = int(rng.integers(64, width + 1)), int(rng.integers(64, height + 1))
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        bounds.append((x0, y0, x0 + w, y0 + h))
    array = np.array(bounds, dtype=np.int32)
    filled, ours = kernel_tiles(luma, array)
    theirs = opencv_tiles(luma, array)
    assert filled == len(bounds)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)
    # Float rounding only: the hashes are the same bits.
    assert pdq_of_tiles(ours) == pdq_of_tiles(theirs)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 300),
    st.integers(1, 300),
    st.integers(0, 2**31 - 1),
)
def test_any_box_size_is_reduced_as_opencv_does(width: int, height: int, seed: int) -> None:
    image = np.random.default_rng(seed).uniform(0, 255, (height + 3, width + 5)).astype(np.float32)
    bounds = np.array([(2, 1, 2 + width, 1 + height)], dtype=np.int32)
    filled, ours = kernel_tiles(image, bounds)
    if width < 64 or height < 64:
        # Enlargements are OpenCV's (linear weights): left to the caller, tile untouched.
        assert filled == 0 and np.isnan(ours).all()
    else:
        assert filled == 1
        np.testing.assert_allclose(ours, opencv_tiles(image, bounds), rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    "bounds",
    [(-1, 0, 64, 64), (0, 0, 513, 64), (0, 0, 64, 385), (10, 0, 10, 64), (0, 70, 64, 70)],
)
def test_a_box_outside_the_image_is_refused(luma: np.ndarray, bounds: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="outside"):
        kernel_tiles(luma, np.array([bounds], dtype=np.int32))


def test_mismatched_arrays_are_refused(luma: np.ndarray) -> None:
    bounds = np.array([(0, 0, 64, 64)], dtype=np.int32)
    height, width = luma.shape
    with pytest.raises(ValueError, match="tiles"):
        _tiles.area_tiles(luma, height, width, bounds, np.empty((2, 64, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="image"):
        _tiles.area_tiles(luma, height - 1, width, bounds, np.empty((1, 64, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="out"):
        _tiles.tile_quality(np.zeros((2, 64, 64), np.float32), np.empty(3, dtype=np.int64))


def numpy_quality(tiles: np.ndarray) -> np.ndarray:
    """PDQ's quality written out in NumPy float32, as the C++ reference computes it."""
    total = np.zeros(len(tiles), dtype=np.int64)
    for steps in (np.abs(np.diff(tiles, axis=1)), np.abs(np.diff(tiles, axis=2))):
        total += (steps * np.float32(100) / np.float32(255)).astype(np.int32).sum(axis=(1, 2))
    return np.minimum(total // 90, 100)


def test_quality_equals_pdqs_formula() -> None:
    rng = np.random.default_rng(11)
    smooth = cv2.GaussianBlur(rng.uniform(0, 255, (64, 64)).astype(np.float32), (0, 0), 6)
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.float32)  # saturates: 100
    tiles = np.stack(
        [
            np.zeros((64, 64), np.float32),  # flat: 0
            smooth,
            smooth * 0.1,
            checker,
            *rng.uniform(0, 255, (20, 64, 64)).astype(np.float32),
        ]
    )
    quality = np.empty(len(tiles), dtype=np.int64)
    _tiles.tile_quality(tiles, quality)
    assert quality.tolist() == numpy_quality(tiles).tolist()
    assert quality[0] == 0 and quality[3] == 100
