"""Brute-force range search: XOR and popcount against every stored hash.

Exact by construction, so it is the oracle the faster indexes are tested against, and the
right choice for small banks where building anything cleverer costs more than it saves.
"""

from __future__ import annotations

import os
from typing import Self

import numpy as np
from numpy.typing import NDArray

from rempart.index.base import (
    DEFAULT_MAX_DISTANCE,
    HASH_BYTES,
    RangeHits,
    check_hashes,
    check_queries,
)

_FORMAT = b"RMPBF001"


class BruteForceIndex:
    """Every hash in one contiguous array; removal compacts it."""

    def __init__(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._hashes = np.zeros((0, HASH_BYTES), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: NDArray[np.int64], hashes: NDArray[np.uint8]) -> None:
        ids, hashes = check_hashes(ids, hashes)
        if np.isin(ids, self._ids).any():
            raise ValueError("some ids are already in the index")
        self._ids = np.concatenate([self._ids, ids])
        self._hashes = np.concatenate([self._hashes, hashes])

    def remove(self, ids: NDArray[np.int64]) -> int:
        gone = np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        count = int(gone.sum())
        if count:
            self._ids = self._ids[~gone]
            self._hashes = self._hashes[~gone]
        return count

    def range_search(
        self, queries: NDArray[np.uint8], max_distance: int = DEFAULT_MAX_DISTANCE
    ) -> RangeHits:
        queries = check_queries(queries, max_distance)
        if not len(self._ids) or not len(queries):
            return RangeHits.empty()
        stored = self._hashes.view(np.uint64)
        found_q: list[NDArray[np.int64]] = []
        found_i: list[NDArray[np.int64]] = []
        found_d: list[NDArray[np.int32]] = []
        for number, query in enumerate(queries.view(np.uint64)):
            distances = np.bitwise_count(stored ^ query).sum(axis=1, dtype=np.int32)
            rows = np.flatnonzero(distances <= max_distance)
            if len(rows):
                found_q.append(np.full(len(rows), number, dtype=np.int64))
                found_i.append(self._ids[rows])
                found_d.append(distances[rows])
        if not found_q:
            return RangeHits.empty()
        return RangeHits(np.concatenate(found_q), np.concatenate(found_i), np.concatenate(found_d))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``RMPBF001``, the count (little-endian u64), the ids (i64) then the hashes."""
        with open(path, "wb") as handle:
            handle.write(_FORMAT)
            handle.write(np.uint64(len(self._ids)).tobytes())
            handle.write(self._ids.astype("<i8").tobytes())
            handle.write(self._hashes.tobytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        data = np.memmap(path, dtype=np.uint8, mode="r")
        if bytes(data[:8]) != _FORMAT:
            raise ValueError(f"{os.fspath(path)} is not a rempart brute-force index file")
        count = int(np.frombuffer(bytes(data[8:16]), dtype="<u8")[0])
        index = cls()
        start = 16
        index._ids = np.frombuffer(data, dtype="<i8", count=count, offset=start).astype(np.int64)
        index._hashes = np.asarray(data[start + 8 * count : start + 8 * count + HASH_BYTES * count])
        index._hashes = index._hashes.reshape(count, HASH_BYTES)
        return index
