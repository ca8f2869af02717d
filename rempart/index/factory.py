"""Which index to use: the choice the matching service makes, and growing from one to the other.

``MihIndex`` answers any size (below its buffer limit it is a linear scan in C, faster than the
NumPy brute force even at 256 hashes), so a service whose banks may grow starts with
``new_index()`` and keeps the index it gets: it grows by itself. ``BruteForceIndex`` (NumPy, no
C, no segments) is the simpler choice for sets known to stay under ``BRUTE_FORCE_LIMIT``, such as
the regions of one image; ``grown`` moves such an index into a ``MihIndex`` once it outgrows
that.
"""

from __future__ import annotations

import os

from rempart.errors import InvalidIndexFile
from rempart.index.base import HammingIndex
from rempart.index.brute import KIND as BRUTE_KIND
from rempart.index.brute import BruteForceIndex
from rempart.index.fileformat import read_snapshot
from rempart.index.mih import KIND as MIH_KIND
from rempart.index.mih import MihIndex

# Up to this many hashes the NumPy brute force answers a query in about 30 us or less, within
# 3x of MihIndex and far below a request's other costs; above it the scan grows linearly
# (0.4 ms at 16 k hashes) while MihIndex stays at tens of microseconds (docs/index.md).
BRUTE_FORCE_LIMIT = 1024


def new_index(expected_size: int | None = None, *, radius: int | None = None) -> HammingIndex:
    """An empty index suited to ``expected_size`` hashes (unknown: it may grow large), searched
    mostly within ``radius`` bits when the caller knows it (see ``MihIndex``).

    ``BruteForceIndex`` when the caller knows the set stays under ``BRUTE_FORCE_LIMIT``,
    ``MihIndex`` otherwise.
    """
    if expected_size is not None and expected_size <= BRUTE_FORCE_LIMIT:
        return BruteForceIndex()
    return MihIndex(radius=radius)


def grown(index: HammingIndex) -> HammingIndex:
    """``index`` itself, or a ``MihIndex`` with the same entries once a brute-force index holds
    more than ``BRUTE_FORCE_LIMIT`` hashes. The caller replaces its reference (and, like any
    write, serialises this against searches)."""
    if isinstance(index, BruteForceIndex) and len(index) > BRUTE_FORCE_LIMIT:
        bigger = MihIndex()
        bigger.add(*index.entries())
        return bigger
    return index


def load_index(path: str | os.PathLike[str]) -> HammingIndex:
    """Map a saved index of either kind (see ``rempart.index.fileformat``).

    Raises ``InvalidIndexFile`` when the file is not a rempart index or is damaged.
    """
    kind = read_snapshot(path).kind
    if kind == MIH_KIND:
        return MihIndex.load(path)
    if kind == BRUTE_KIND:
        return BruteForceIndex.load(path)
    raise InvalidIndexFile(f"{os.fspath(path)} holds an unknown kind of index: {kind!r}")
