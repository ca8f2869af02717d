import numpy as np

from rempart.index import near_pairs


def test_near_pairs_returns_every_pair_within_the_distance_by_query_then_row() -> None:
    rng = np.random.default_rng(3)
    queries = rng.integers(0, 256, (30, 32), dtype=np.uint8)
    hashes = np.concatenate([queries[::3] ^ (rng.random((10, 32)) < 0.1), queries[:5]])
    hashes = np.ascontiguousarray(hashes.astype(np.uint8))
    distances = np.bitwise_count(queries[:, None, :] ^ hashes[None, :, :]).sum(axis=2)
    expected_q, expected_r = np.nonzero(distances <= 40)
    query_no, rows, found = near_pairs(queries, hashes, 40)
    assert len(expected_q) >= 15  # the planted near copies, and the exact ones
    assert query_no.tolist() == expected_q.tolist()
    assert rows.tolist() == expected_r.tolist()
    assert found.tolist() == distances[expected_q, expected_r].tolist()
    assert len(near_pairs(queries, hashes, 0)[0]) == 5
