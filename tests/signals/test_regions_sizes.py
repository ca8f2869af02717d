"""Regional signatures of any image that decodes, down to the smallest rempart accepts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rempart.signals import compute_image_signals
from tests.media.images import encode


@settings(max_examples=40, deadline=None)
@given(width=st.integers(5, 40), height=st.integers(5, 400), seed=st.integers(0, 1000))
def test_small_and_thin_images_get_signatures(width: int, height: int, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)

    signals = compute_image_signals(
        encode(Image.fromarray(pixels), "PNG"), regions=True, query_regions=True
    )

    assert signals.regions is not None and signals.query_regions is not None
    for region in signals.regions.regions:
        x0, y0, x1, y1 = region.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
