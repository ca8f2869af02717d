"""Brute-force range search: XOR and popcount against every stored hash, in NumPy.

Exact by construction and independent of the C kernels, so it is the reference the faster
index is tested against, and the right choice for small sets (a few thousand hashes) where
building anything cleverer costs more than it saves.
"""

from __future__ import annotations

import os
from typing import Self

import numpy as np
from numpy.typing import NDArray

from rempart.errors import InvalidIndexFile
from rempart.index.base import (
    DEFAULT_MAX_DISTANCE,
    HASH_BYTES,
    RangeHits,
    check_hashes,
    check_queries,
    member_mask,
    sorted_hits,
)
from rempart.index.fileformat import read_snapshot, write_snapshot

KIND = "brute"


class BruteForceIndex:
    """Every hash in one contiguous array; removal compacts it.

    Concurrent ``range_search`` calls are safe while nobody writes.
    """

    def __init__(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._hashes = np.zeros((0, HASH_BYTES), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: NDArray[np.int64], hashes: NDArray[np.uint8]) -> None:
        ids, hashes = check_hashes(ids, hashes)
        if member_mask(ids, self._ids).any():
            raise ValueError("some ids are already in the index")
        self._ids = np.concatenate([self._ids, ids])
        self._hashes = np.concatenate([self._hashes, hashes])

    def remove(self, ids: NDArray[np.int64]) -> int:
        gone = member_mask(self._ids, np.asarray(ids, dtype=np.int64))
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
        return sorted_hits(
            np.concatenate(found_q), np.concatenate(found_i), np.concatenate(found_d)
        )

    def entries(self) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        """Every (id, hash) held, as arrays of shape (n,) and (n, 32)."""
        return self._ids, self._hashes

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ids and hashes in the format of ``rempart.index.fileformat`` (kind "brute")."""
        write_snapshot(path, KIND, {}, {"ids": self._ids, "hashes": self._hashes})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Map a file written by ``save``; raises ``InvalidIndexFile`` if it is not one."""
        arrays = read_snapshot(path, KIND).arrays
        index = cls()
        try:
            index._ids, index._hashes = check_hashes(arrays["ids"], arrays["hashes"])
        except (KeyError, ValueError) as error:
            raise InvalidIndexFile(f"{os.fspath(path)} is a damaged index ({error})") from error
        return index
