"""Third-party files the pages load, served by rempart itself: never a CDN, nothing fetched at
run time, so the pages work offline.

- ``/static/vendor/opencv.js``: OpenCV.js from the npm package ``@techstark/opencv-js``, which
  ``make run`` and ``make test`` install under ``node_modules/`` with ``npm ci`` (version pinned
  in ``package-lock.json``). The file is a UMD script that module workers cannot load, so it is
  served as an ES module: a ``module`` object for the UMD wrapper to fill, the file unchanged,
  and ``export default`` of what it exported.
- ``/static/vendor/haarcascade_frontalface_alt2.xml``: the face cascade of the OpenCV wheel
  that ``rempart.signals.regions`` loads, so the browser detects faces with the identical file.

Both are used by ``static/regions.js`` (the regional signature, docs/web.md). They are served
like the other static files: revalidated on each load (``ETag``), ``nosniff``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from rempart.signals._faces import CASCADE_FILE

# The checkout's root: `make` runs `npm ci` there (package.json beside pyproject.toml).
ROOT = Path(__file__).resolve().parents[2]
OPENCV_JS = ROOT / "node_modules" / "@techstark" / "opencv-js" / "dist" / "opencv.js"
CASCADE = Path(cv2.data.haarcascades) / CASCADE_FILE  # type: ignore[attr-defined]

_MODULE_HEAD = b"const module = { exports: {} };\n"
_MODULE_TAIL = b"\nexport default module.exports;\n"

router = APIRouter(include_in_schema=False)


@router.get("/static/vendor/opencv.js")
def opencv_js(request: Request) -> Response:
    """OpenCV.js as an ES module (404 with the fix when ``npm ci`` has not run)."""
    return _file(request, OPENCV_JS, "text/javascript", _MODULE_HEAD, _MODULE_TAIL)


@router.get(f"/static/vendor/{CASCADE_FILE}")
def face_cascade(request: Request) -> Response:
    """The Haar cascade file of the installed OpenCV wheel."""
    return _file(request, CASCADE, "application/xml")


def _file(
    request: Request, path: Path, media_type: str, head: bytes = b"", tail: bytes = b""
) -> Response:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise HTTPException(
            404, f"{path.name} is not installed: run `make run` (or `npm ci` in {ROOT})"
        ) from None
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(head + path.read_bytes() + tail, media_type=media_type, headers=headers)
