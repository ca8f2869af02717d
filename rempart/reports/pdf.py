"""Render a case's evidence report: HTML (Jinja2) to PDF (WeasyPrint), nothing fetched.

The report has the case summary, every sighting, a chain-of-custody section with the SHA-256 of
the canonical evidence document (attached to the PDF as ``evidence.json``), and one takedown
notice per platform where the case was seen (a blank one when it was seen nowhere yet).
Fonts are the machine's own (fontconfig: DejaVu or Liberation on Debian); the renderer refuses
every URL except ``data:``, so a report never makes a network request, whatever a sighting's
location says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from rempart import __version__
from rempart.cases import CaseView
from rempart.reports.content import canonical_bytes, content_sha256, evidence_content
from rempart.reports.i18n import Catalog, languages, load_catalog
from rempart.templates import environment

HERE = Path(__file__).resolve().parent
CATALOGS = HERE / "catalogs"
REPORT_LANGUAGES = languages(CATALOGS)
ATTACHMENT_NAME = "evidence.json"
GENERATOR = f"rempart {__version__}"

# Match types and actions with a translated label; anything else is printed as recorded.
_MATCH_TYPES = ("exact", "near", "derivative", "video", "clip")
_ACTIONS = ("remove", "removed", "review", "none", "deleted", "banned", "logged")


@dataclass(frozen=True)
class CaseReport:
    """A rendered report: the PDF, the evidence it states, and both SHA-256 digests (hex)."""

    pdf: bytes
    content: dict[str, Any]
    content_sha256: str
    pdf_sha256: str
    language: str


def render_case_report(
    view: CaseView, *, language: str = "en", generated_at: datetime | None = None
) -> CaseReport:
    """The evidence report of a case in ``language`` (``REPORT_LANGUAGES``; others get English).

    Takes about a second per report (WeasyPrint layout); callers in a server run it in a thread.
    """
    HTML, Attachment, URLFetcher = _weasyprint()
    catalog = load_catalog(CATALOGS, language)
    moment = (generated_at or datetime.now(UTC)).astimezone(UTC)
    content = evidence_content(view, moment, GENERATOR)
    digest = content_sha256(content)
    html = (
        environment(HERE / "templates")
        .get_template("report.html")
        .render(
            t=catalog,
            c=content,
            digest_groups=[digest[i : i + 8] for i in range(0, len(digest), 8)],
            notices=_notices(content),
            css=(HERE / "templates" / "report.css").read_text(encoding="utf-8"),
            utc=utc_text,
            match_label=lambda kind: _label(catalog, "match_type", kind, _MATCH_TYPES),
            action_label=lambda action: _label(catalog, "action", action, _ACTIONS),
            distance_label=lambda sighting: _distance(catalog, sighting),
        )
    )
    fetcher = URLFetcher(allowed_protocols=["data"])
    attachment = Attachment(
        string=canonical_bytes(content),
        name=ATTACHMENT_NAME,
        description=catalog("report.attachment_description"),
        url_fetcher=fetcher,
    )
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf(attachments=[attachment], pdf_tags=True)
    assert pdf is not None
    return CaseReport(pdf, content, digest, hashlib.sha256(pdf).hexdigest(), catalog.language)


def utc_text(moment: str | None) -> str:
    """``2026-01-02T10:30:00.5Z`` as ``2026-01-02 10:30:00 UTC`` (whole seconds)."""
    if not moment:
        return "—"
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


@cache
def _weasyprint() -> tuple[Any, Any, Any]:
    """WeasyPrint's HTML, Attachment and URLFetcher, imported on first use (it loads Pango and a
    font cache). Importing it sets Pillow's global ``LOAD_TRUNCATED_IMAGES``, which would make
    rempart.media accept truncated photos in the same process (a grey-filled image instead of
    ``CorruptMedia``): the flag is put back as it was. Reports embed no image, so WeasyPrint does
    not need it."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return weasyprint.HTML, weasyprint.Attachment, weasyprint.URLFetcher


def _notices(content: dict[str, Any]) -> list[dict[str, Any]]:
    """One takedown notice per platform, in order of first sighting; one blank notice (to fill
    in by hand) when there is no sighting yet."""
    by_platform: dict[str, list[dict[str, Any]]] = {}
    for sighting in content["sightings"]:
        by_platform.setdefault(sighting["platform"], []).append(sighting)
    if not by_platform:
        return [{"platform": None, "sightings": []}]
    return [{"platform": name, "sightings": items} for name, items in by_platform.items()]


def _label(catalog: Catalog, group: str, value: str, known: tuple[str, ...]) -> str:
    return catalog(f"{group}.{value}") if value in known else value


def _distance(catalog: Catalog, sighting: dict[str, Any]) -> str:
    if sighting["distance"] is None:
        return "—"
    if sighting["match_type"] == "exact":
        return catalog("report.distance_exact")
    if sighting["match_type"] == "near":
        return catalog("report.distance_bits", bits=sighting["distance"])
    return str(sighting["distance"])
