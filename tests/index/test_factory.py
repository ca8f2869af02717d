"""Choosing an index, growing a brute-force one, loading either kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rempart.errors import InvalidIndexFile
from rempart.index import (
    BRUTE_FORCE_LIMIT,
    BruteForceIndex,
    MihIndex,
    grown,
    load_index,
    new_index,
)
from rempart.index.fileformat import write_snapshot
from tests.index.hashes import oracle, planted_queries, random_hashes


def test_small_known_sizes_get_brute_force_and_the_rest_multi_index() -> None:
    assert isinstance(new_index(10), BruteForceIndex)
    assert isinstance(new_index(BRUTE_FORCE_LIMIT), BruteForceIndex)
    assert isinstance(new_index(BRUTE_FORCE_LIMIT + 1), MihIndex)
    assert isinstance(new_index(10_000_000), MihIndex)
    assert isinstance(new_index(), MihIndex)


def test_a_brute_force_index_grows_into_a_multi_index_with_the_same_answers() -> None:
    rng = np.random.default_rng(0)
    hashes = random_hashes(rng, BRUTE_FORCE_LIMIT + 1)
    ids = np.arange(len(hashes), dtype=np.int64) * 3
    small = BruteForceIndex()
    small.add(ids[:-1], hashes[:-1])
    assert grown(small) is small
    small.add(ids[-1:], hashes[-1:])
    bigger = grown(small)
    assert isinstance(bigger, MihIndex)
    queries = planted_queries(rng, hashes, list(range(41)))
    assert list(bigger.range_search(queries)) == oracle(ids, hashes, queries, 31)
    assert grown(bigger) is bigger


def test_load_index_maps_either_kind(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    hashes = random_hashes(rng, 30)
    ids = np.arange(30, dtype=np.int64)
    for index in (BruteForceIndex(), MihIndex(buffer_limit=8)):
        index.add(ids, hashes)
        index.save(tmp_path / "x.index")
        loaded = load_index(tmp_path / "x.index")
        assert type(loaded) is type(index)
        assert list(loaded.range_search(hashes, 0)) == [(i, i, 0) for i in range(30)]
    write_snapshot(tmp_path / "x.index", "other", {}, {})
    with pytest.raises(InvalidIndexFile, match="unknown kind"):
        load_index(tmp_path / "x.index")
