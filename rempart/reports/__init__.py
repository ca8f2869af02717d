"""Evidence reports of a case: HTML rendered to PDF, with a chain of custody and takedown notices.

``render_case_report(view, language=...)`` returns a ``CaseReport`` (PDF bytes and digests);
``rempart.service.Service.case_report`` renders one for a case and records it in the audit log.
See docs/reports.md.
"""

from rempart.reports.content import canonical_bytes, content_sha256, evidence_content
from rempart.reports.pdf import ATTACHMENT_NAME, REPORT_LANGUAGES, CaseReport, render_case_report

__all__ = [
    "ATTACHMENT_NAME",
    "REPORT_LANGUAGES",
    "CaseReport",
    "canonical_bytes",
    "content_sha256",
    "evidence_content",
    "render_case_report",
]
