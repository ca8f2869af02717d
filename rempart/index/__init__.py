"""Hamming-space indexes of 256-bit hashes: exact range search, memory-mapped snapshots."""

from rempart.index.base import (
    DEFAULT_MAX_DISTANCE,
    MAX_DISTANCE,
    HammingIndex,
    RangeHits,
)
from rempart.index.brute import BruteForceIndex
from rempart.index.factory import BRUTE_FORCE_LIMIT, grown, load_index, new_index
from rempart.index.mih import MihIndex
from rempart.index.scan import near_pairs

__all__ = [
    "BRUTE_FORCE_LIMIT",
    "DEFAULT_MAX_DISTANCE",
    "MAX_DISTANCE",
    "BruteForceIndex",
    "HammingIndex",
    "MihIndex",
    "RangeHits",
    "grown",
    "load_index",
    "near_pairs",
    "new_index",
]
