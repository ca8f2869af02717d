"""Helpers shared by the indexes: id membership, distinct ids, batch validation, hit order."""

from __future__ import annotations

import numpy as np
import pytest

from rempart.index.base import check_hashes, distinct, member_mask, sorted_hits


@pytest.mark.parametrize("members", [0, 1, 16, 17, 5000])
def test_member_mask_agrees_with_python_sets(members: int) -> None:
    rng = np.random.default_rng(members)
    values = rng.integers(-(2**62), 2**62, size=3000)
    # Half of them present among the values, half (mostly) absent.
    chosen = np.concatenate(
        [rng.choice(values, size=(members + 1) // 2), rng.integers(0, 99, members)]
    )
    chosen = chosen[:members]
    wanted = set(chosen.tolist())
    mask = member_mask(values, chosen)
    assert mask.tolist() == [value in wanted for value in values.tolist()]
    assert mask.any() == (members > 0)


def test_distinct_sorts_and_drops_repeats() -> None:
    assert distinct(np.array([5, -1, 5, 3, -1], dtype=np.int64)).tolist() == [-1, 3, 5]
    assert distinct(np.zeros(0, dtype=np.int64)).tolist() == []


def test_a_batch_with_a_repeated_id_is_refused() -> None:
    hashes = np.zeros((3, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match="distinct"):
        check_hashes(np.array([4, 9, 4]), hashes)
    with pytest.raises(ValueError, match="same length"):
        check_hashes(np.array([4, 9]), hashes)


def test_hits_are_ordered_by_query_then_distance_then_id() -> None:
    hits = sorted_hits(
        np.array([1, 0, 0, 1], dtype=np.int64),
        np.array([7, 9, 8, 3], dtype=np.int64),
        np.array([2, 5, 5, 2], dtype=np.int32),
    )
    assert list(hits) == [(0, 8, 5), (0, 9, 5), (1, 3, 2), (1, 7, 2)]
