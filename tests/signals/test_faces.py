"""The query side's faces: the reference's first, then those fewer cascade windows confirm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rempart.signals._faces import detect_faces, detect_query_faces

GROUPS = ("img_0085.jpg", "img_0098.jpg", "img_0135.jpg", "img_0280.jpg")


def test_query_faces_start_with_exactly_the_reference_faces(photos: list[Path]) -> None:
    # The first photos, and group photos where the lower threshold finds more faces.
    groups = [path for path in photos if path.name in GROUPS]
    greys = [np.asarray(Image.open(path).convert("L")) for path in [*photos[:40], *groups]]
    weaker = 0
    for grey in greys:
        reference, query = detect_faces(grey), detect_query_faces(grey)
        assert query[: len(reference)] == reference
        weaker += len(query) - len(reference)
    assert any(detect_faces(grey) for grey in greys), "some of these photos show faces"
    assert weaker > 0, "the lower threshold finds more boxes in some photo"
