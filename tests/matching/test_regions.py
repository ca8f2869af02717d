"""Derivative matching: geometric agreement, tiers, the matcher's life cycle, shared photos."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from rempart.errors import InvalidSignal
from rempart.index import BruteForceIndex
from rempart.matching.regions import (
    MAX_SEED_PAIRS,
    PLANNED_RADIUS,
    REMOVE_REGIONS,
    REVIEW_REGIONS,
    SEED_LOOKUPS,
    RegionMatcher,
    agreeing,
    fit,
    reference_targets,
    seed_plan,
    transforms_of,
)
from rempart.media import decode_image_bytes
from rempart.signals import PdqHash
from rempart.signals import regions as signal_regions
from rempart.signals._faces import detect_faces, detect_query_faces
from rempart.signals.regions import (
    FACE_GROWTH,
    MAX_REFERENCE_REGIONS,
    ZOOM_TARGETS,
    Region,
    RegionalSignature,
    compute_query_regions,
    compute_regional_signature,
    quantise_box,
)
from tests.conftest import PHOTOS

RNG_SEED = 11


def random_regions(count: int, rng: np.random.Generator) -> list[Region]:
    regions = []
    for _ in range(count):
        x0, y0 = rng.uniform(0.0, 0.6, size=2)
        w, h = rng.uniform(0.15, 0.35, size=2)
        box = quantise_box((x0, y0, x0 + w, y0 + h))
        regions.append(Region(PdqHash(rng.bytes(32), 90), box))
    return regions


def moved(regions: list[Region], sx: float, tx: float, sy: float, ty: float) -> list[Region]:
    """The same hashes at boxes mapped by x -> sx x + tx, y -> sy y + ty (clipped to 0-1)."""
    out = []
    for region in regions:
        x0, y0, x1, y1 = region.box
        box = (sx * x0 + tx, sy * y0 + ty, sx * x1 + tx, sy * y1 + ty)
        out.append(Region(region.hash, quantise_box(np.clip(box, 0.0, 1.0))))
    return out


# --- geometric agreement ------------------------------------------------------------------


def test_a_consistent_anisotropic_transform_is_recovered() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref = np.array([r.box for r in random_regions(6, rng)])
    true = (0.6, 0.2, 1.0, -0.1)  # squashed to 60% in x only, shifted
    query = np.stack(
        [ref[:, 0] * 0.6 + 0.2, ref[:, 1] - 0.1, ref[:, 2] * 0.6 + 0.2, ref[:, 3] - 0.1], axis=1
    )
    per_pair = transforms_of(query, ref)
    assert np.allclose(per_pair, true)
    assert agreeing(per_pair[0], query, ref).all()
    assert fit(query, ref) == pytest.approx(true)


def test_boxes_without_a_common_transform_do_not_agree() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref = np.array([r.box for r in random_regions(8, rng)])
    query = np.array([r.box for r in random_regions(8, rng)])
    per_pair = transforms_of(query, ref)
    agreements = [agreeing(transform, query, ref).sum() for transform in per_pair]
    assert max(agreements) <= 2  # each pair agrees with itself, at most one more by chance


def test_a_query_matches_when_its_regions_agree_on_one_transform() -> None:
    rng = np.random.default_rng(RNG_SEED)
    reference = random_regions(10, rng)
    matcher = RegionMatcher()
    matcher.add(7, RegionalSignature(tuple(reference)))
    # Half the regions survive, squashed in x and shifted; the rest are unrelated hashes.
    query = moved(reference[:5], 0.7, 0.1, 1.0, 0.0) + random_regions(5, rng)
    [found] = matcher.match(RegionalSignature(tuple(query)))
    assert (found.ref_id, found.tier, found.regions_agreeing) == (7, "remove", 5)
    assert found.transform == pytest.approx((0.7, 0.1, 1.0, 0.0), abs=1e-3)
    assert found.distance == 0


def test_the_same_hashes_in_scrambled_places_are_not_a_match() -> None:
    rng = np.random.default_rng(RNG_SEED)
    reference = random_regions(10, rng)
    matcher = RegionMatcher()
    matcher.add(1, RegionalSignature(tuple(reference)))
    boxes = [r.box for r in reference]
    order = [3, 7, 0, 9, 1, 5, 8, 2, 6, 4]
    scrambled = [Region(r.hash, boxes[k]) for r, k in zip(reference, order, strict=True)]
    assert matcher.match(RegionalSignature(tuple(scrambled))) == []


@pytest.mark.parametrize(
    ("agreeing_regions", "tier"),
    [(1, None), (REVIEW_REGIONS, "review"), (REMOVE_REGIONS, "remove"), (6, "remove")],
)
def test_tiers_follow_the_number_of_agreeing_regions(agreeing_regions: int, tier: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    reference = random_regions(8, rng)
    matcher = RegionMatcher()
    matcher.add(3, RegionalSignature(tuple(reference)))
    query = moved(reference[:agreeing_regions], 1.0, 0.0, 1.0, 0.0) + random_regions(4, rng)
    found = matcher.match(RegionalSignature(tuple(query)))
    assert [m.tier for m in found] == ([] if tier is None else [tier])


def test_near_hashes_count_and_far_ones_do_not() -> None:
    rng = np.random.default_rng(RNG_SEED)
    reference = random_regions(6, rng)
    matcher = RegionMatcher()
    matcher.add(2, RegionalSignature(tuple(reference)))

    def flipped(region: Region, bits: int) -> Region:
        value = np.unpackbits(region.hash.packed())
        value[rng.choice(256, size=bits, replace=False)] ^= 1
        return Region(PdqHash(np.packbits(value).tobytes(), 90), region.box)

    near = [flipped(r, 20) for r in reference[:3]]
    far = [flipped(r, 60) for r in reference[:3]]
    [found] = matcher.match(RegionalSignature(tuple(near)))
    assert found.regions_agreeing == 3 and found.distance == 20
    assert matcher.match(RegionalSignature(tuple(far))) == []


# --- life cycle ------------------------------------------------------------------------------


def test_add_remove_and_len() -> None:
    rng = np.random.default_rng(RNG_SEED)
    first, second = random_regions(5, rng), random_regions(5, rng)
    matcher = RegionMatcher()
    matcher.add_many([(1, RegionalSignature(tuple(first))), (2, RegionalSignature(tuple(second)))])
    assert len(matcher) == 2
    query = RegionalSignature(tuple(first))
    assert [m.ref_id for m in matcher.match(query)] == [1]
    assert matcher.remove(1) is True
    assert matcher.remove(1) is False
    assert len(matcher) == 1
    assert matcher.match(query) == []
    matcher.add(1, RegionalSignature(tuple(first)))
    assert [m.ref_id for m in matcher.match(query)] == [1]


def test_refusals() -> None:
    rng = np.random.default_rng(RNG_SEED)
    matcher = RegionMatcher()
    matcher.add(5, RegionalSignature(tuple(random_regions(3, rng))))
    with pytest.raises(ValueError, match="already"):
        matcher.add(5, RegionalSignature(tuple(random_regions(3, rng))))
    with pytest.raises(ValueError):
        matcher.add(-1, RegionalSignature(()))
    too_many = RegionalSignature(tuple(random_regions(MAX_REFERENCE_REGIONS + 1, rng)))
    with pytest.raises(InvalidSignal):
        matcher.add(6, too_many)
    with pytest.raises(ValueError, match="already"):  # nothing of a refused batch is added
        matcher.add_many([(8, RegionalSignature(())), (5, RegionalSignature(()))])
    assert len(matcher) == 1


# --- shared photos, end to end ---------------------------------------------------------------

PHOTO_NAMES = ["img_0003.jpg", "img_0012.jpg", "img_0020.jpg", "img_0041.jpg", "img_0061.jpg"]


def drawn_donor(size: tuple[int, int]) -> Image.Image:
    """Benign donor pixels: coloured shapes, so that no donor photo can cause a match."""
    rng = np.random.default_rng(RNG_SEED)
    donor = Image.new("RGB", size, (180, 150, 120))
    draw = ImageDraw.Draw(donor)
    for _ in range(40):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        r = int(rng.integers(5, max(6, size[0] // 6)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return donor


def regen50(image: Image.Image) -> Image.Image:
    """The lower-middle half of the frame (x 10-90%, y 36-98.5%) replaced, blurred mask."""
    w, h = image.size
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle(
        (round(0.1 * w), round(0.36 * h), round(0.9 * w), round(0.985 * h)), fill=255
    )
    return Image.composite(drawn_donor((w, h)), image, mask)


def square512(image: Image.Image) -> Image.Image:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((512, 512), Image.LANCZOS)


def reencoded(image: Image.Image) -> np.ndarray:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return decode_image_bytes(out.getvalue()).rgb


@pytest.fixture(scope="module")
def bank() -> tuple[RegionMatcher, list[Image.Image]]:
    images = [Image.open(PHOTOS / name).convert("RGB") for name in PHOTO_NAMES]
    matcher = RegionMatcher()
    matcher.add_many(
        (number, compute_regional_signature(np.asarray(image)))
        for number, image in enumerate(images)
    )
    return matcher, images


@pytest.mark.parametrize("variant", ["regen50", "regen50_square512"])
def test_regenerated_variants_match_their_original_and_nothing_else(
    bank: tuple[RegionMatcher, list[Image.Image]], variant: str
) -> None:
    matcher, images = bank
    for number, image in enumerate(images):
        fake = regen50(image)
        if variant == "regen50_square512":
            fake = square512(fake)
        found = matcher.match(compute_query_regions(reencoded(fake)))
        assert [m.ref_id for m in found] == [number], PHOTO_NAMES[number]


def test_a_signature_posted_without_pixels_still_matches(
    bank: tuple[RegionMatcher, list[Image.Image]],
) -> None:
    matcher, images = bank
    posted = RegionalSignature.from_json(
        compute_query_regions(reencoded(regen50(images[1]))).signature.to_json()
    )
    assert [m.ref_id for m in matcher.match(posted)] == [1]


def face_kept(image: Image.Image, donor: Image.Image | None = None) -> Image.Image:
    """Everything but the face boxes grown by 20% replaced by ``donor``'s pixels (default:
    drawn shapes), through a mask blurred by 1% of the short side (the evaluation's
    regen_face_kept)."""
    w, h = image.size
    mask = np.ones((h, w), dtype=np.float32)
    for x0, y0, x1, y1 in detect_faces(np.asarray(image.convert("L"))):
        cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
        half_w, half_h = (x1 - x0) * FACE_GROWTH * w / 2, (y1 - y0) * FACE_GROWTH * h / 2
        top, left = max(0, round(cy - half_h)), max(0, round(cx - half_w))
        mask[top : round(cy + half_h), left : round(cx + half_w)] = 0
    soft = cv2.GaussianBlur(mask, (0, 0), 0.01 * min(w, h))[..., None]
    donor = (
        drawn_donor((w, h)) if donor is None else donor.resize((w, h), Image.Resampling.BILINEAR)
    )
    mixed = np.asarray(image, dtype=np.float32) * (1 - soft) + np.asarray(donor) * soft
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name", ["img_0269.jpg", "img_0352.jpg"])
def test_a_fake_that_keeps_only_the_face_matches_its_original(
    bank: tuple[RegionMatcher, list[Image.Image]], name: str
) -> None:
    """The face regions of these fakes lie 29-32 bits from the reference's (the blended mask
    edge, the face box found a few pixels off): seeds within 28 bits missed them."""
    _, images = bank
    image = Image.open(PHOTOS / name).convert("RGB")
    matcher = RegionMatcher()
    matcher.add_many(
        (number, compute_regional_signature(np.asarray(photo)))
        for number, photo in enumerate([*images, image])
    )
    found = matcher.match(compute_query_regions(reencoded(face_kept(image))))
    assert [m.ref_id for m in found] == [len(images)]


def test_a_face_that_fewer_cascade_windows_confirm_in_the_fake_still_seeds(
    bank: tuple[RegionMatcher, list[Image.Image]],
) -> None:
    """In this fake (the evaluation's, a photo as donor) the kept box, which the cascade takes
    for a face in the original, is confirmed by 3-4 windows instead of 5 or more: only the
    query side's lower threshold finds it."""
    _, images = bank
    image = Image.open(PHOTOS / "img_0062.jpg").convert("RGB")
    fake = reencoded(face_kept(image, Image.open(PHOTOS / "img_0071.jpg").convert("RGB")))
    grey = cv2.cvtColor(fake, cv2.COLOR_RGB2GRAY)
    assert detect_faces(grey) == [] and len(detect_query_faces(grey)) == 1
    matcher = RegionMatcher()
    matcher.add_many(
        (number, compute_regional_signature(np.asarray(photo)))
        for number, photo in enumerate([*images, image])
    )
    found = matcher.match(compute_query_regions(fake))
    assert [m.ref_id for m in found] == [len(images)]


@pytest.mark.parametrize("name", ["img_0021.jpg", "img_0123.jpg"])
def test_a_large_centred_crop_is_seeded_by_the_centre_tiles_ladder(
    bank: tuple[RegionMatcher, list[Image.Image]], name: str
) -> None:
    """The middle half of these photos: their centre tile, hashed at zoom steps of 4%, lay
    30-36 bits from the reference's (no seed); steps of 2% land within 1% of any zoom."""
    _, images = bank
    image = Image.open(PHOTOS / name).convert("RGB")
    w, h = image.size
    matcher = RegionMatcher()
    matcher.add_many(
        (number, compute_regional_signature(np.asarray(photo)))
        for number, photo in enumerate([*images, image])
    )
    crop = image.crop((round(w / 4), round(h / 4), round(3 * w / 4), round(3 * h / 4)))
    found = matcher.match(compute_query_regions(reencoded(crop)))
    assert [m.ref_id for m in found] == [len(images)]


def framed(image: Image.Image) -> Image.Image:
    """The photo in a thick dark frame over a flat pale sky band: the frame false-match mode."""
    w, h = image.size
    canvas = Image.new("RGB", (w + 80, h + 160), (20, 20, 20))
    canvas.paste(Image.new("RGB", (w, 80), (205, 225, 240)), (40, 40))
    canvas.paste(image.resize((w, h)), (40, 120))
    return canvas


def test_two_different_photos_in_the_same_frame_do_not_match() -> None:
    photos = [PHOTOS / name for name in ("img_0007.jpg", "img_0015.jpg", "img_0033.jpg")]
    images = [framed(Image.open(path).convert("RGB").resize((400, 300))) for path in photos]
    matcher = RegionMatcher()
    matcher.add_many(
        (number, compute_regional_signature(np.asarray(image)))
        for number, image in enumerate(images[:2])
    )
    found = matcher.match(compute_query_regions(reencoded(images[2])))
    assert found == []
    # ...while the framed photo itself is still found.
    assert [m.ref_id for m in matcher.match(compute_query_regions(reencoded(images[0])))] == [0]


# --- seed lookups -------------------------------------------------------------------------


def test_reference_regions_are_indexed_under_the_target_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spanned: list[tuple[float, float, float, float]] = []
    boxes_of_pairs = signal_regions._pair_boxes

    def pair_boxes(points: list[tuple[float, float]]) -> list[tuple[float, float, float, float]]:
        found = boxes_of_pairs(points)
        spanned.extend(quantise_box(box) for box in found)
        return found

    monkeypatch.setattr(signal_regions, "_pair_boxes", pair_boxes)
    face_photo = np.asarray(Image.open(PHOTOS / "img_0003.jpg").convert("RGB"))  # one face
    signature = compute_regional_signature(face_photo)
    targets = reference_targets(signature)
    boxes = {region.box: target for region, target in zip(signature.regions, targets, strict=True)}
    for name, box in ZOOM_TARGETS.items():
        assert boxes.get(box) == name
    face = detect_faces(cv2.cvtColor(face_photo, cv2.COLOR_RGB2GRAY))
    assert targets.count("face") >= 2  # the face's regions are found by their geometry alone
    assert len(face) == 1
    # Anchor pairs are told apart from the layout (the centred square's tiles included); the
    # whole image joins them (anchors on the corners of a framed photo span it).
    pairs = {box for box, target in boxes.items() if target == "pair"}
    assert pairs == {box for box in boxes if box in spanned} | {(0.0, 0.0, 1.0, 1.0)}
    assert len(pairs) > 1
    # A photo without faces has no face regions, whatever its anchors' boxes.
    plain = compute_regional_signature(np.asarray(Image.open(PHOTOS / "img_0010.jpg")))
    assert "face" not in reference_targets(plain)


def test_each_index_is_planned_for_its_lookups_radius_and_small_sets_are_scanned() -> None:
    indexes = RegionMatcher().indexes
    assert {name: index.radius for name, index in indexes.items()} == PLANNED_RADIUS  # type: ignore[attr-defined]
    assert PLANNED_RADIUS["all"] == 24 and PLANNED_RADIUS["pair"] == 28
    small = RegionMatcher(expected_regions=500).indexes
    assert all(isinstance(index, BruteForceIndex) for index in small.values())
    with pytest.raises(TypeError):
        indexes["all"] = small["all"]  # type: ignore[index]


def test_seed_plan_sends_each_kind_to_its_indexes_and_radii() -> None:
    kinds = ["layout", "mirror", "face", "zoom-centre", "zoom-4x4", "posted"]
    kinds += ["pair"] * (MAX_SEED_PAIRS + 5)
    plan = seed_plan(kinds)
    for number, kind in enumerate(kinds[:6]):
        lookups = SEED_LOOKUPS.get(kind, ())
        assert all(number in plan[lookup] for lookup in lookups), kind
        assert sum(number in members for members in plan.values()) == len(lookups), kind
    assert ("centre", 24) in SEED_LOOKUPS["zoom-centre"]  # a ladder aims at its target tile
    assert ("face", 32) in SEED_LOOKUPS["face"]
    assert ("pair", 28) in SEED_LOOKUPS["pair"]  # anchor pairs aim at the references' pairs
    assert "zoom-4x4" not in SEED_LOOKUPS  # that ladder only adds agreeing regions
    assert 4 not in [n for members in plan.values() for n in members]
    pairs = [n for n, kind in enumerate(kinds) if kind == "pair"]
    in_plan = {n for lookup in SEED_LOOKUPS["pair"] for n in plan[lookup]}
    assert in_plan == set(pairs[:MAX_SEED_PAIRS])  # only the strongest pairs
