"""PDQ values: parsing, formatting, distances on hex and on packed arrays."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rempart.errors import InvalidSignal
from rempart.signals import (
    DIHEDRAL_NAMES,
    MATCH_THRESHOLD,
    QUALITY_FLOOR,
    ExactHash,
    PdqHash,
    hamming_hex,
    hamming_packed,
    md5_of,
    pack_hex,
    parse_signal,
    pdq_dihedral,
    pdq_hash,
    sha256_of,
)
from tests.conftest import PHOTOS
from tests.media.images import textured

hex_hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)


@given(hex_hashes, st.integers(0, 100))
def test_hex_round_trip(value: str, quality: int) -> None:
    parsed = PdqHash.from_hex(value.upper(), quality)

    assert parsed.hex == value
    assert parse_signal(parsed.to_json()) == parsed


@given(hex_hashes, hex_hashes)
def test_distance_helpers_agree(a: str, b: str) -> None:
    expected = bin(int(a, 16) ^ int(b, 16)).count("1")

    assert hamming_hex(a, b) == expected
    assert PdqHash.from_hex(a).distance(PdqHash.from_hex(b)) == expected
    assert int(hamming_packed(pack_hex([a]), pack_hex([b]))[0]) == expected


def test_packed_distances_broadcast_over_a_bank() -> None:
    rng = np.random.default_rng(1)
    bank = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    query = bank[7].copy()
    query[0] ^= 0b0000_0111

    distances = hamming_packed(bank, query)

    assert distances.shape == (50,)
    assert distances[7] == 3
    with pytest.raises(ValueError):
        hamming_packed(bank[:, :16], query)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "pdq", "value": "abc", "quality": 90},
        {"type": "pdq", "value": "z" * 64, "quality": 90},
        {"type": "pdq", "value": "0" * 64, "quality": 101},
        {"type": "pdq", "value": "0" * 64, "quality": "high"},
        {"type": "pdq", "value": "0" * 64},
        {"type": "pdq", "quality": 90},
        {"type": "md5", "value": "0" * 31},
        {"type": "sha256", "value": "g" * 64},
        {"type": "sha256", "value": 12},
        {"type": "phash", "value": "0" * 16},
        {"value": "0" * 64},
        ["pdq", "0" * 64],
    ],
)
def test_malformed_signals_raise_invalid_signal(bad: object) -> None:
    with pytest.raises(InvalidSignal):
        parse_signal(bad)


def test_exact_hashes_of_bytes() -> None:
    data = b"rempart"

    # Known digests of b"rempart", as any other tool computes them.
    assert md5_of(data) == ExactHash("md5", "5fc23b19c559c9b2837deb06605f3c9c")
    assert sha256_of(data).value == (
        "a28d5695f6ba4c791c6bc511c575903eac30009af7c6d56135cd3b8129d4613d"
    )
    assert parse_signal({"type": "sha256", "value": sha256_of(data).value.upper()}) == sha256_of(
        data
    )


def test_near_copies_match_and_unrelated_images_do_not() -> None:
    a = np.asarray(textured(400, 300, seed=1))
    b = np.asarray(textured(400, 300, seed=2))
    noisy = np.clip(a.astype(int) + np.random.default_rng(0).normal(0, 6, a.shape), 0, 255)

    original = pdq_hash(a)
    assert original.quality >= QUALITY_FLOOR
    assert original.distance(pdq_hash(noisy.astype(np.uint8))) <= MATCH_THRESHOLD
    assert pdq_hash(np.ascontiguousarray(a[:, ::-1])).distance(original) > MATCH_THRESHOLD
    assert pdq_hash(b).distance(original) > 0


def test_pdq_refuses_what_is_not_an_rgb_array() -> None:
    with pytest.raises(ValueError):
        pdq_hash(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError):
        pdq_hash(np.zeros((10, 10, 3), dtype=np.float32))  # type: ignore[arg-type]


# --- rempart's PDQ kernel against the reference bindings, bit for bit ------------------------


def reference_pdq(rgb: np.ndarray) -> tuple[list[bytes], int]:
    """The eight hashes and the quality from the ``pdqhash`` bindings of Meta's C++."""
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return [np.packbits(np.asarray(v, dtype=np.uint8)).tobytes() for v in vectors], int(quality)


def assert_same_as_reference(rgb: np.ndarray) -> None:
    bits, quality = reference_pdq(rgb)
    ours = pdq_dihedral(rgb)
    assert [ours[name].bits for name in DIHEDRAL_NAMES] == bits, rgb.shape
    assert {h.quality for h in ours.values()} == {quality}
    assert pdq_hash(rgb) == ours["original"]


def test_photos_hash_to_the_references_bits() -> None:
    for path in sorted(PHOTOS.glob("*.jpg"))[:40]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        assert_same_as_reference(rgb)
        # At the size Telegram sends phone photos (the filters' windows grow with the size).
        assert_same_as_reference(np.asarray(Image.fromarray(rgb).resize((1280, 960))))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.integers(0, 2**32 - 1))
def test_any_size_hashes_to_the_references_bits(height: int, width: int, seed: int) -> None:
    # Noise, and flat arrays (every DCT coefficient near zero: the bits hang on float rounding),
    # down to the reference's minimum side (below 5 pixels: the zero hash, quality 0).
    rng = np.random.default_rng(seed)
    assert_same_as_reference(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    assert_same_as_reference(np.full((height, width, 3), seed % 256, dtype=np.uint8))


def test_hashing_from_many_threads_gives_the_serial_answers() -> None:
    # The kernel keeps one pair of work buffers between calls, taken and given back atomically:
    # threads that hash at once (the service's pool) must not share it.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    sizes = rng.integers(5, 700, size=(24, 2)).tolist()
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    serial = [pdq_hash(image) for image in images]
    with ThreadPoolExecutor(6) as pool:
        for _ in range(3):
            assert list(pool.map(pdq_hash, images)) == serial
