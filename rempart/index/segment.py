"""One immutable block of hashes with multi-index hashing tables (Norouzi, Punjani and Fleet,
"Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012).

The 256 bits are cut into m contiguous substrings. If a stored hash is within r bits of a query,
the substring distances add up to at most r, so (pigeonhole) with r = a*m + b, 0 <= b < m, some
substring is within a bits for one of b + 1 chosen substrings, or within a - 1 bits for one of
the others: otherwise the distances would add up to at least (b+1)(a+1) + (m-b-1)a = r + 1.
Each substring has a table from its value to the rows holding it; a search reads every bucket
within that radius of the query's substring and verifies what it finds on the whole hash.

Layout, per segment of U unique hashes (duplicates are stored once, their extra ids beside):
- ``hashes``: (U, 32) uint8, sorted by the whole hash. Table 0 (the substring at bit 0) needs
  no postings: its buckets are runs of these rows.
- per table: ``directory``, 2^p + 1 uint32 offsets over the substring's first p bits (about 4-8
  entries per bucket), and for tables 1..m-1 ``postings``, U uint32 values
  ``row << (k - p) | last k - p bits of the substring`` (k: substring length), so a probe tests
  the whole substring before touching the hash.
- ``ids``: the first id of each row (int64); ``extra_rows``/``extra_ids``: the other ids of
  rows holding several, sorted by row; ``removed``: sorted ids removed since the segment was
  built (tombstones: the rows stay until the segment is rebuilt).

At 10 M hashes that is 32 + 8 + (m - 1) * 4 bytes plus about 9 bytes of directories per hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rempart.index import _kernels
from rempart.index.base import HASH_BYTES, distinct, member_mask

HASH_BITS = 8 * HASH_BYTES
# The kernel reads substrings of at most 32 bits (so 8 tables at least) and 32 tables at most.
MIN_TABLES = 8
MAX_TABLES = 32
# The default plan stops at 16 tables: more measured no faster on small segments.
_MOST_PLANNED = 16
# Buckets of about 2^BUCKET_LOG entries: a probe reads one or two cache lines of postings, and
# the directories stay small (see docs/index.md for the measurements).
BUCKET_LOG = 3
_MAX_PREFIX_BITS = 28
# A scan reads a row sequentially for a fraction of what a probe or a candidate costs (a cache
# miss): past this ratio of estimated probe work to rows, a radius is answered by scanning.
SCAN_RATIO = 0.25

Hits = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]


@dataclass(frozen=True, slots=True)
class TableGeometry:
    """Substring [start, start + key_bits) of the hash, bucketed by its first prefix_bits."""

    start: int
    key_bits: int
    prefix_bits: int


def plan_tables(rows: int, count: int | None = None) -> tuple[TableGeometry, ...]:
    """The tables for a segment of ``rows`` hashes: ``count`` substrings, by default chosen.

    The default: substrings of about log2(rows) bits, the length the paper finds optimal (a
    bucket then holds about one hash, so the few buckets within radius 2, the radius r=31 needs
    with m=11, are all a query reads): m = round(256 / log2(rows)), clamped to 8-16, which is
    what measured best at 100 k (16), 1 M (12-14) and 10 M (11); see docs/index.md.
    """
    log = math.log2(max(rows, 2))
    if count is None:
        count = min(_MOST_PLANNED, max(MIN_TABLES, round(HASH_BITS / log)))
    if not MIN_TABLES <= count <= MAX_TABLES:
        raise ValueError(f"a segment has {MIN_TABLES}-{MAX_TABLES} tables, not {count}")
    base, longer = divmod(HASH_BITS, count)
    row_bits = max(1, (rows - 1).bit_length())
    prefix = max(1, math.ceil(log) - BUCKET_LOG)
    tables = []
    start = 0
    for number in range(count):
        key_bits = base + (number < longer)
        # A posting keeps 32 - row_bits bits of the substring beside the row number.
        prefix_bits = min(key_bits, _MAX_PREFIX_BITS, max(prefix, key_bits - (32 - row_bits)))
        tables.append(TableGeometry(start, key_bits, prefix_bits))
        start += key_bits
    return tuple(tables)


def table_radii(tables: tuple[TableGeometry, ...], max_distance: int) -> list[int]:
    """Per-table search radius that cannot miss a hash within ``max_distance`` (-1: skip).

    With max_distance = a*m + b: radius a for b + 1 tables (the longest substrings, whose
    buckets are the sparsest), a - 1 for the others.
    """
    a, b = divmod(max_distance, len(tables))
    by_length = sorted(range(len(tables)), key=lambda t: -tables[t].key_bits)
    radii = [a - 1] * len(tables)
    for t in by_length[: b + 1]:
        radii[t] = a
    return radii


def _binomial_sum(n: int, k: int) -> int:
    return sum(math.comb(n, i) for i in range(min(n, k) + 1))


def probing_is_cheaper(tables: tuple[TableGeometry, ...], radii: list[int], rows: int) -> bool:
    """Whether probing beats scanning every row, from the expected count of cache misses.

    Uniform substrings give per table about C(p, <=radius) bucket reads (two misses each:
    directory, postings) and rows * C(k, <=radius) / 2^k candidates to verify (one each).
    """
    misses = sum(
        2 * _binomial_sum(table.prefix_bits, radius)
        + rows * _binomial_sum(table.key_bits, radius) / 2**table.key_bits
        for table, radius in zip(tables, radii, strict=True)
        if radius >= 0
    )
    return misses < SCAN_RATIO * rows


@dataclass(slots=True)
class Segment:
    """An immutable set of unique hashes with their tables; removals are tombstones.

    Readers never write to any array here (they may be read-only views of a file): a removal
    replaces ``removed`` with a new array.
    """

    hashes: NDArray[np.uint8]
    ids: NDArray[np.int64]
    extra_rows: NDArray[np.uint32]
    extra_ids: NDArray[np.int64]
    removed: NDArray[np.int64]
    tables: tuple[TableGeometry, ...]
    directories: list[NDArray[np.uint32]]
    postings: list[NDArray[np.uint32] | None]
    # Per max_distance: the kernel's table specs, or None to scan. Computed once: a search of
    # one query at 10 M takes about 100 us, and planning in Python took a third of that.
    _plans: dict[int, list[_kernels.TableSpec] | None] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        ids: NDArray[np.int64],
        hashes: NDArray[np.uint8],
        tables: tuple[TableGeometry, ...] | None = None,
    ) -> Segment:
        """Index ``hashes`` (n, 32) with their distinct ``ids``; equal hashes share one row.

        ``tables`` defaults to ``plan_tables(len(hashes))``.
        """
        tables = tables if tables is not None else plan_tables(len(hashes))
        order = np.empty(len(hashes), dtype=np.uint32)
        _kernels.sort_hashes(hashes, tables[0].prefix_bits, order)
        ordered = hashes[order]
        words = ordered.view(np.uint64)
        first = np.ones(len(ordered), dtype=bool)
        first[1:] = (words[1:] != words[:-1]).any(axis=1)
        row_of = np.cumsum(first, dtype=np.int64) - 1
        ordered_ids = ids[order]
        unique = ordered if first.all() else np.ascontiguousarray(ordered[first])
        directories: list[NDArray[np.uint32]] = []
        postings: list[NDArray[np.uint32] | None] = []
        for number, table in enumerate(tables):
            directory = np.empty((1 << table.prefix_bits) + 1, dtype=np.uint32)
            posting = None if number == 0 else np.empty(len(unique), dtype=np.uint32)
            _kernels.fill_table(
                unique, table.start, table.key_bits, table.prefix_bits, directory, posting
            )
            directories.append(directory)
            postings.append(posting)
        return cls(
            hashes=unique,
            ids=ordered_ids[first],
            extra_rows=row_of[~first].astype(np.uint32),
            extra_ids=ordered_ids[~first],
            removed=np.zeros(0, dtype=np.int64),
            tables=tables,
            directories=directories,
            postings=postings,
        )

    @property
    def stored_ids(self) -> int:
        """Ids held, tombstoned ones included."""
        return len(self.ids) + len(self.extra_ids)

    def __len__(self) -> int:
        return self.stored_ids - len(self.removed)

    def search(self, queries: NDArray[np.uint8], max_distance: int) -> Hits:
        """(query_no, id, distance) of every live id within ``max_distance`` of a query."""
        if max_distance not in self._plans:
            self._plans[max_distance] = self._plan(max_distance)
        specs = self._plans[max_distance]
        if specs is None:
            found = _kernels.scan(queries, self.hashes, max_distance)
        else:
            found = _kernels.search(queries, self.hashes, max_distance, specs)
        query_no = np.frombuffer(found[0], dtype=np.uint32).astype(np.int64)
        rows = np.frombuffer(found[1], dtype=np.uint32)
        distances = np.frombuffer(found[2], dtype=np.uint8).astype(np.int32)
        ids = self.ids[rows]
        if len(self.extra_rows):
            query_no, ids, distances = self._with_extra_ids(rows, query_no, ids, distances)
        if len(self.removed):
            live = ~member_mask(ids, self.removed)
            query_no, ids, distances = query_no[live], ids[live], distances[live]
        return query_no, ids, distances

    def _plan(self, max_distance: int) -> list[_kernels.TableSpec] | None:
        radii = table_radii(self.tables, max_distance)
        if not probing_is_cheaper(self.tables, radii, len(self.hashes)):
            return None
        return [
            (t.start, t.key_bits, t.prefix_bits, radius, directory, posting)
            for t, radius, directory, posting in zip(
                self.tables, radii, self.directories, self.postings, strict=True
            )
        ]

    def _with_extra_ids(
        self,
        rows: NDArray[np.uint32],
        query_no: NDArray[np.int64],
        ids: NDArray[np.int64],
        distances: NDArray[np.int32],
    ) -> Hits:
        first = np.searchsorted(self.extra_rows, rows, side="left")
        counts = np.searchsorted(self.extra_rows, rows, side="right") - first
        total = int(counts.sum())
        if not total:
            return query_no, ids, distances
        hit = np.repeat(np.arange(len(rows)), counts)
        position = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(total)
        return (
            np.concatenate([query_no, query_no[hit]]),
            np.concatenate([ids, self.extra_ids[position]]),
            np.concatenate([distances, distances[hit]]),
        )

    def live_ids_among(self, ids: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which of ``ids`` are stored here and not removed (one pass over the stored ids)."""
        stored = np.concatenate(
            [self.ids[member_mask(self.ids, ids)], self.extra_ids[member_mask(self.extra_ids, ids)]]
        )
        return member_mask(ids, stored) & ~member_mask(ids, self.removed)

    def remove(self, ids: NDArray[np.int64]) -> int:
        """Tombstone the live ids among ``ids``; returns how many."""
        gone = ids[self.live_ids_among(ids)]
        if len(gone):
            self.removed = distinct(np.concatenate([self.removed, gone]))
        return len(gone)

    def entries(self) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        """Live (ids, hashes), for rebuilding or merging."""
        rows = np.concatenate([np.arange(len(self.ids)), self.extra_rows.astype(np.int64)])
        ids = np.concatenate([self.ids, self.extra_ids])
        live = ~member_mask(ids, self.removed)
        return ids[live], self.hashes[rows[live]]

    def arrays(self) -> dict[str, NDArray[Any]]:
        """The arrays to save, by name; see ``from_arrays``."""
        named: dict[str, NDArray[Any]] = {
            "hashes": self.hashes,
            "ids": self.ids,
            "extra_rows": self.extra_rows,
            "extra_ids": self.extra_ids,
            "removed": self.removed,
        }
        for number, (directory, posting) in enumerate(
            zip(self.directories, self.postings, strict=True)
        ):
            named[f"directory{number}"] = directory
            if posting is not None:
                named[f"postings{number}"] = posting
        return named

    def geometry(self) -> list[list[int]]:
        """The tables as [start, key_bits, prefix_bits] lists, for the file header."""
        return [[t.start, t.key_bits, t.prefix_bits] for t in self.tables]

    @classmethod
    def from_arrays(cls, geometry: list[list[int]], arrays: dict[str, NDArray[Any]]) -> Segment:
        """The segment saved as ``geometry()`` and ``arrays()``; raises ValueError if damaged."""
        tables = tuple(TableGeometry(*(int(v) for v in spec)) for spec in geometry)
        if not tables or tables[0].start != 0:
            raise ValueError("a segment needs its first table at bit 0")
        hashes = arrays["hashes"]
        rows = len(hashes)
        if hashes.ndim != 2 or hashes.shape[1] != HASH_BYTES or len(arrays["ids"]) != rows:
            raise ValueError("hashes and ids disagree")
        if len(arrays["extra_rows"]) != len(arrays["extra_ids"]):
            raise ValueError("extra rows and ids disagree")
        directories = []
        postings: list[NDArray[np.uint32] | None] = []
        for number, table in enumerate(tables):
            directory = arrays[f"directory{number}"]
            if len(directory) != (1 << table.prefix_bits) + 1 or int(directory[-1]) != rows:
                raise ValueError(f"directory {number} does not match the rows")
            directories.append(directory)
            postings.append(None if number == 0 else arrays[f"postings{number}"])
        return cls(
            hashes=hashes,
            ids=arrays["ids"],
            extra_rows=arrays["extra_rows"],
            extra_ids=arrays["extra_ids"],
            removed=arrays["removed"],
            tables=tables,
            directories=directories,
            postings=postings,
        )
