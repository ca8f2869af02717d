"""Face boxes from OpenCV's bundled Haar cascade, used only to anchor regions (never to identify).

The cascade file ships inside the ``opencv-python-headless`` wheel (OpenCV 4; OpenCV 5 dropped
the cascades from the main module, hence the ``<5`` pin) and the same XML file loads in
OpenCV.js, so a browser port finds the same boxes. Detection runs on a grey copy whose longest
side is :data:`DETECTION_SIDE`: at full resolution the cascade dominates hashing time (about
70 ms at 512 px against about 20 ms at 320 px, measured on the shared photos) and a face smaller
than the cascade's 24-pixel window at 320 px covers under 8% of the image, too little to carry a
useful region anyway.
"""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np
from numpy.typing import NDArray

CASCADE_FILE = "haarcascade_frontalface_alt2.xml"
DETECTION_SIDE = 320
# alt2 with these settings found faces in 92 of the 107 shared photos that show one, with false
# detections in 2 of the other 343 (the default cascade finds 93 but fires on 14 non-faces).
SCALE_FACTOR = 1.2
MIN_NEIGHBORS = 4
MIN_FACE_PIXELS = 24
# The query side also takes faces that only 2 neighbouring windows confirm, after those the
# reference's setting finds. In a fake that keeps the face, the blended mask edge weakens the
# cascade's response: in one fake of 99 (regen_face_kept; its "face", a sign the cascade takes
# for one, had 5+ windows in the original) 3-4 windows found it, and it was missed.
# A false face on the query only adds a few lookups in the small face index (evidence still
# needs regions agreeing on one transform); no other variant's recall changed (measured on both
# folds: crops, off-centre crops, regen50 and its squared and cropped forms).
QUERY_MIN_NEIGHBORS = 2

Box = tuple[float, float, float, float]


_local = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    """This thread's cascade: a CascadeClassifier must not run in two threads at once (the
    service hashes uploads in a thread pool; a shared one raised cv2.error under load)."""
    cascade: cv2.CascadeClassifier | None = getattr(_local, "cascade", None)
    if cascade is None:
        path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)  # type: ignore[attr-defined]
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():  # pragma: no cover - a broken OpenCV install, not a runtime condition
            raise RuntimeError(f"OpenCV face cascade missing at {path}")
        _local.cascade = cascade
    return cascade


def detection_copy(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The grey image reduced (area interpolation) so its longest side is at most 320 px."""
    height, width = grey.shape
    scale = DETECTION_SIDE / max(height, width)
    if scale >= 1:
        return grey
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def detect_faces(grey: NDArray[np.uint8]) -> list[Box]:
    """Face boxes in normalised 0-1 coordinates of ``grey``, largest first.

    ``grey`` is a ``uint8`` array (height, width). Boxes are the cascade's own squares in the
    reduced copy's pixels, divided by its size; nothing else about the face is computed.
    """
    return [box for box, _ in _detections(grey, MIN_NEIGHBORS)]


def detect_query_faces(grey: NDArray[np.uint8]) -> list[Box]:
    """The faces of an image being checked: those :func:`detect_faces` finds (the same boxes,
    largest first), then those only :data:`QUERY_MIN_NEIGHBORS` to :data:`MIN_NEIGHBORS`
    windows confirm, largest first.

    One cascade run gives both: OpenCV groups the windows the same way whatever the threshold
    and keeps a group with more windows than it, and a weaker group cannot hide a stronger one
    nested in it (OpenCV's ``groupRectangles``), so the strong groups are the reference's faces.
    """
    found = _detections(grey, QUERY_MIN_NEIGHBORS)
    return [box for box, windows in found if windows > MIN_NEIGHBORS] + [
        box for box, windows in found if windows <= MIN_NEIGHBORS
    ]


def _detections(grey: NDArray[np.uint8], min_neighbors: int) -> list[tuple[Box, int]]:
    """(box, windows grouped in it) of each face, largest first."""
    small = detection_copy(grey)
    height, width = small.shape
    found, windows = _cascade().detectMultiScale2(
        small,
        scaleFactor=SCALE_FACTOR,
        minNeighbors=min_neighbors,
        minSize=(MIN_FACE_PIXELS, MIN_FACE_PIXELS),
    )
    boxes = [
        ((x / width, y / height, (x + w) / width, (y + h) / height), count)
        for (x, y, w, h), count in zip(
            np.asarray(found, dtype=np.int64).reshape(-1, 4).tolist(),
            np.asarray(windows, dtype=np.int64).reshape(-1).tolist(),
            strict=True,
        )
    ]
    return sorted(
        boxes, key=lambda item: (-(item[0][2] - item[0][0]) * (item[0][3] - item[0][1]), item[0])
    )
