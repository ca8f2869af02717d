"""Face boxes are the same whatever thread asks: the service and the bot hash in thread pools."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from rempart.signals._faces import detect_faces


def test_detection_is_identical_across_concurrent_threads(photos: list[Path]) -> None:
    greys = [np.asarray(Image.open(path).convert("L")) for path in photos[:30]]
    expected = [detect_faces(grey) for grey in greys]
    assert any(expected), "some of these photos show faces"
    differences: list[int] = []

    def work() -> None:
        for _ in range(3):
            for number, grey in enumerate(greys):
                if detect_faces(grey) != expected[number]:
                    differences.append(number)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert differences == []
