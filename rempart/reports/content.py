"""The evidence of a case as one canonical document, and its SHA-256.

The PDF prints what this document holds and its SHA-256, and carries the document itself as an
attachment (``evidence.json``): anyone can extract it, hash it and compare with the printed
value, without trusting the PDF's layout. A document cannot print its own hash, so the PDF's
SHA-256 is stored in the service's audit log instead (docs/reports.md).

Canonical form: JSON, keys sorted, no spaces, UTF-8, timestamps in UTC ISO 8601 with a Z.
Versioned: ``format`` is ``rempart-evidence`` and ``version`` 1; keys are only ever added.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from rempart.cases import CaseView
from rempart.evidence import iso

EVIDENCE_FORMAT = "rempart-evidence"
EVIDENCE_VERSION = 1


def evidence_content(view: CaseView, generated_at: datetime, generator: str) -> dict[str, Any]:
    """What the report states about a case: never a hash value, never an image.

    ``generated_at`` must be timezone-aware; ``generator`` names the software and version.
    Sightings are in the order they were seen (oldest first).
    """
    return {
        "format": EVIDENCE_FORMAT,
        "version": EVIDENCE_VERSION,
        "generator": generator,
        "generated_at": iso(generated_at),
        "case_id": view.case_id,
        "status": view.status,
        "created_at": iso(view.created_at) if view.created_at else None,
        "signals_count": view.signals_count,
        "sightings": [
            {
                "number": number,
                "seen_at": iso(sighting.seen_at),
                "recorded_at": iso(sighting.recorded_at),
                "platform": sighting.platform,
                "location": sighting.location,
                "action": sighting.action,
                "match_type": sighting.match_type,
                "distance": sighting.distance,
            }
            for number, sighting in enumerate(view.sightings, start=1)
        ],
    }


def canonical_bytes(content: dict[str, Any]) -> bytes:
    """The canonical serialisation that the printed SHA-256 is computed over."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(content)).hexdigest()
