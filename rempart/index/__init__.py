"""Hamming-space indexes of 256-bit hashes: exact range search, snapshots."""

from rempart.index.base import (
    DEFAULT_MAX_DISTANCE,
    MAX_DISTANCE,
    HammingIndex,
    RangeHits,
)
from rempart.index.brute import BruteForceIndex

__all__ = ["DEFAULT_MAX_DISTANCE", "MAX_DISTANCE", "BruteForceIndex", "HammingIndex", "RangeHits"]
