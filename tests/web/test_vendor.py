"""/static/vendor/: OpenCV.js (installed by npm) as an ES module and the wheel's face cascade."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rempart.web import install, vendor


@pytest.fixture
def web() -> TestClient:
    app = FastAPI()
    install(app)
    return TestClient(app)


def test_opencv_is_served_as_an_es_module_of_the_installed_file(web: TestClient) -> None:
    response = web.get("/static/vendor/opencv.js")
    assert response.status_code == 200, "run `npm ci` (make test does)"
    assert response.headers["content-type"].startswith("text/javascript")
    body = response.content
    assert body.startswith(b"const module = { exports: {} };\n")
    assert body.endswith(b"\nexport default module.exports;\n")
    assert vendor.OPENCV_JS.read_bytes() in body


def test_the_cascade_is_the_file_python_loads(web: TestClient) -> None:
    response = web.get("/static/vendor/haarcascade_frontalface_alt2.xml")
    assert response.status_code == 200
    assert response.content == vendor.CASCADE.read_bytes()


def test_an_unchanged_file_is_not_sent_again(web: TestClient) -> None:
    first = web.get("/static/vendor/haarcascade_frontalface_alt2.xml")
    again = web.get(
        "/static/vendor/haarcascade_frontalface_alt2.xml",
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["cache-control"] == "no-cache"


def test_a_missing_install_says_how_to_fix_it(
    web: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(vendor, "OPENCV_JS", tmp_path / "opencv.js")
    response = web.get("/static/vendor/opencv.js")
    assert response.status_code == 404
    assert "npm ci" in response.text
