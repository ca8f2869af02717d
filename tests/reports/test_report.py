"""The evidence report: what it states, its chain of custody, its takedown notices, languages."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from rempart.cases import CaseView
from rempart.errors import CorruptMedia
from rempart.reports import (
    ATTACHMENT_NAME,
    REPORT_LANGUAGES,
    CaseReport,
    canonical_bytes,
    content_sha256,
    render_case_report,
)
from rempart.reports.i18n import load_catalog, negotiate
from rempart.signals import compute_image_signals
from rempart.store.models import Sighting
from rempart.web.pages import CATALOGS as WEB_CATALOGS

REPORT_CATALOGS = Path(__file__).resolve().parents[2] / "rempart" / "reports" / "catalogs"
GENERATED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def sighting(platform: str, location: str, match_type: str, distance: int, day: int) -> Sighting:
    seen = datetime(2026, 2, day, 9, 30, 15, tzinfo=UTC)
    return Sighting(
        platform=platform,
        location=location,
        match_type=match_type,
        action="removed" if match_type == "exact" else "review",
        distance=distance,
        seen_at=seen,
        recorded_at=seen.replace(minute=31),
    )


def case(*sightings: Sighting) -> CaseView:
    return CaseView(
        "RMP-7K3Q-9XWD", "active", datetime(2026, 1, 5, tzinfo=UTC), None, 6, list(sightings)
    )


def text_of(report: CaseReport) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(report.pdf))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def two_platforms() -> CaseReport:
    return render_case_report(
        case(
            sighting("example-social", "https://example.org/p/123", "near", 12, 2),
            sighting("chat-app", "chat 42, message 7", "exact", 0, 3),
            sighting("example-social", "https://example.org/p/456", "derivative", 40, 4),
        ),
        generated_at=GENERATED,
    )


def test_report_states_every_sighting(two_platforms: CaseReport) -> None:
    _, text = text_of(two_platforms)
    flat = squeeze(text)
    for fact in (
        "RMP-7K3Q-9XWD",
        "2026-02-02 09:30:15 UTC",
        "https://example.org/p/123",
        "chat 42, message 7",
        "https://example.org/p/456",
        "12/256 bits",
        "identical file",
        "Removed",
        "Sent for review",
        "Altered",
        "Report generated 2026-03-01 12:00:05 UTC",
    ):
        assert squeeze(fact) in flat, fact
    assert re.search(r"Fingerprints protected.*?\s6\s", text, re.S)
    assert re.search(r"Sightings\s+3", text)


def test_printed_hash_is_the_hash_of_the_attached_evidence(two_platforms: CaseReport) -> None:
    reader, text = text_of(two_platforms)
    attached = reader.attachments[ATTACHMENT_NAME][0]
    digest = hashlib.sha256(attached).hexdigest()
    assert digest == two_platforms.content_sha256 == content_sha256(two_platforms.content)
    assert digest in squeeze(text)
    assert attached == canonical_bytes(json.loads(attached))
    assert two_platforms.pdf_sha256 == hashlib.sha256(two_platforms.pdf).hexdigest()
    evidence = json.loads(attached)
    assert (evidence["format"], evidence["version"]) == ("rempart-evidence", 1)
    assert [s["platform"] for s in evidence["sightings"]] == [
        "example-social",
        "chat-app",
        "example-social",
    ]


def test_one_takedown_notice_per_platform_with_the_elements_of_a_valid_notice(
    two_platforms: CaseReport,
) -> None:
    _, text = text_of(two_platforms)
    notices = [squeeze(part) for part in text.split("Notice of non-consensual")[1:]]
    assert len(notices) == 2
    social = next(n for n in notices if squeeze("To example-social") in n)
    assert "https://example.org/p/123" in social and "https://example.org/p/456" in social
    assert "chat42" not in social
    for element in (
        "I did not consent",  # statement of non-consent
        "good-faith belief",  # TAKE IT DOWN good-faith statement
        "bona fide belief",  # DSA Art. 16(2)(d)
        "within 48 hours",  # TAKE IT DOWN removal deadline
        "article 16",  # DSA notice
        "Email address",  # contact
        "Signature",  # signature line
        "RMP-7K3Q-9XWD",  # reference
    ):
        assert squeeze(element) in social, element


def test_a_case_seen_nowhere_gets_one_blank_notice() -> None:
    _, text = text_of(render_case_report(case(), generated_at=GENERATED))
    assert "No sighting has been reported" in text
    notices = text.split("Notice of non-consensual")[1:]
    assert len(notices) == 1
    assert "Exact location (URL) of each item" in notices[0]


def test_locations_are_text_never_markup_or_requests() -> None:
    hostile = '<img src="http://192.0.2.1/x.png"><b>bold</b> "quoted"'
    report = render_case_report(case(sighting("p", hostile, "near", 3, 2)), generated_at=GENERATED)
    _, text = text_of(report)
    assert squeeze('<img src="http://192.0.2.1/x.png"><b>bold</b>') in squeeze(text)


def test_report_in_french() -> None:
    report = render_case_report(
        case(sighting("exemple", "https://exemple.fr/1", "near", 5, 2)),
        language="fr",
        generated_at=GENERATED,
    )
    _, text = text_of(report)
    assert report.language == "fr"
    for phrase in ("Rapport de preuves", "Chaîne de conservation", "48 heures", "bonne foi"):
        assert squeeze(phrase) in squeeze(text), phrase


def test_an_unknown_language_gets_english() -> None:
    assert render_case_report(case(), language="xx", generated_at=GENERATED).language == "en"


@pytest.mark.parametrize("folder", [REPORT_CATALOGS, WEB_CATALOGS])
def test_every_language_has_every_message(folder: Path) -> None:
    english = load_catalog(folder, "en").messages
    assert len(REPORT_LANGUAGES) >= 2
    for language in ("fr",):
        translated = load_catalog(folder, language).messages
        assert set(translated) == set(english), language
        for key, text in english.items():
            assert set(re.findall(r"\{(\w+)\}", translated[key])) == set(
                re.findall(r"\{(\w+)\}", text)
            ), key


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,de;q=0.9,fr;q=0.5", "fr"),
        ("de, es;q=0.5", "en"),
        ("fr;q=0, en;q=0.1", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_negotiation(header: str | None, expected: str) -> None:
    assert negotiate(header, ("en", "fr")) == expected


def test_rendering_leaves_truncated_photos_refused(photos: list[Path]) -> None:
    """WeasyPrint turns on Pillow's global LOAD_TRUNCATED_IMAGES when imported; the service
    decodes untrusted photos in the same process, so the report module turns it back off."""
    render_case_report(case(), generated_at=GENERATED)
    data = photos[0].read_bytes()
    with pytest.raises(CorruptMedia):
        compute_image_signals(data[: len(data) // 2])
