"""Hashes for index tests: random ones, planted neighbours at exact distances, and the oracle.

The oracle is a full distance matrix in NumPy, independent of every index implementation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rempart.index.base import sorted_hits


def random_hashes(rng: np.random.Generator, count: int) -> NDArray[np.uint8]:
    return rng.integers(0, 256, size=(count, 32), dtype=np.uint8)


def flipped(rng: np.random.Generator, hash_: NDArray[np.uint8], distance: int) -> NDArray[np.uint8]:
    """A copy of ``hash_`` with exactly ``distance`` bits flipped."""
    bits = np.unpackbits(hash_)
    bits[rng.choice(256, size=distance, replace=False)] ^= 1
    return np.packbits(bits)


def planted_queries(
    rng: np.random.Generator, stored: NDArray[np.uint8], distances: list[int]
) -> NDArray[np.uint8]:
    """One query per distance, each that far from a randomly chosen stored hash."""
    picks = rng.integers(0, len(stored), size=len(distances))
    return np.stack([flipped(rng, stored[p], d) for p, d in zip(picks, distances, strict=True)])


def oracle(
    ids: NDArray[np.int64],
    hashes: NDArray[np.uint8],
    queries: NDArray[np.uint8],
    max_distance: int,
) -> list[tuple[int, int, int]]:
    """Every (query_no, id, distance) within max_distance, sorted as ``RangeHits`` are."""
    if not len(ids) or not len(queries):
        return []
    distances = np.bitwise_count(
        queries.view(np.uint64)[:, None, :] ^ hashes.view(np.uint64)[None, :, :]
    ).sum(axis=2)
    query_no, rows = np.nonzero(distances <= max_distance)
    found = zip(
        query_no.tolist(), ids[rows].tolist(), distances[query_no, rows].tolist(), strict=True
    )
    return sorted(found, key=lambda hit: (hit[0], hit[2], hit[1]))


def hit_list(
    query_no: NDArray[np.int64], ids: NDArray[np.int64], distances: NDArray[np.int32]
) -> list[tuple[int, int, int]]:
    """Raw (unordered) search hits as the oracle lists them."""
    hits = sorted_hits(query_no, ids, distances)
    return list(
        zip(hits.query_no.tolist(), hits.ids.tolist(), hits.distances.tolist(), strict=True)
    )
