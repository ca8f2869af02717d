"""The evidence report of a case over HTTP: the PIN opens it, its SHA-256 is recorded."""

from __future__ import annotations

import hashlib
import io
import re

from pypdf import PdfReader

from rempart.signals import Signal
from tests.api.conftest import Api, wire


def test_report_pdf_states_the_sighting_and_is_recorded(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    created = api.client.post("/v1/cases", json={"signals": wire(photo_signals[0])}).json()
    platform = api.key(["match"], org="example-platform")
    token = api.client.post(
        "/v1/match", json={"signals": [photo_signals[0][0].to_json()]}, headers=api.auth(platform)
    ).json()["results"][0]["matches"][0]["token"]
    sighting = {"token": token, "platform": "example-social", "location": "https://e.test/p/9"}
    api.client.post("/v1/sightings", json=sighting, headers=api.auth(platform))
    pin = {"X-Rempart-Pin": created["pin"]}

    response = api.client.get(f"/v1/cases/{created['case_id']}/report.pdf?lang=fr", headers=pin)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert "attachment" in response.headers["content-disposition"]
    digest = hashlib.sha256(response.content).hexdigest()
    assert response.headers["x-rempart-report-sha256"] == digest
    text = re.sub(
        r"\s+",
        "",
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages),
    )
    for fact in (created["case_id"], "example-social", "https://e.test/p/9", "Rapportdepreuves"):
        assert fact in text
    assert response.headers["x-rempart-content-sha256"] in text
    audit = api.client.get("/v1/dashboard/audit", headers=api.auth(api.admin_key)).json()
    recorded = next(e for e in audit["entries"] if e["action"] == "case.report")
    assert recorded["target"] == f"case:{created['case_id']}"
    assert recorded["details"] == {
        "pdf_sha256": digest,
        "content_sha256": response.headers["x-rempart-content-sha256"],
        "sightings": 1,
    }


def test_report_needs_the_pin_and_an_active_case(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    created = api.client.post("/v1/cases", json={"signals": wire(photo_signals[1])}).json()
    path = f"/v1/cases/{created['case_id']}/report.pdf"

    assert api.client.get(path).status_code == 401
    assert api.client.get(path, headers={"X-Rempart-Pin": "AAAA-BBBB"}).status_code == 401
    assert (
        api.client.get(
            "/v1/cases/RMP-0000-0000/report.pdf", headers={"X-Rempart-Pin": "AAAA-BBBB"}
        ).status_code
        == 404
    )
    api.client.delete(f"/v1/cases/{created['case_id']}", headers={"X-Rempart-Pin": created["pin"]})
    withdrawn = api.client.get(path, headers={"X-Rempart-Pin": created["pin"]})
    assert withdrawn.status_code == 409
    assert withdrawn.json()["error"]["code"] == "conflict"
