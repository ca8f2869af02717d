"""Segment geometry and exactness for every table count the kernel supports, every radius."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rempart.index.segment import (
    MAX_TABLES,
    MIN_TABLES,
    Segment,
    TableGeometry,
    plan_tables,
    probing_is_cheaper,
    table_radii,
)
from tests.index.hashes import oracle, planted_queries, random_hashes


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
    assert probing_is_cheaper(tables, table_radii(tables, 31), 2000)
    assert not probing_is_cheaper(tables, table_radii(tables, 63), 2000)


@pytest.mark.parametrize("count", [8, 9, 10, 11, 12, 13, 16, 21, 32])
def test_every_geometry_is_exact_at_every_radius(count: int) -> None:
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
        for max_distance in range(64):
            query_no, found_ids, distances = segment.search(queries, max_distance)
            order = np.lexsort((found_ids, distances, query_no))
            found = list(
                zip(
                    query_no[order].tolist(),
                    found_ids[order].tolist(),
                    distances[order].tolist(),
                    strict=True,
                )
            )
            expected = [hit for hit in within_63 if hit[2] <= max_distance]
            assert found == expected, (prefix, max_distance)


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
