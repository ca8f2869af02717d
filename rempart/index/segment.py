"""One immutable block of hashes with multi-index hashing tables (Norouzi, Punjani and Fleet,
"Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012).

The 256 bits are cut into m contiguous substrings. If a stored hash is within r bits of a query,
the substring distances add up to at most r, so (pigeonhole) with r = a*m + b, 0 <= b < m, some
substring is within a bits for one of b + 1 chosen substrings, or within a - 1 bits for one of
the others: otherwise the distances would add up to at least (b+1)(a+1) + (m-b-1)a = r + 1.
Each substring has a table from its value to the rows holding it; a search reads every bucket
within that radius of the query's substring and verifies what it finds on the whole hash.

Layout, per segment of n hashes, rows in ascending id order:
- ``hashes``: (n, 32) uint8.
- ``ids``: the ids, ascending, so that finding an id is a binary search (``add`` and ``remove``
  cost O(batch log n)); stored as uint32 offsets from ``id_base`` when the segment's ids span
  less than 2^32, as int64 otherwise.
- per table: ``directory``, 2^p + 1 uint32 offsets over the substring's first p bits (buckets of
  about 2^BUCKET_LOG postings), and ``postings``, n uint32 values
  ``row << (k - p) | last k - p bits of the substring`` (k: substring length), so that a probe
  tests the whole substring before touching the hash.
- ``tombstones``: one bit per row, set when its id was removed (the row stays until the segment
  is rebuilt); the kernel skips such rows.

At 10 M hashes (m = 11) that is 32 + 4 + 44 bytes plus about 1 byte of directories per hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rempart.index import _kernels
from rempart.index.base import HASH_BYTES
from rempart.index.scan import Hits, decoded, near_pairs

HASH_BITS = 8 * HASH_BYTES
# The kernel reads substrings of at most 32 bits (so 8 tables at least) and 32 tables at most.
MIN_TABLES = 8
MAX_TABLES = 32
# The default plan stops at 16 tables: more measured no faster on small segments.
_MOST_PLANNED = 16
# Buckets of about 2^BUCKET_LOG postings: a probe reads one or two cache lines of postings and
# filters them in one tight loop, and the directories stay at about 4 / 2^BUCKET_LOG bytes per
# hash and table. Measured at 10 M (one thread, CPU time per query in a batch of 1000): 174-183
# us with 3, 188 with 4, 215-259 with 5; 4 keeps the speed of 3 at half its directory bytes.
BUCKET_LOG = 4
_MAX_PREFIX_BITS = 28
# A scan reads a row sequentially for a fraction of what a probe or a candidate costs (a cache
# miss): past this ratio of estimated probe work to rows, a radius is answered by scanning.
SCAN_RATIO = 0.25
_LINE = 64
# A batch is searched table by table (its probes sorted and swept through each table) on a
# segment of BY_TABLE_ROWS rows or more once queries * rows reach BY_TABLE_WORK: about 7
# queries at 10 M hashes, 16 at 4 M, 64 at 1 M. Below, query by query was as fast or faster (the
# tables stay in cache, or the probes are too few to be worth sorting); measured in
# docs/index.md.
BY_TABLE_ROWS = 1 << 20
BY_TABLE_WORK = 1 << 26
# Ids of a segment fit uint32 offsets from the smallest when they span less than this.
_OFFSET_SPAN = 1 << 32


@dataclass(frozen=True, slots=True)
class TableGeometry:
    """Substring [start, start + key_bits) of the hash, bucketed by its first prefix_bits."""

    start: int
    key_bits: int
    prefix_bits: int


def plan_tables(
    rows: int, count: int | None = None, bucket_log: int = BUCKET_LOG
) -> tuple[TableGeometry, ...]:
    """The tables for a segment of ``rows`` hashes: ``count`` substrings, by default chosen,
    bucketed by prefixes of about log2(rows) - ``bucket_log`` bits.

    The default: substrings of about log2(rows) bits, the length the paper finds optimal (a
    bucket then holds about one hash, so the few buckets within radius 2, the radius r=31 needs
    with m=11, are all a query reads): m = round(256 / log2(rows)), clamped to 8-16, which is
    what measured best at 100 k (15-16), 1 M (13) and 10 M (11); see docs/index.md.
    """
    log = math.log2(max(rows, 2))
    if count is None:
        count = min(_MOST_PLANNED, max(MIN_TABLES, round(HASH_BITS / log)))
    if not MIN_TABLES <= count <= MAX_TABLES:
        raise ValueError(f"a segment has {MIN_TABLES}-{MAX_TABLES} tables, not {count}")
    base, longer = divmod(HASH_BITS, count)
    row_bits = max(1, (rows - 1).bit_length())
    prefix = max(1, round(log) - bucket_log)
    tables = []
    start = 0
    for number in range(count):
        key_bits = base + (number < longer)
        # A posting keeps 32 - row_bits bits of the substring beside the row number.
        prefix_bits = min(key_bits, _MAX_PREFIX_BITS, max(prefix, key_bits - (32 - row_bits)))
        tables.append(TableGeometry(start, key_bits, prefix_bits))
        start += key_bits
    return tuple(tables)


# Bucket sizes an index planned for a radius may choose among (plan_for_radius), largest first:
# smaller buckets cost directory memory (4 / 2^bucket_log bytes per hash and table) and save
# postings reads.
PLANNED_BUCKET_LOGS = (4, 3, 2)


def plan_for_radius(rows: int, radius: int) -> tuple[TableGeometry, ...]:
    """The tables that make searches within ``radius`` cheapest on ``rows`` hashes: the table
    count (8-16) and bucket size (:data:`PLANNED_BUCKET_LOGS`) of fewest
    :func:`expected_misses`, fewer tables and larger buckets (less memory) on a tie.

    For an index searched mostly at one radius, such as the region matcher's at 24 and 28 bits:
    measured on its 100 k-reference indexes, 28-bit lookups among 1.1 M anchor-pair regions
    went from 50-53 to 32-37 us (14 tables instead of 13, buckets of 4 instead of 16) and
    24-bit lookups among 4.4 M regions from 37-41 to 28-30 us (buckets of 4); docs/index.md.
    """
    plans = [
        plan_tables(rows, count, bucket_log)
        for count in range(MIN_TABLES, _MOST_PLANNED + 1)
        for bucket_log in PLANNED_BUCKET_LOGS
    ]
    return min(plans, key=lambda tables: expected_misses(tables, radius, rows))


def expected_misses(tables: tuple[TableGeometry, ...], radius: int, rows: int) -> float:
    """Expected cache misses of one search within ``radius`` (``_probe_cost`` of each table)."""
    return sum(
        _probe_cost(table, table_radius, rows)
        for table, table_radius in zip(tables, table_radii(tables, radius), strict=True)
        if table_radius >= 0
    )


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


def _probe_cost(table: TableGeometry, radius: int, rows: int) -> float:
    """Expected cache misses of probing one table: C(p, <=radius) bucket reads (two misses each:
    directory, first line of postings, then one per further 16 postings) and
    rows * C(k, <=radius) / 2^k candidates to verify (one each), for uniform substrings."""
    buckets = _binomial_sum(table.prefix_bits, radius)
    postings = buckets * rows / 2**table.prefix_bits
    candidates = rows * _binomial_sum(table.key_bits, radius) / 2**table.key_bits
    return 2 * buckets + postings / 16 + candidates


def probing_is_cheaper(tables: tuple[TableGeometry, ...], max_distance: int, rows: int) -> bool:
    """Whether probing beats scanning every row, from the expected count of cache misses."""
    return expected_misses(tables, max_distance, rows) < SCAN_RATIO * rows


def _stored_ids(ordered: NDArray[np.int64]) -> tuple[int, NDArray[Any]]:
    """(id_base, ids as stored): uint32 offsets when the ids span less than 2^32."""
    if len(ordered) and int(ordered[-1]) - int(ordered[0]) < _OFFSET_SPAN:
        base = int(ordered[0])
        return base, (ordered - base).astype(np.uint32)
    return 0, ordered


def _line_aligned_rows(count: int) -> NDArray[np.uint8]:
    """An empty (count, 32) array that starts on a 64-byte cache line.

    NumPy aligns large arrays to 16 bytes only, which puts every other 32-byte hash across two
    cache lines: verifying a candidate then reads two lines instead of one (the index was about
    15 % slower at 10 M hashes). Saved files align their arrays to 64 bytes already.
    """
    raw = np.empty(count * HASH_BYTES + _LINE, dtype=np.uint8)
    start = -raw.ctypes.data % _LINE
    return raw[start : start + count * HASH_BYTES].reshape(count, HASH_BYTES)


@dataclass(slots=True)
class Segment:
    """An immutable set of hashes, rows in id order, with their tables; removals are
    tombstones.

    Readers never write to any array but ``tombstones``, which only a removal writes (callers
    serialise removals against searches); arrays mapped from a file are copied before that.
    """

    hashes: NDArray[np.uint8]
    ids: NDArray[Any]
    id_base: int
    tombstones: NDArray[np.uint8]
    tables: tuple[TableGeometry, ...]
    directories: list[NDArray[np.uint32]]
    postings: list[NDArray[np.uint32]]
    removed: int = 0
    # Per max_distance: the kernel's table specs, or None to scan. Computed once: a search of
    # one query at 10 M takes about 100 us, and planning in Python took a third of that.
    _plans: dict[int, list[_kernels.TableSpec] | None] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        ids: NDArray[np.int64],
        hashes: NDArray[np.uint8],
        tables: tuple[TableGeometry, ...] | None = None,
        radius: int | None = None,
    ) -> Segment:
        """Index ``hashes`` (n, 32) under their distinct ``ids``.

        ``tables`` defaults to ``plan_for_radius(len(hashes), radius)`` when the radius most
        searches use is given, to ``plan_tables(len(hashes))`` otherwise.
        """
        ids = np.asarray(ids, dtype=np.int64)
        hashes = np.asarray(hashes, dtype=np.uint8)
        rows = _line_aligned_rows(len(hashes))
        if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
            order = np.argsort(ids, kind="stable")
            ids = ids[order]
            np.take(hashes, order, axis=0, out=rows)
        else:
            rows[...] = hashes
        hashes = rows
        if tables is None:
            tables = (
                plan_tables(len(hashes)) if radius is None else plan_for_radius(len(hashes), radius)
            )
        directories: list[NDArray[np.uint32]] = []
        postings: list[NDArray[np.uint32]] = []
        for table in tables:
            directory = np.empty((1 << table.prefix_bits) + 1, dtype=np.uint32)
            posting = np.empty(len(hashes), dtype=np.uint32)
            _kernels.fill_table(
                hashes, table.start, table.key_bits, table.prefix_bits, directory, posting
            )
            directories.append(directory)
            postings.append(posting)
        id_base, stored = _stored_ids(ids)
        return cls(
            hashes=hashes,
            ids=stored,
            id_base=id_base,
            tombstones=np.zeros((len(hashes) + 7) // 8, dtype=np.uint8),
            tables=tables,
            directories=directories,
            postings=postings,
        )

    @property
    def stored_ids(self) -> int:
        """Ids held, removed ones included."""
        return len(self.ids)

    def __len__(self) -> int:
        return len(self.ids) - self.removed

    def search(
        self,
        queries: NDArray[np.uint8],
        max_distance: int,
        by_table: bool | None = None,
        tables: tuple[int, int] | None = None,
    ) -> Hits:
        """(query_no, id, distance) of every live id within ``max_distance`` of a query.

        ``tables`` = (first, stop) probes only those tables (a share of the work, see
        ``table_shares``; the hits of all shares together are the hits). ``by_table`` forces
        one way of probing (tests); by default a large batch on a large segment goes table by
        table (``BY_TABLE_ROWS``, ``BY_TABLE_WORK``).
        """
        specs = self._plan(max_distance)
        tombstones = self.tombstones if self.removed else None
        if by_table is None:
            size = len(self.ids)
            by_table = size >= BY_TABLE_ROWS and len(queries) * size >= BY_TABLE_WORK
        first, stop = tables if tables is not None else (0, len(self.tables))
        if specs is None:
            query_no, rows, distances = near_pairs(queries, self.hashes, max_distance)
            if tombstones is not None:
                live = ~self._removed_rows(rows)
                query_no, rows, distances = query_no[live], rows[live], distances[live]
        else:
            query_no, rows, distances = decoded(
                _kernels.search(
                    queries, self.hashes, max_distance, specs, tombstones, by_table, first, stop
                )
            )
        return query_no, self._ids_at(rows), distances

    def table_shares(self, max_distance: int, parts: int) -> list[tuple[int, int]] | None:
        """The tables cut into ``parts`` consecutive (first, stop) ranges of about equal
        expected work (bucket reads and candidates), for threads that each probe one range
        with the whole batch; None when this radius is answered by a scan."""
        if self._plan(max_distance) is None:
            return None
        radii = table_radii(self.tables, max_distance)
        costs = [
            _probe_cost(table, radius, len(self.hashes)) if radius >= 0 else 0.0
            for table, radius in zip(self.tables, radii, strict=True)
        ]
        total = sum(costs)
        shares: list[tuple[int, int]] = []
        first, done = 0, 0.0
        for number, cost in enumerate(costs):
            done += cost
            if len(shares) < parts - 1 and done >= total * (len(shares) + 1) / parts:
                shares.append((first, number + 1))
                first = number + 1
        shares.append((first, len(costs)))
        return [share for share in shares if share[0] < share[1]]

    def _plan(self, max_distance: int) -> list[_kernels.TableSpec] | None:
        if max_distance not in self._plans:
            self._plans[max_distance] = self._new_plan(max_distance)
        return self._plans[max_distance]

    def _new_plan(self, max_distance: int) -> list[_kernels.TableSpec] | None:
        if not probing_is_cheaper(self.tables, max_distance, len(self.hashes)):
            return None
        radii = table_radii(self.tables, max_distance)
        return [
            (t.start, t.key_bits, t.prefix_bits, radius, directory, posting)
            for t, radius, directory, posting in zip(
                self.tables, radii, self.directories, self.postings, strict=True
            )
        ]

    def _ids_at(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        return self.ids[rows].astype(np.int64) + self.id_base

    def _removed_rows(self, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        return ((self.tombstones[rows >> 3] >> (rows & 7).astype(np.uint8)) & 1).astype(bool)

    def rows_of(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """The row of each of ``ids`` (-1 where absent, removed ones included): a binary search
        per id."""
        ids = np.asarray(ids, dtype=np.int64)
        rows = np.full(len(ids), -1, dtype=np.int64)
        if not len(self.ids) or not len(ids):
            return rows
        wanted: NDArray[Any]
        if self.ids.dtype == np.uint32:
            top = min(self.id_base + _OFFSET_SPAN - 1, np.iinfo(np.int64).max)
            inside = np.flatnonzero((ids >= self.id_base) & (ids <= top))
            wanted = (ids[inside] - self.id_base).astype(np.uint32)
        else:
            inside = np.arange(len(ids))
            wanted = ids
        at = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        found = self.ids[at] == wanted
        rows[inside[found]] = at[found]
        return rows

    def live_ids_among(self, ids: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which of ``ids`` are stored here and not removed."""
        rows = self.rows_of(ids)
        live = rows >= 0
        live[live] = ~self._removed_rows(rows[live])
        return live

    def remove(self, ids: NDArray[np.int64]) -> int:
        """Tombstone the live ids among ``ids`` (distinct); returns how many."""
        rows = self.rows_of(ids)
        rows = rows[rows >= 0]
        rows = rows[~self._removed_rows(rows)]
        if len(rows):
            if not self.tombstones.flags.writeable:
                self.tombstones = self.tombstones.copy()
            np.bitwise_or.at(
                self.tombstones, rows >> 3, np.left_shift(1, rows & 7).astype(np.uint8)
            )
            self.removed += len(rows)
        return len(rows)

    def entries(self) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        """Live (ids, hashes), ids ascending, for rebuilding or merging."""
        rows = np.arange(len(self.ids))
        if self.removed:
            rows = rows[~self._removed_rows(rows)]
        return self._ids_at(rows), self.hashes[rows]

    def arrays(self) -> dict[str, NDArray[Any]]:
        """The arrays to save, by name; see ``from_arrays``."""
        named: dict[str, NDArray[Any]] = {
            "hashes": self.hashes,
            "ids": self.ids,
            "tombstones": self.tombstones,
        }
        for number, (directory, posting) in enumerate(
            zip(self.directories, self.postings, strict=True)
        ):
            named[f"directory{number}"] = directory
            named[f"postings{number}"] = posting
        return named

    def meta(self) -> dict[str, Any]:
        """What the file header keeps of the segment: id_base and the tables as
        [start, key_bits, prefix_bits] lists."""
        return {
            "id_base": self.id_base,
            "tables": [[t.start, t.key_bits, t.prefix_bits] for t in self.tables],
        }

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> Segment:
        """The segment saved as ``meta()`` and ``arrays()``; raises ValueError if damaged."""
        tables = tuple(TableGeometry(*(int(v) for v in spec)) for spec in meta["tables"])
        if not MIN_TABLES <= len(tables) <= MAX_TABLES:
            raise ValueError(f"a segment has {MIN_TABLES}-{MAX_TABLES} tables")
        hashes, ids, tombstones = arrays["hashes"], arrays["ids"], arrays["tombstones"]
        rows = len(hashes)
        if hashes.ndim != 2 or hashes.shape[1] != HASH_BYTES or ids.shape != (rows,):
            raise ValueError("hashes and ids disagree")
        if ids.dtype not in (np.uint32, np.int64):
            raise ValueError(f"ids of dtype {ids.dtype}")
        if tombstones.shape != ((rows + 7) // 8,):
            raise ValueError("tombstones do not match the rows")
        directories = []
        postings = []
        for number, table in enumerate(tables):
            directory = arrays[f"directory{number}"]
            if len(directory) != (1 << table.prefix_bits) + 1 or int(directory[-1]) != rows:
                raise ValueError(f"directory {number} does not match the rows")
            directories.append(directory)
            postings.append(arrays[f"postings{number}"])
        return cls(
            hashes=hashes,
            ids=ids,
            id_base=int(meta["id_base"]),
            tombstones=tombstones,
            tables=tables,
            directories=directories,
            postings=postings,
            removed=int(np.bitwise_count(tombstones).sum()),
        )
