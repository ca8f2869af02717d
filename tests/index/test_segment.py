"""Segment geometry and exactness for every table count the kernel supports, every radius."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rempart.index import _kernels
from rempart.index.segment import (
    MAX_TABLES,
    MIN_TABLES,
    Segment,
    TableGeometry,
    expected_misses,
    plan_for_radius,
    plan_tables,
    probing_is_cheaper,
    table_radii,
)
from tests.index.hashes import hit_list, oracle, planted_queries, random_hashes


@pytest.mark.parametrize("rows", [1, 2, 1000, 100_000, 1_000_000, 10_000_000, 300_000_000])
def test_planned_substrings_cover_the_hash_and_fit_a_posting(rows: int) -> None:
    tables = plan_tables(rows)
    assert tables[0].start == 0
    assert sum(t.key_bits for t in tables) == 256
    assert all(a.start + a.key_bits == b.start for a, b in itertools.pairwise(tables))
    row_bits = max(1, (rows - 1).bit_length())
    for table in tables:
        assert 1 <= table.prefix_bits <= min(table.key_bits, 28)
        assert row_bits + table.key_bits - table.prefix_bits <= 32


def test_the_plan_follows_log2_of_the_size() -> None:
    assert len(plan_tables(100_000)) == 15
    assert len(plan_tables(1_000_000)) == 13
    assert len(plan_tables(10_000_000)) == 11
    assert len(plan_tables(50)) == 16


@pytest.mark.parametrize(
    ("rows", "radius"), [(75_000, 28), (1_118_042, 28), (4_391_729, 24), (10_000_000, 31)]
)
def test_a_plan_for_a_radius_is_the_cheapest_by_the_cost_model(rows: int, radius: int) -> None:
    planned = plan_for_radius(rows, radius)
    assert sum(t.key_bits for t in planned) == 256
    alternatives = [
        plan_tables(rows, count, bucket_log) for count in range(8, 17) for bucket_log in (2, 3, 4)
    ]
    assert expected_misses(planned, radius, rows) == min(
        expected_misses(tables, radius, rows) for tables in alternatives
    )


def test_a_plan_for_the_matchers_radii_differs_from_the_default() -> None:
    """The measured case (docs/index.md): 28-bit lookups among 1.1 M anchor-pair regions."""
    rows = 1_118_042
    assert len(plan_tables(rows)) == 13
    assert len(plan_for_radius(rows, 28)) == 14
    assert expected_misses(plan_for_radius(rows, 28), 28, rows) < 0.9 * expected_misses(
        plan_tables(rows), 28, rows
    )


@pytest.mark.parametrize("count", range(MIN_TABLES, MAX_TABLES + 1))
def test_radii_cannot_miss_by_the_pigeonhole_principle(count: int) -> None:
    tables = plan_tables(10_000, count)
    for max_distance in range(64):
        radii = table_radii(tables, max_distance)
        # If every substring were farther than its radius, the distance would exceed the limit.
        assert sum(radius + 1 for radius in radii) >= max_distance + 1
        assert all(-1 <= radius <= t.key_bits for radius, t in zip(radii, tables, strict=True))


def test_large_radii_on_small_segments_are_scanned() -> None:
    tables = plan_tables(2000)
    assert probing_is_cheaper(tables, 31, 2000)
    assert not probing_is_cheaper(tables, 63, 2000)


@pytest.mark.parametrize("count", [8, 9, 10, 11, 12, 13, 16, 21, 32])
def test_every_geometry_is_exact_at_every_radius(count: int, kernel: str) -> None:
    rng = np.random.default_rng(count)
    hashes = random_hashes(rng, 3000)
    hashes[100:104] = hashes[3]
    ids = rng.permutation(10**6)[:3000].astype(np.int64)
    queries = np.concatenate(
        [planted_queries(rng, hashes, list(range(41)) * 2), random_hashes(rng, 10)]
    )
    within_63 = oracle(ids, hashes, queries, 63)
    # Short and long prefixes: long suffixes in the postings (up to the 20 bits that 3000 rows
    # leave beside a row number), and buckets of many rows.
    for prefix in (4, 11):
        tables = tuple(
            TableGeometry(t.start, t.key_bits, min(t.key_bits, max(prefix, t.key_bits - 20)))
            for t in plan_tables(3000, count)
        )
        segment = Segment.build(ids, hashes, tables)
        for max_distance, by_table in itertools.product(range(64), (False, True)):
            found = hit_list(*segment.search(queries, max_distance, by_table))
            expected = [hit for hit in within_63 if hit[2] <= max_distance]
            assert found == expected, (prefix, max_distance, by_table)


def test_entries_give_back_every_live_id_with_its_hash() -> None:
    rng = np.random.default_rng(9)
    hashes = random_hashes(rng, 500)
    hashes[10] = hashes[20]
    ids = np.arange(1000, 1500, dtype=np.int64)
    segment = Segment.build(ids, hashes)
    assert segment.remove(np.array([1001, 1020, 7], dtype=np.int64)) == 2
    got_ids, got_hashes = segment.entries()
    keep = ~np.isin(ids, [1001, 1020])
    expected = sorted(zip(ids[keep].tolist(), map(bytes, hashes[keep]), strict=True))
    assert sorted(zip(got_ids.tolist(), map(bytes, got_hashes), strict=True)) == expected
    assert len(segment) == 498


@pytest.mark.parametrize(
    ("low", "high", "stored"),
    [(0, 2**32 - 1, np.uint32), (-(2**40), -(2**40) + 10**6, np.uint32), (0, 2**32, np.int64)],
)
def test_ids_are_kept_as_32_bit_offsets_when_they_span_less_than_2_to_the_32(
    low: int, high: int, stored: type
) -> None:
    rng = np.random.default_rng(7)
    ids = np.concatenate([[high, low], rng.integers(low, high, 300)]).astype(np.int64)
    ids = np.unique(ids)[rng.permutation(len(np.unique(ids)))]  # distinct, in no order
    hashes = random_hashes(rng, len(ids))
    segment = Segment.build(ids, hashes)
    assert segment.ids.dtype == stored
    rows = segment.rows_of(ids)
    assert (rows >= 0).all() and (segment.hashes[rows] == hashes).all()
    outside = np.array([low - 1, high + 1, low + 2**32, -(2**63), 2**63 - 1], dtype=np.int64)
    assert (segment.rows_of(outside[~np.isin(outside, ids)]) == -1).all()
    query_no, found, _ = segment.search(hashes, 0)
    assert sorted(zip(query_no.tolist(), found.tolist(), strict=True)) == list(
        enumerate(ids.tolist())
    )


def test_removed_rows_are_skipped_by_every_search_path(kernel: str) -> None:
    rng = np.random.default_rng(8)
    hashes = random_hashes(rng, 2000)
    ids = np.arange(2000, dtype=np.int64) * 7
    segment = Segment.build(ids, hashes)
    gone = ids[::3]
    assert segment.remove(gone) == len(gone)
    assert segment.remove(gone[:5]) == 0
    keep = ids % 3 != 0
    queries = planted_queries(rng, hashes, list(range(41)))
    # 63 scans this segment instead of probing it
    for max_distance, by_table in itertools.product((0, 31, 63), (False, True)):
        got = hit_list(*segment.search(queries, max_distance, by_table))
        assert got == oracle(ids[keep], hashes[keep], queries, max_distance)


def test_a_batch_too_large_for_one_sort_is_searched_in_groups(kernel: str) -> None:
    # 8 tables of 12-bit prefixes at radius 6 are 2510 probes per query and table: the kernel
    # sorts at most 2^21 probes at once, so 2200 queries go through in three groups.
    rng = np.random.default_rng(10)
    hashes = random_hashes(rng, 3000)
    ids = np.arange(3000, dtype=np.int64)
    tables = tuple(TableGeometry(t.start, t.key_bits, 12) for t in plan_tables(3000, 8))
    segment = Segment.build(ids, hashes, tables)
    radii = table_radii(tables, 55)
    assert set(radii) == {6}
    specs = [
        (t.start, t.key_bits, t.prefix_bits, radius, directory, posting)
        for t, radius, directory, posting in zip(
            tables, radii, segment.directories, segment.postings, strict=True
        )
    ]
    queries = np.concatenate(
        [planted_queries(rng, hashes, [d % 60 for d in range(2000)]), random_hashes(rng, 200)]
    )
    found = _kernels.search(queries, segment.hashes, 55, specs, None, True, 0, len(specs))
    query_no = np.frombuffer(found[0], dtype=np.uint32).tolist()
    rows = np.frombuffer(found[1], dtype=np.uint32).tolist()
    distances = np.frombuffer(found[2], dtype=np.uint8).tolist()
    got = sorted(zip(query_no, rows, distances, strict=True), key=lambda h: (h[0], h[2], h[1]))
    assert got == oracle(ids, hashes, queries, 55)


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_table_shares_split_the_work_and_their_hits_add_up_to_the_search(parts: int) -> None:
    rng = np.random.default_rng(11)
    hashes = random_hashes(rng, 5000)
    segment = Segment.build(np.arange(5000, dtype=np.int64), hashes)
    queries = planted_queries(rng, hashes, [d % 41 for d in range(200)])
    for max_distance in (7, 20, 31):
        shares = segment.table_shares(max_distance, parts)
        assert shares is not None and len(shares) == min(parts, len(segment.tables))
        assert shares[0][0] == 0 and shares[-1][1] == len(segment.tables)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(shares))
        whole = segment.search(queries, max_distance)
        pieces = [segment.search(queries, max_distance, tables=share) for share in shares]

        def listed(hits: tuple[np.ndarray, ...]) -> list[tuple[int, ...]]:
            return sorted(zip(*(part.tolist() for part in hits), strict=True))

        together = [hit for piece in pieces for hit in listed(piece)]
        assert sorted(together) == listed(whole)  # each hit from exactly one share
    assert segment.table_shares(63, 2) is None  # scanned at this radius
