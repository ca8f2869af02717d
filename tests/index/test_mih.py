"""MihIndex against the NumPy oracle: random and planted hashes, live adds and removes,
duplicates, save/load round trips, every radius."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rempart.index import MihIndex, RangeHits, _kernels
from tests.index.hashes import flipped, oracle, planted_queries, random_hashes


class Model:
    """What the index should hold: id -> hash, with the ops applied to both."""

    def __init__(self, index: MihIndex, seed: int) -> None:
        self.index = index
        self.rng = np.random.default_rng(seed)
        self.live: dict[int, np.ndarray] = {}
        self.removed: list[int] = []
        self.next_id = 0

    def add(self, count: int) -> None:
        hashes = random_hashes(self.rng, count)
        if self.live:
            stored = np.stack(list(self.live.values()))
            for row in range(0, count, 3):  # a third are near or exact copies of stored hashes
                hashes[row] = flipped(
                    self.rng, stored[self.rng.integers(len(stored))], int(self.rng.integers(0, 41))
                )
        ids = []
        for _ in range(count):
            if self.removed and self.rng.random() < 0.2:
                ids.append(self.removed.pop())  # re-adding a removed id
            else:
                ids.append(self.next_id)
                self.next_id += 1
        self.index.add(np.array(ids, dtype=np.int64), hashes)
        self.live.update(zip(ids, hashes, strict=True))

    def remove(self, count: int) -> None:
        live = list(self.live)
        chosen = [live[i] for i in self.rng.permutation(len(live))[:count]]
        unknown = [-1 - i for i in range(3)]
        assert self.index.remove(np.array(chosen + unknown, dtype=np.int64)) == len(chosen)
        for id_ in chosen:
            del self.live[id_]
        self.removed.extend(chosen)

    def queries(self) -> np.ndarray:
        random = random_hashes(self.rng, 5)
        if not self.live:
            return random
        stored = np.stack(list(self.live.values()))
        return np.concatenate([planted_queries(self.rng, stored, list(range(41))), random])

    def expected(self, queries: np.ndarray, max_distance: int) -> list[tuple[int, int, int]]:
        ids = np.array(list(self.live), dtype=np.int64)
        hashes = np.stack(list(self.live.values())) if self.live else np.zeros((0, 32), np.uint8)
        return oracle(ids, hashes, queries, max_distance)


radius = st.one_of(st.integers(26, 36), st.sampled_from([0, 1, 7, 15, 31, 40, 52, 63]))
steps = st.lists(
    st.tuples(st.sampled_from(["add", "add", "remove"]), st.integers(1, 150)),
    min_size=1,
    max_size=7,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    ops=steps,
    buffer_limit=st.sampled_from([1, 8, 60, 10_000]),
    max_distance=radius,
    planned=st.sampled_from([None, 0, 16, 24, 28, 45]),
    kernel=st.sampled_from(_kernels.kernel_names()),
)
def test_matches_the_oracle_through_adds_removes_and_a_reload(
    seed: int,
    ops: list[tuple[str, int]],
    buffer_limit: int,
    max_distance: int,
    planned: int | None,
    kernel: str,
) -> None:
    """Exact whatever radius the tables were planned for (``planned``) and searched at."""
    _kernels.use_kernel(kernel)
    try:
        check_against_the_oracle(seed, ops, buffer_limit, max_distance, planned)
    finally:
        _kernels.use_kernel(_kernels.kernel_names()[-1])


def check_against_the_oracle(
    seed: int,
    ops: list[tuple[str, int]],
    buffer_limit: int,
    max_distance: int,
    planned: int | None = None,
) -> None:
    model = Model(MihIndex(buffer_limit=buffer_limit, threads=1, radius=planned), seed)
    for op, count in ops:
        model.add(count) if op == "add" else model.remove(count)
    assert len(model.index) == len(model.live)
    queries = model.queries()
    assert list(model.index.range_search(queries, max_distance)) == model.expected(
        queries, max_distance
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bank.index"
        model.index.save(path)
        model.index = MihIndex.load(path)
        assert model.index.radius == planned
        assert len(model.index) == len(model.live)
        assert list(model.index.range_search(queries, max_distance)) == model.expected(
            queries, max_distance
        )
        model.remove(10)  # writes after a load: the mapped arrays are never written to
        model.add(20)
        queries = model.queries()
        assert list(model.index.range_search(queries, max_distance)) == model.expected(
            queries, max_distance
        )


@pytest.mark.parametrize("radius", [-1, 64])
def test_a_planned_radius_outside_0_63_is_refused(radius: int) -> None:
    with pytest.raises(ValueError, match="radius must be 0-63"):
        MihIndex(radius=radius)


def test_large_batches_split_across_threads_give_the_same_hits() -> None:
    rng = np.random.default_rng(3)
    hashes = random_hashes(rng, 5000)
    queries = np.concatenate(
        [planted_queries(rng, hashes, [d % 41 for d in range(600)]), random_hashes(rng, 200)]
    )
    ids = np.arange(5000, dtype=np.int64)
    alone, shared = MihIndex(threads=1), MihIndex(threads=4)
    alone.add(ids, hashes)
    shared.add(ids, hashes)
    expected = oracle(ids, hashes, queries, 31)
    assert list(alone.range_search(queries)) == expected
    assert list(shared.range_search(queries)) == expected


def test_an_empty_index_finds_nothing_and_removes_nothing(tmp_path: Path) -> None:
    index = MihIndex()
    query = random_hashes(np.random.default_rng(0), 1)
    assert len(index) == 0
    assert index.remove(np.array([1, 2], dtype=np.int64)) == 0
    assert len(index.range_search(query, 63)) == 0
    index.save(tmp_path / "empty.index")
    loaded = MihIndex.load(tmp_path / "empty.index")
    assert len(loaded) == 0
    assert loaded.range_search(query).ids.tolist() == []


def test_equal_hashes_under_different_ids_are_all_found() -> None:
    rng = np.random.default_rng(1)
    hashes = random_hashes(rng, 200)
    hashes[50:60] = hashes[7]  # eleven ids share one hash
    index = MihIndex(buffer_limit=100)
    index.add(np.arange(100, 300, dtype=np.int64), hashes)
    assert len(index) == 200
    hits = index.range_search(hashes[7], 0)
    assert hits.ids.tolist() == [107, *range(150, 160)]
    assert index.remove(np.array([107, 150], dtype=np.int64)) == 2
    assert index.range_search(hashes[7], 0).ids.tolist() == list(range(151, 160))


def test_a_removed_id_can_come_back_with_another_hash() -> None:
    rng = np.random.default_rng(2)
    old, new = random_hashes(rng, 2)
    index = MihIndex(buffer_limit=1)  # the old hash sits in a segment, tombstoned
    index.add(np.array([9]), old[None])
    index.add(np.array([10]), new[None])
    assert index.remove(np.array([9])) == 1
    assert len(index.range_search(old, 0)) == 0
    index.add(np.array([9]), new[None])
    assert list(index.range_search(np.stack([old, new]), 0)) == [(1, 9, 0), (1, 10, 0)]
    with pytest.raises(ValueError, match="already"):
        index.add(np.array([9]), old[None])


def test_radius_zero_is_exact_equality_and_63_is_the_widest() -> None:
    rng = np.random.default_rng(4)
    hashes = random_hashes(rng, 3000)
    far = np.stack([flipped(rng, hashes[0], d) for d in (1, 62, 63, 64)])
    index = MihIndex(buffer_limit=500)
    index.add(np.arange(3000, dtype=np.int64), hashes)
    index.add(np.arange(3000, 3004, dtype=np.int64), far)
    assert index.range_search(hashes[0], 0).ids.tolist() == [0]
    assert list(index.range_search(hashes[0], 63)) == [
        (0, 0, 0),
        (0, 3000, 1),
        (0, 3001, 62),
        (0, 3002, 63),
    ]
    with pytest.raises(ValueError, match="max_distance"):
        index.range_search(hashes[0], 64)


def test_segments_merge_geometrically_and_compact_their_tombstones() -> None:
    rng = np.random.default_rng(5)
    index = MihIndex(buffer_limit=100)
    for start in range(0, 5000, 100):
        index.add(np.arange(start, start + 100, dtype=np.int64), random_hashes(rng, 100))
    sizes = index.segment_sizes
    assert sum(sizes) == 5000
    assert all(older > 4 * newer for older, newer in itertools.pairwise(sizes))
    assert len(sizes) <= 4
    index.remove(np.arange(0, 4000, dtype=np.int64))
    assert len(index) == 1000
    assert all(s.removed <= 0.25 * s.stored_ids for s in index._segments)


def test_hits_are_sorted_by_query_distance_and_id() -> None:
    rng = np.random.default_rng(6)
    base = random_hashes(rng, 1)[0]
    hashes = np.stack([flipped(rng, base, d) for d in (5, 3, 3, 0, 9)])
    index = MihIndex()
    index.add(np.array([50, 40, 30, 20, 10], dtype=np.int64), hashes)
    hits = index.range_search(np.stack([base, base]), 8)
    assert isinstance(hits, RangeHits)
    assert list(hits) == [
        (q, i, d) for q in (0, 1) for i, d in ((20, 0), (30, 3), (40, 3), (50, 5))
    ]


def test_removals_are_saved_and_a_loaded_index_removes_without_touching_its_file(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    hashes = random_hashes(rng, 3000)
    index = MihIndex(buffer_limit=1000)
    index.add(np.arange(3000, dtype=np.int64), hashes)
    assert index.remove(np.array([5, 2500], dtype=np.int64)) == 2
    index.save(tmp_path / "a.index")
    loaded = MihIndex.load(tmp_path / "a.index")
    assert len(loaded) == 2998
    assert loaded.range_search(hashes[[5, 2500, 6]], 0).ids.tolist() == [6]
    before = (tmp_path / "a.index").read_bytes()
    assert loaded.remove(np.array([6, 5], dtype=np.int64)) == 1
    assert len(loaded.range_search(hashes[6], 0)) == 0
    assert (tmp_path / "a.index").read_bytes() == before
    assert MihIndex.load(tmp_path / "a.index").range_search(hashes[6], 0).ids.tolist() == [6]
