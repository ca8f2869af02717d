"""The evidence report of a case as a PDF, for the case owner (PIN in ``X-Rempart-Pin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from rempart.api.deps import CaseLimit, Pin, ServiceDep
from rempart.api.schemas import ErrorOut
from rempart.reports import REPORT_LANGUAGES

router = APIRouter(prefix="/v1/cases", tags=["cases"], dependencies=[CaseLimit])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 404, 409, 422, 429)
}


@router.get(
    "/{case_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_ERRORS},
)
async def case_report(
    case_id: str,
    service: ServiceDep,
    pin: Pin = None,
    lang: Annotated[str, Query(description=f"One of {', '.join(REPORT_LANGUAGES)}")] = "en",
) -> Response:
    """The evidence report: every sighting, the chain of custody and takedown notices.

    The SHA-256 of the PDF is in the ``X-Rempart-Report-SHA256`` header and in the audit log;
    the SHA-256 printed inside is that of the attached evidence content (docs/reports.md).
    """
    # Rendering takes about a second: off the event loop.
    report = await run_in_threadpool(service.case_report, case_id, pin, lang)
    filename = f"rempart-{report.content['case_id']}-evidence.pdf"
    return Response(
        report.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Rempart-Report-SHA256": report.pdf_sha256,
            "X-Rempart-Content-SHA256": report.content_sha256,
        },
    )
