"""Every (query, stored hash) pair within a distance, by a linear scan in the C kernel.

What an index does below the size where tables pay (its write buffer, a small segment), and
what a caller needs when it compares a few hundred hashes with a few dozen: one C loop instead
of NumPy's XOR, popcount and sum over a (queries x hashes x 4) array, which costs about 15x
more at that size (measured: 315 x 44 hashes, 22 vs 330 us).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rempart.index import _kernels

# (query number, row, distance) of each pair within the distance, by query then row.
Hits = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]


def near_pairs(queries: NDArray[np.uint8], hashes: NDArray[np.uint8], max_distance: int) -> Hits:
    """Pairs of ``queries`` (n, 32) and ``hashes`` (m, 32) within ``max_distance`` bits (0-63);
    rows number ``hashes``. Both arrays C-contiguous ``uint8``."""
    return decoded(_kernels.scan(queries, hashes, max_distance))


def decoded(found: _kernels.Hits) -> Hits:
    """A kernel's answer (uint32 query numbers and rows, uint8 distances, as bytes) as arrays."""
    query_no, rows, distances = found
    return (
        np.frombuffer(query_no, dtype=np.uint32).astype(np.int64),
        np.frombuffer(rows, dtype=np.uint32).astype(np.int64),
        np.frombuffer(distances, dtype=np.uint8).astype(np.int32),
    )
