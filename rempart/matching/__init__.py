"""Decide matches from fingerprints and index hits: thresholds, quality, agreement rules."""

from rempart.matching.records import RecordMatch, match_records
from rempart.matching.regions import (
    REMOVE_REGIONS,
    REVIEW_REGIONS,
    DerivativeMatch,
    RegionMatcher,
)
from rempart.matching.video import (
    QUERY_THRESHOLD_PCT,
    REFERENCE_THRESHOLD_PCT,
    VideoMatch,
    VideoMatcher,
)

__all__ = [
    "QUERY_THRESHOLD_PCT",
    "REFERENCE_THRESHOLD_PCT",
    "REMOVE_REGIONS",
    "REVIEW_REGIONS",
    "DerivativeMatch",
    "RecordMatch",
    "RegionMatcher",
    "VideoMatch",
    "VideoMatcher",
    "match_records",
]
