"""Decide matches from fingerprints and index hits: thresholds, quality, agreement rules."""

from rempart.matching.records import RecordMatch, match_records

__all__ = ["RecordMatch", "match_records"]
