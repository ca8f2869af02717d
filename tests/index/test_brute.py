"""BruteForceIndex, the NumPy reference: edge cases and its saved form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rempart.errors import InvalidIndexFile
from rempart.index import BruteForceIndex
from tests.index.hashes import oracle, planted_queries, random_hashes


def test_matches_the_oracle_after_adds_and_removes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    hashes = random_hashes(rng, 400)
    hashes[5] = hashes[6]
    ids = np.arange(400, dtype=np.int64)
    index = BruteForceIndex()
    index.add(ids[:200], hashes[:200])
    index.add(ids[200:], hashes[200:])
    assert index.remove(np.array([1, 2, 3, 1000], dtype=np.int64)) == 3
    keep = ~np.isin(ids, [1, 2, 3])
    queries = planted_queries(rng, hashes, list(range(41)))
    for max_distance in (0, 31, 63):
        expected = oracle(ids[keep], hashes[keep], queries, max_distance)
        assert list(index.range_search(queries, max_distance)) == expected
    index.save(tmp_path / "b.index")
    loaded = BruteForceIndex.load(tmp_path / "b.index")
    assert list(loaded.range_search(queries)) == oracle(ids[keep], hashes[keep], queries, 31)
    loaded.add(np.array([1]), hashes[1:2])
    assert loaded.range_search(hashes[1], 0).ids.tolist() == [1]


def test_edge_cases() -> None:
    index = BruteForceIndex()
    query = random_hashes(np.random.default_rng(1), 1)
    assert len(index.range_search(query, 63)) == 0
    assert index.remove(np.array([4])) == 0
    index.add(np.array([4]), query)
    with pytest.raises(ValueError, match="already"):
        index.add(np.array([4]), query)
    with pytest.raises(ValueError, match="distinct"):
        index.add(np.array([5, 5]), np.concatenate([query, query]))
    with pytest.raises(ValueError, match="shape"):
        index.add(np.array([6]), np.zeros((1, 31), dtype=np.uint8))


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    path.write_bytes(b"RMPBF001" + bytes(64))
    with pytest.raises(InvalidIndexFile):
        BruteForceIndex.load(path)
