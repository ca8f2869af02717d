"""What a region hash gives away: reconstructions from the 256 bits alone (docs/privacy-regions.md).

    .venv/bin/python benchmarks/privacy_figure.py [--folder ../shared/data/photos]
        [--photo img_0003.jpg] [--output docs/img/privacy-regions.png]

PDQ keeps one bit per coefficient of the 16x16 lowest frequencies (DC excluded) of the region's
64x64 luma: whether the coefficient is above the median of the 256. The figure shows, for the
face region (cascade box x1.2), the inner face (x1.0), the head region (x2.2) and the whole
image of one benign shared photo:

1. the 64x64 luma that PDQ sees;
2. the ceiling: the same 16x16 coefficients with their true values (what 256 *real numbers*
   would show; the hash holds 256 *bits*);
3. the signs with each coefficient's typical magnitude (estimated on every other photo);
4. the best linear attack we could build: ridge regression from the 256 bits to the 64x64
   pixels, trained on the same kind of region from every other photo (shifted and zoomed
   copies included).

Prints the correlation of each reconstruction with the original. Deterministic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from rempart.signals._faces import detect_faces
from rempart.signals.pdq import pdq_hash
from rempart.signals.regions import FACE_GROWTH, HEAD_GROWTH, INNER_FACE_GROWTH, _Canvas, grow

ROOT = Path(__file__).resolve().parents[1]
SIDE = 64
# PDQ's DCT: 16 rows (frequencies 1..16, DC excluded) of a 64-point DCT-II.
DCT = np.array(
    [
        [
            np.sqrt(2 / SIDE) * np.cos(np.pi / (2 * SIDE) * (i + 1) * (2 * k + 1))
            for k in range(SIDE)
        ]
        for i in range(16)
    ]
)


def luma(tile: np.ndarray) -> np.ndarray:
    rgb = tile.astype(np.float64)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def bits_of(tile: np.ndarray) -> np.ndarray:
    """The 256 hash bits as +-1 on the 16x16 grid (PDQ stores them reversed, row-major)."""
    packed = pdq_hash(np.ascontiguousarray(tile)).bits
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8))[::-1]
    return bits.reshape(16, 16).astype(np.float64) * 2 - 1


def region_tiles(canvas: _Canvas, kind: str) -> list[np.ndarray]:
    """The region of ``kind`` plus shifted and zoomed copies (training data for the attack)."""
    if kind == "whole":
        boxes = [(0.0, 0.0, 1.0, 1.0)]
    else:
        growth = {"face": FACE_GROWTH, "inner": INNER_FACE_GROWTH, "head": HEAD_GROWTH}[kind]
        boxes = [grow(face, growth) for face in detect_faces(canvas.grey)[:3]]
    tiles = []
    for box in boxes:
        w = box[2] - box[0]
        for dx in (-0.03, 0.0, 0.03):
            for zoom in (0.97, 1.0, 1.03):
                moved = grow((box[0] + dx * w, box[1], box[2] + dx * w, box[3]), zoom)
                x0, y0, x1, y1 = canvas.pixels(moved)
                tiles.append(
                    cv2.resize(canvas.rgb[y0:y1, x0:x1], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
                )
    return tiles


def reconstructions(target: np.ndarray, training: list[np.ndarray]) -> list[np.ndarray]:
    y = luma(target)
    coefficients = DCT @ y @ DCT.T
    ceiling = DCT.T @ coefficients @ DCT + y.mean()
    signs = bits_of(target)
    train_coeffs = np.stack([DCT @ luma(t) @ DCT.T for t in training])
    centred = (
        train_coeffs - np.median(train_coeffs.reshape(len(training), -1), axis=1)[:, None, None]
    )
    magnitude = np.median(np.abs(centred), axis=0)
    by_sign = DCT.T @ (signs * magnitude) @ DCT + 128.0
    features = np.stack([bits_of(t).ravel() for t in training])
    features = np.hstack([features, np.ones((len(training), 1))])
    pixels = np.stack([luma(t).ravel() for t in training])
    ridge = 10.0 * np.eye(features.shape[1])
    weights = np.linalg.solve(features.T @ features + ridge, features.T @ pixels)
    attack = (np.append(signs.ravel(), 1.0) @ weights).reshape(SIDE, SIDE)
    return [y, ceiling, by_sign, attack]


def stretch(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1, 99))
    return np.clip((image - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    parser.add_argument("--photo", default="img_0003.jpg")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "img" / "privacy-regions.png"
    )
    args = parser.parse_args()
    photos = sorted(args.folder.glob("*.jpg"))
    canvases = {p.name: _Canvas(np.asarray(Image.open(p).convert("RGB"))) for p in photos}
    target = canvases[args.photo]
    rows = []
    labels = [
        "PDQ input (64x64 luma)",
        "ceiling: 256 true coefficients",
        "bits x typical size",
        "best linear attack (ridge)",
    ]
    for kind in ("inner", "face", "head", "whole"):
        own = region_tiles(target, kind)
        if not own:
            continue
        training = [
            t for name, c in canvases.items() if name != args.photo for t in region_tiles(c, kind)
        ]
        images = reconstructions(own[4], training)
        scores = [np.corrcoef(images[0].ravel(), image.ravel())[0, 1] for image in images[1:]]
        mean_region = np.mean([luma(t) for t in training], axis=0)
        baseline = np.corrcoef(images[0].ravel(), mean_region.ravel())[0, 1]
        print(
            f"{kind}: the average {kind} region of the other photos alone: {baseline:.2f};", end=" "
        )
        print(
            kind,
            f"{len(training)} training regions;",
            "correlation with the input:",
            ", ".join(
                f"{label} {score:.2f}" for label, score in zip(labels[1:], scores, strict=True)
            ),
        )
        rows.append((kind, [stretch(image) for image in images]))
    scale = 2
    cell = SIDE * scale
    figure = Image.new("L", (110 + 4 * (cell + 8), 24 + len(rows) * (cell + 8)), 255)
    draw = ImageDraw.Draw(figure)
    for column, label in enumerate(labels):
        draw.text((110 + column * (cell + 8), 4), label[:22], fill=0)
    for number, (kind, images) in enumerate(rows):
        top = 24 + number * (cell + 8)
        draw.text(
            (4, top + cell // 2),
            {
                "inner": "inner face x1.0",
                "face": "face x1.2",
                "head": "head x2.2",
                "whole": "whole image",
            }[kind],
            fill=0,
        )
        for column, image in enumerate(images):
            tile = Image.fromarray(image).resize((cell, cell), Image.Resampling.NEAREST)
            figure.paste(tile, (110 + column * (cell + 8), top))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
