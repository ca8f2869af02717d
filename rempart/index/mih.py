"""``MihIndex``: exact range search over millions of 256-bit hashes, with live adds and removes.

New hashes land in a small write buffer that is searched by a linear scan; when it reaches
``buffer_limit`` it becomes an immutable ``Segment`` (multi-index hashing tables, see
``rempart.index.segment``). Segments are merged so that each is at least ``MERGE_RATIO`` times
larger than the next newer one: a bulk ``add`` becomes one segment, a trickle of small adds
costs a logarithmic number of rebuilds per hash, and a search visits a handful of segments.
Removal tombstones an id; a segment whose tombstones pass a quarter of its ids is rebuilt.

Concurrency: any number of threads (and processes that loaded the same file) may call
``range_search`` at the same time while nobody writes. ``add``, ``remove`` and ``save`` must not
overlap each other or a search: the caller serialises them (a lock, or a single writer that
saves snapshots which the readers load).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from rempart.errors import InvalidIndexFile
from rempart.index.base import (
    DEFAULT_MAX_DISTANCE,
    HASH_BYTES,
    MAX_DISTANCE,
    RangeHits,
    check_hashes,
    check_queries,
    distinct,
    member_mask,
    sorted_hits,
)
from rempart.index.fileformat import read_snapshot, write_snapshot
from rempart.index.scan import Hits, near_pairs
from rempart.index.segment import Segment

KIND = "mih"
# A scan of this many rows costs about what probing a segment of the same size does (9 us a
# query, measured: docs/index.md), so smaller sets of new hashes are not worth tables yet.
BUFFER_LIMIT = 4096
MERGE_RATIO = 4
# A segment is rebuilt without its removed ids once they pass this share of its ids.
TOMBSTONE_SHARE = 0.25
# Below this many queries per thread, splitting a batch costs more than it saves.
_QUERIES_PER_THREAD = 64

_pool: ThreadPoolExecutor | None = None


def _threads_available() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads_available(), thread_name_prefix="rempart-index")
    return _pool


def _from_query(first: int, search: Callable[..., Hits], *args: Any) -> Hits:
    """``search(*args)`` over a slice of queries starting at ``first``, numbered in the batch."""
    query_no, ids, distances = search(*args)
    return query_no + first, ids, distances


class MihIndex:
    """Multi-index hashing segments plus a linear-scan write buffer; exact for radii 0-63.

    ``threads`` caps the threads one ``range_search`` call uses for a large batch (default:
    the CPUs this process may run on; set 1 in a service that runs one worker process per
    core). ``radius``, when most searches use one radius, plans the segments' tables for it
    (``plan_for_radius``; searches at any radius stay exact); by default they follow
    ``plan_tables``, measured for PDQ's 31 bits with little memory for directories. Results are
    sorted by query, then distance, then id.
    """

    def __init__(
        self,
        *,
        buffer_limit: int = BUFFER_LIMIT,
        threads: int | None = None,
        radius: int | None = None,
    ) -> None:
        if buffer_limit < 1:
            raise ValueError("buffer_limit must be positive")
        if radius is not None and not 0 <= radius <= MAX_DISTANCE:
            raise ValueError(f"radius must be 0-{MAX_DISTANCE}")
        self.buffer_limit = buffer_limit
        self.radius = radius
        self.threads = threads if threads is not None else _threads_available()
        self._segments: list[Segment] = []
        self._buffer_ids = np.zeros(0, dtype=np.int64)
        self._buffer_hashes = np.zeros((0, HASH_BYTES), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._buffer_ids) + sum(len(segment) for segment in self._segments)

    @property
    def segment_sizes(self) -> list[int]:
        """Live ids per segment, oldest (largest) first; for monitoring and tests."""
        return [len(segment) for segment in self._segments]

    def add(self, ids: NDArray[np.int64], hashes: NDArray[np.uint8]) -> None:
        """Add hashes (n, 32) under new ids; ``ValueError`` if an id is in the index already.

        Costs a binary search per id and segment plus, when the buffer fills, building a segment
        (about 1 s per million hashes here).
        """
        ids, hashes = check_hashes(ids, hashes)
        if not len(ids):
            return
        if self._contains_any(ids):
            raise ValueError("some ids are already in the index")
        self._buffer_ids = np.concatenate([self._buffer_ids, ids])
        self._buffer_hashes = np.concatenate([self._buffer_hashes, hashes])
        if len(self._buffer_ids) >= self.buffer_limit:
            self._segments.append(self._build(self._buffer_ids, self._buffer_hashes))
            self._buffer_ids = np.zeros(0, dtype=np.int64)
            self._buffer_hashes = np.zeros((0, HASH_BYTES), dtype=np.uint8)
            self._merge()

    def remove(self, ids: NDArray[np.int64]) -> int:
        """Remove these ids (unknown ones are ignored); returns how many were removed.

        Costs a binary search per id and segment, plus a rebuild of a segment once a quarter of
        its ids are removed.
        """
        ids = distinct(np.asarray(ids, dtype=np.int64).reshape(-1))
        in_buffer = member_mask(self._buffer_ids, ids)
        count = int(in_buffer.sum())
        if count:
            self._buffer_ids = self._buffer_ids[~in_buffer]
            self._buffer_hashes = self._buffer_hashes[~in_buffer]
        for number, segment in enumerate(self._segments):
            count += segment.remove(ids)
            if len(segment) and segment.removed > TOMBSTONE_SHARE * segment.stored_ids:
                self._segments[number] = self._build(*segment.entries())
        self._segments = [segment for segment in self._segments if len(segment)]
        self._merge()
        return count

    def range_search(
        self, queries: NDArray[np.uint8], max_distance: int = DEFAULT_MAX_DISTANCE
    ) -> RangeHits:
        """Every stored (query_no, id, distance) with distance <= max_distance (0-63)."""
        queries = check_queries(queries, max_distance)
        if not len(self) or not len(queries):
            return RangeHits.empty()
        parts = min(self.threads, len(queries) // _QUERIES_PER_THREAD)
        if parts <= 1:
            found = [segment.search(queries, max_distance) for segment in self._segments]
            if len(self._buffer_ids):
                found.append(self._scan_buffer(queries, max_distance))
        else:
            found = [task.result() for task in self._shared_out(queries, max_distance, parts)]
        if len(found) == 1:
            return sorted_hits(*found[0])
        return sorted_hits(
            np.concatenate([q for q, _, _ in found]),
            np.concatenate([ids for _, ids, _ in found]),
            np.concatenate([d for _, _, d in found]),
        )

    def _shared_out(
        self, queries: NDArray[np.uint8], max_distance: int, parts: int
    ) -> list[Future[Hits]]:
        """A batch's work for ``parts`` threads: each segment's tables cut into ``parts``
        shares, each searched with the whole batch (so that a large batch keeps its
        table-by-table sweep), or, for a segment that scans at this radius, the queries cut into
        ``parts`` slices."""
        pool = _shared_pool()
        tasks = [pool.submit(self._scan_buffer, queries, max_distance)]  # cheap when empty
        for segment in self._segments:
            shares = segment.table_shares(max_distance, parts)
            if shares is not None:
                tasks += [
                    pool.submit(segment.search, queries, max_distance, None, share)
                    for share in shares
                ]
                continue
            bounds = np.linspace(0, len(queries), parts + 1).astype(int).tolist()
            tasks += [
                pool.submit(_from_query, lo, segment.search, queries[lo:hi], max_distance)
                for lo, hi in itertools.pairwise(bounds)
            ]
        return tasks

    def entries(self) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        """Every live (id, hash), as arrays of shape (n,) and (n, 32)."""
        parts = [segment.entries() for segment in self._segments]
        parts.append((self._buffer_ids, self._buffer_hashes))
        return (
            np.concatenate([ids for ids, _ in parts]),
            np.concatenate([hashes for _, hashes in parts]),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` in the format of ``rempart.index.fileformat`` (kind "mih").

        Segments are saved as they are (tombstones included); ``load`` maps them back without
        rebuilding anything.
        """
        arrays: dict[str, NDArray[Any]] = {
            "buffer/ids": self._buffer_ids,
            "buffer/hashes": self._buffer_hashes,
        }
        for number, segment in enumerate(self._segments):
            for name, array in segment.arrays().items():
                arrays[f"segment{number}/{name}"] = array
        meta = {
            "buffer_limit": self.buffer_limit,
            "radius": self.radius,
            "segments": [segment.meta() for segment in self._segments],
        }
        write_snapshot(path, KIND, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Map an index saved by ``save``: the arrays stay in the file (shared page cache).

        Raises ``InvalidIndexFile`` when the file is not a saved ``MihIndex``.
        """
        snapshot = read_snapshot(path, KIND)
        try:
            radius = snapshot.meta.get("radius")
            index = cls(
                buffer_limit=int(snapshot.meta["buffer_limit"]),
                radius=None if radius is None else int(radius),
            )
            ids, hashes = snapshot.arrays["buffer/ids"], snapshot.arrays["buffer/hashes"]
            index._buffer_ids, index._buffer_hashes = check_hashes(ids, hashes)
            for number, segment_meta in enumerate(snapshot.meta["segments"]):
                prefix = f"segment{number}/"
                arrays = {
                    name.removeprefix(prefix): array
                    for name, array in snapshot.arrays.items()
                    if name.startswith(prefix)
                }
                index._segments.append(Segment.from_arrays(segment_meta, arrays))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidIndexFile(f"{os.fspath(path)} is a damaged index ({error})") from error
        return index

    def _scan_buffer(self, queries: NDArray[np.uint8], max_distance: int) -> Hits:
        query_no, rows, distances = near_pairs(queries, self._buffer_hashes, max_distance)
        return query_no, self._buffer_ids[rows], distances

    def _contains_any(self, ids: NDArray[np.int64]) -> bool:
        if member_mask(ids, self._buffer_ids).any():
            return True
        return any(segment.live_ids_among(ids).any() for segment in self._segments)

    def _merge(self) -> None:
        segments = self._segments
        while len(segments) >= 2 and MERGE_RATIO * len(segments[-1]) >= len(segments[-2]):
            newer, older = segments.pop(), segments.pop()
            older_ids, older_hashes = older.entries()
            newer_ids, newer_hashes = newer.entries()
            segments.append(
                self._build(
                    np.concatenate([older_ids, newer_ids]),
                    np.concatenate([older_hashes, newer_hashes]),
                )
            )

    def _build(self, ids: NDArray[np.int64], hashes: NDArray[np.uint8]) -> Segment:
        return Segment.build(ids, hashes, radius=self.radius)
