"""Routes of the web pages, their security headers, and the static files they load.

The pages are Jinja2 templates filled from the message catalogs (``catalogs/*.json``) in the
language of the ``lang`` query parameter, else of the browser's ``Accept-Language``. Everything
they load comes from this service: a strict Content-Security-Policy forbids any other origin, so
no font, script or analytics can be pulled from elsewhere, and no inline script can run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from rempart.reports.i18n import languages, load_catalog, negotiate
from rempart.templates import environment
from rempart.web import vendor

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CATALOGS = HERE / "catalogs"
LANGUAGES = languages(CATALOGS)

# 'self' only; blob: for the thumbnails made from the chosen files on the device.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # A quick exit must not tell the neutral site where the person came from.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    # Nothing of a case stays in the browser's cache or back-forward cache.
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def protect_page(request: Request, lang: str | None = None) -> Response:
    """Protect photos: hashed in the browser, only the hashes are sent."""
    return _page(request, lang, "protect.html", script="protect.js", victim=True)


@router.get("/case", response_class=HTMLResponse)
def case_page(request: Request, lang: str | None = None) -> Response:
    """Follow a case with its id and PIN: sightings, more photos, report, withdrawal."""
    return _page(request, lang, "case.html", script="case.js", victim=True)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, lang: str | None = None) -> Response:
    """The moderator dashboard (API key with the bank:read scope)."""
    return _page(request, lang, "admin.html", script="admin.js", victim=False)


class _StaticFiles(StaticFiles):
    """Static files with ``nosniff``, revalidated on each load (no stale script after an
    upgrade)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response


def install(app: FastAPI) -> None:
    """Serve the pages at ``/``, ``/case`` and ``/admin`` and their files at ``/static``
    (third-party ones under ``/static/vendor``, see ``rempart.web.vendor``)."""
    app.include_router(router)
    app.include_router(vendor.router)
    app.mount("/static", _StaticFiles(directory=STATIC), name="static")


def page_language(request: Request, lang: str | None) -> str:
    """The ``lang`` parameter when it is a language of the catalogs, else the browser's."""
    if lang in LANGUAGES:
        return lang
    return negotiate(request.headers.get("accept-language"), LANGUAGES)


def _page(
    request: Request, lang: str | None, template: str, *, script: str, victim: bool
) -> Response:
    catalog = load_catalog(CATALOGS, page_language(request, lang))
    html = (
        environment(HERE / "templates")
        .get_template(template)
        .render(
            t=catalog,
            script=script,
            victim=victim,
            path=request.url.path,
            switch=[
                (code, load_catalog(CATALOGS, code)("page.language_name")) for code in LANGUAGES
            ],
            messages=catalog.subset("js."),
        )
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)
