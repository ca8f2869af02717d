"""Fingerprints of media: PDQ (perceptual), regional signatures (derivatives), vPDQ (video
frames) and MD5/SHA-256 (exact)."""

from rempart.signals.compute import (
    ImageSignals,
    VideoSignals,
    compute_image_signals,
    compute_video_signals,
)
from rempart.signals.exact import ExactHash, md5_of, sha256_of
from rempart.signals.pdq import (
    DIHEDRAL_NAMES,
    MATCH_THRESHOLD,
    MAX_THRESHOLD,
    QUALITY_FLOOR,
    PdqHash,
    hamming_hex,
    hamming_packed,
    pack_hex,
    pdq_dihedral,
    pdq_hash,
)
from rempart.signals.regions import (
    MAX_QUERY_REGIONS,
    MAX_REFERENCE_REGIONS,
    QueryImage,
    Region,
    RegionalSignature,
    compute_query_regions,
    compute_regional_signature,
)
from rempart.signals.registry import SIGNAL_TYPES, Signal, parse_signal, signal_type_of
from rempart.signals.video import (
    DEFAULT_FRAME_INTERVAL_S,
    VideoSignature,
    VpdqFrame,
    vpdq_signature,
)

__all__ = [
    "DEFAULT_FRAME_INTERVAL_S",
    "DIHEDRAL_NAMES",
    "MATCH_THRESHOLD",
    "MAX_QUERY_REGIONS",
    "MAX_REFERENCE_REGIONS",
    "MAX_THRESHOLD",
    "QUALITY_FLOOR",
    "SIGNAL_TYPES",
    "ExactHash",
    "ImageSignals",
    "PdqHash",
    "QueryImage",
    "Region",
    "RegionalSignature",
    "Signal",
    "VideoSignals",
    "VideoSignature",
    "VpdqFrame",
    "compute_image_signals",
    "compute_query_regions",
    "compute_regional_signature",
    "compute_video_signals",
    "hamming_hex",
    "hamming_packed",
    "md5_of",
    "pack_hex",
    "parse_signal",
    "pdq_dihedral",
    "pdq_hash",
    "sha256_of",
    "signal_type_of",
    "vpdq_signature",
]
