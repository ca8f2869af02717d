"""Regional signatures: extraction (boxes, normalisation, determinism), wire and binary forms."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from rempart.errors import InvalidSignal
from rempart.signals import QUALITY_FLOOR, PdqHash, pdq_hash
from rempart.signals._faces import detect_faces
from rempart.signals.regions import (
    FACE_GROWTH,
    HEAD_GROWTH,
    INNER_FACE_GROWTH,
    MAX_QUERY_REGIONS,
    MAX_REFERENCE_REGIONS,
    ZOOM_TARGETS,
    Region,
    RegionalSignature,
    compute_query_regions,
    compute_regional_signature,
    grid,
    grow,
    layout_box,
    mirror,
    pdq_of_tiles,
    quantise_box,
    zoom_target,
)
from tests.conftest import PHOTOS

# img_0003 shows one face (manifest: faces_detected 1); img_0010 none.
FACE_PHOTO = PHOTOS / "img_0003.jpg"
PLAIN_PHOTO = PHOTOS / "img_0010.jpg"


def rgb_of(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def plain() -> np.ndarray:
    return rgb_of(PLAIN_PHOTO)


@pytest.fixture(scope="module")
def plain_signature(plain: np.ndarray) -> RegionalSignature:
    return compute_regional_signature(plain)


def test_reference_signature_is_small_valid_and_starts_with_the_whole_image(
    plain_signature: RegionalSignature,
) -> None:
    assert 10 <= len(plain_signature) <= MAX_REFERENCE_REGIONS
    assert len(plain_signature.to_bytes()) <= 2048
    assert plain_signature.regions[0].box == (0.0, 0.0, 1.0, 1.0)
    for region in plain_signature.regions:
        x0, y0, x1, y1 = region.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert region.hash.quality >= QUALITY_FLOOR
    boxes = [region.box for region in plain_signature.regions]
    assert len(set(boxes)) == len(boxes)


def test_same_pixels_give_the_same_signature(
    plain: np.ndarray, plain_signature: RegionalSignature
) -> None:
    assert compute_regional_signature(plain.copy()) == plain_signature


def test_boxes_are_normalised_so_a_resized_copy_has_the_same_layout(
    plain: np.ndarray, plain_signature: RegionalSignature
) -> None:
    height, width = plain.shape[:2]
    half = np.asarray(Image.fromarray(plain).resize((width // 2, height // 2), Image.LANCZOS))
    smaller = compute_regional_signature(half).regions
    pairs = []
    for region in plain_signature.regions:
        near = [r for r in smaller if np.allclose(r.box, region.box, atol=0.006)]
        if near:
            pairs.append((region, near[0]))
    # The fixed layout (whole image, grids, square) is found again at the same normalised boxes;
    # anchor-pair boxes (up to 12) may move by a pixel of the smaller image.
    found = [a.box for a, _ in pairs]
    for box in [(0.0, 0.0, 1.0, 1.0), *grid(3)]:
        assert any(np.allclose(box, other, atol=0.006) for other in found), box
    assert len(pairs) >= 0.6 * len(plain_signature)
    close = [a for a, b in pairs if a.hash.distance(b.hash) <= 31]
    assert len(close) >= 0.9 * len(pairs)


def test_face_regions_are_the_cascade_box_grown_by_their_margins() -> None:
    rgb = rgb_of(FACE_PHOTO)
    faces = detect_faces(np.asarray(Image.fromarray(rgb).convert("L")))
    assert len(faces) >= 1
    boxes = {region.box for region in compute_regional_signature(rgb).regions}
    for growth in (FACE_GROWTH, INNER_FACE_GROWTH, HEAD_GROWTH):
        expected = grow(faces[0], growth)
        assert any(np.allclose(box, expected, atol=0.01) for box in boxes), growth


def test_flat_regions_are_dropped() -> None:
    assert len(compute_regional_signature(np.full((300, 400, 3), 90, np.uint8))) == 0
    # Texture in the top-left quarter only: no region may lie wholly in the flat rest.
    rng = np.random.default_rng(3)
    image = np.full((400, 400, 3), 128, dtype=np.uint8)
    image[:200, :200] = rng.integers(0, 256, (200, 200, 1), dtype=np.uint8)
    regions = compute_regional_signature(image).regions
    assert regions
    for region in regions:
        x0, y0, _, _ = region.box
        assert x0 < 0.5 and y0 < 0.5, region.box


def test_grid_tiles_cover_the_frame_row_by_row() -> None:
    tiles = grid(3, (0.1, 0.2, 0.7, 0.8))
    assert len(tiles) == 9
    assert tiles[0] == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert tiles[-1] == pytest.approx((0.5, 0.6, 0.7, 0.8))


def test_query_regions_include_mirrored_ones_in_mirror_coordinates(plain: np.ndarray) -> None:
    query = compute_query_regions(plain)
    assert len(query.probes) <= MAX_QUERY_REGIONS
    mirrored = [p for p in query.probes if p.mirrored]
    assert mirrored
    flipped = compute_regional_signature(np.ascontiguousarray(plain[:, ::-1]))
    by_box = {region.box: region.hash for region in flipped.regions}
    # A mirrored query region hashes what the mirror image shows in its box.
    hits = [p for p in mirrored if p.region.box in by_box]
    assert hits
    assert all(p.region.hash.distance(by_box[p.region.box]) <= 8 for p in hits)
    box = mirrored[0].region.box
    assert query.hash_box(box, mirrored=True).distance(mirrored[0].region.hash) <= 2
    assert mirror(mirror(box)) == pytest.approx(box)


def test_query_regions_find_the_picture_inside_a_padding_border(plain: np.ndarray) -> None:
    height, width = plain.shape[:2]
    padded = np.full((height + 80, width + 100, 3), 255, dtype=np.uint8)
    padded[40 : 40 + height, 50 : 50 + width] = plain
    border = [p for p in compute_query_regions(padded).probes if p.kind == "border"]
    assert border
    x0, _, _, y1 = border[0].region.box
    assert x0 == pytest.approx(50 / (width + 100), abs=0.01)
    assert y1 == pytest.approx((40 + height) / (height + 80), abs=0.01)


regions_strategy = st.lists(
    st.tuples(
        st.binary(min_size=32, max_size=32),
        st.integers(0, 100),
        st.integers(0, 9_999),
        st.integers(0, 9_999),
        st.integers(1, 10_000),
        st.integers(1, 10_000),
    ),
    max_size=MAX_REFERENCE_REGIONS,
)


@given(regions_strategy)
def test_json_and_binary_forms_round_trip(raw: list[tuple[bytes, int, int, int, int, int]]) -> None:
    regions = []
    for bits, quality, x0, y0, w, h in raw:
        x1, y1 = min(10_000, x0 + w), min(10_000, y0 + h)
        box = (x0 / 10_000, y0 / 10_000, x1 / 10_000, y1 / 10_000)
        regions.append(Region(PdqHash(bits, quality), box))
    signature = RegionalSignature(tuple(regions))
    assert RegionalSignature.from_json(signature.to_json()) == signature
    assert RegionalSignature.from_bytes(signature.to_bytes()) == signature
    assert len(signature.to_bytes()) == 6 + 41 * len(regions)


def wire(*regions: dict[str, object]) -> dict[str, object]:
    return {"type": "regions", "regions": list(regions)}


GOOD = {"value": "ab" * 32, "quality": 90, "box": [0.1, 0.2, 0.5, 0.6]}


@pytest.mark.parametrize(
    "bad",
    [
        wire({**GOOD, "box": [0.1, 0.2, 1.5, 0.6]}),  # outside 0-1
        wire({**GOOD, "box": [-0.1, 0.2, 0.5, 0.6]}),
        wire({**GOOD, "box": [0.5, 0.2, 0.5, 0.6]}),  # x1 <= x0
        wire({**GOOD, "box": [0.1, 0.6, 0.5, 0.2]}),  # y1 <= y0
        wire({**GOOD, "box": [0.1, 0.2, 0.5]}),
        wire({**GOOD, "box": [0.1, 0.2, "0.5", 0.6]}),
        wire({**GOOD, "value": "zz" * 32}),
        wire({**GOOD, "value": "ab" * 31}),
        wire({**GOOD, "quality": 101}),
        wire({"value": "ab" * 32, "box": [0.1, 0.2, 0.5, 0.6]}),  # no quality
        {"type": "pdq", "regions": [GOOD]},
        {"type": "regions", "regions": "nope"},
        wire(*[GOOD] * (MAX_QUERY_REGIONS + 1)),
        [GOOD],
    ],
)
def test_malformed_signatures_are_refused(bad: object) -> None:
    with pytest.raises(InvalidSignal):
        RegionalSignature.from_json(bad)


def test_reference_limit_is_enforced_when_asked() -> None:
    with pytest.raises(InvalidSignal, match="over the limit"):
        RegionalSignature.from_json(wire(*[GOOD] * 49), max_regions=MAX_REFERENCE_REGIONS)
    with pytest.raises(InvalidSignal):
        RegionalSignature.from_bytes(b"RGN\x01\x01\x00" + b"\x00" * 40)


# --- the query side's batch hashing -------------------------------------------------------


def test_batch_tile_hashing_equals_the_reference_pdq(plain: np.ndarray) -> None:
    # Tiles of a real photo, cut and resampled to 64x64 as the reference side does; their luma
    # (taken as the C++ reference takes it) hashed in one batch must give the same bits and
    # quality as pdqhash on the RGB tile.
    rng = np.random.default_rng(3)
    height, width = plain.shape[:2]
    tiles = []
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x1, y1 = x0 + int(rng.integers(32, width // 2)), y0 + int(rng.integers(32, height // 2))
        tiles.append(cv2.resize(plain[y0:y1, x0:x1], (64, 64), interpolation=cv2.INTER_AREA))
    tiles.append(np.full((64, 64, 3), 128, dtype=np.uint8))  # flat: quality 0
    rgb = np.stack(tiles).astype(np.float32)
    luma = rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587)
    luma += rgb[..., 2] * np.float32(0.114)
    ours = pdq_of_tiles(luma)
    theirs = [pdq_hash(np.ascontiguousarray(tile)) for tile in tiles]
    # The flat tile's bits are arbitrary (every coefficient ties with the median): compare the
    # others' bits; its quality, 0, marks it unusable on both sides.
    distances = [a.distance(b) for a, b in zip(ours[:-1], theirs[:-1], strict=True)]
    print(f"\nbatch vs reference PDQ, bits per tile: {distances}")
    assert max(distances) <= 2, distances
    assert sum(d == 0 for d in distances) >= 0.9 * len(distances)
    assert [a.quality for a in ours] == [b.quality for b in theirs]
    assert ours[-1].quality == 0


def test_batch_hashes_of_query_boxes_match_single_hashes(plain: np.ndarray) -> None:
    query = compute_query_regions(plain)
    boxes = [(0.0, 0.0, 0.5, 0.5), (0.25, 0.1, 0.9, 0.7), (0.5, 0.5, 1.0, 1.0)]
    assert query.hash_boxes(boxes) == [query.hash_box(box) for box in boxes]
    assert query.hash_boxes(boxes, mirrored=True) == [
        query.hash_box(box, mirrored=True) for box in boxes
    ]
    assert pdq_of_tiles(np.zeros((0, 64, 64), dtype=np.float32)) == []


def test_zoom_ladder_boxes_name_the_tile_they_aim_at() -> None:
    for name, target in ZOOM_TARGETS.items():
        zoomed = tuple(0.5 + (v - 0.5) * 1.3 for v in target)
        assert zoom_target(quantise_box(zoomed)) == name
        assert zoom_target(target) is None  # zoom 1 is the tile itself, not a ladder step
    assert zoom_target((0.1, 0.1, 0.4, 0.4)) is None


@given(st.integers(100, 4000), st.integers(100, 4000))
def test_layout_boxes_are_known_whatever_the_aspect(width: int, height: int) -> None:
    fixed = [(0.0, 0.0, 1.0, 1.0), *grid(3), *grid(4), *grid(6)[7:11]]
    # The centred square of a non-square image and its tiles, as docs/derivatives.md lays out.
    layout = fixed
    if max(width, height) >= 1.05 * min(width, height):
        margin = (1 - min(width, height) / max(width, height)) / 2
        square = (
            (margin, 0.0, 1 - margin, 1.0) if width > height else (0.0, margin, 1.0, 1 - margin)
        )
        layout = [*fixed, square, *grid(3, square), *grid(4, square)]
    assert all(layout_box(quantise_box(box)) for box in layout)


def test_boxes_spanned_by_anchors_are_not_layout_boxes() -> None:
    # Anchors are sub-pixel corner positions: a box they span lands on a layout box's exact
    # lines (thirds or quarters, a centred square's columns) only by a vanishing chance.
    corners = np.random.default_rng(7).uniform(0.05, 0.95, size=(10_000, 4))
    boxes = [
        quantise_box((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
        for ax, ay, bx, by in corners.tolist()
    ]
    assert not any(layout_box(box) for box in boxes if box[0] < box[2] and box[1] < box[3])


def test_query_regions_say_which_tile_a_zoom_aims_at(plain: np.ndarray) -> None:
    kinds = {probe.kind for probe in compute_query_regions(plain).probes}
    assert {"layout", "mirror", "zoom-centre", "zoom-band-left", "zoom-band-right"} <= kinds
    for probe in compute_query_regions(plain).probes:
        if probe.kind.startswith("zoom-") and probe.kind != "zoom-4x4":
            assert zoom_target(probe.region.box) == probe.kind.removeprefix("zoom-")


def test_a_query_image_crosses_processes_without_its_luma_cache(plain: np.ndarray) -> None:
    query = compute_query_regions(plain)
    boxes = [(0.1, 0.1, 0.6, 0.6), (0.3, 0.2, 0.9, 0.8)]
    copy = pickle.loads(pickle.dumps(query))
    assert "luma" in vars(query._canvas)  # computed while hashing the query regions...
    assert "luma" not in vars(copy._canvas)  # ...and left behind: recomputed on demand
    assert copy.probes == query.probes
    assert copy.hash_boxes(boxes) == query.hash_boxes(boxes)
