"""Derivatives through the service: a case with a regional signature catches a regenerated
copy uploaded to /v1/match/file, and a posted query signature too."""

from __future__ import annotations

import io

from PIL import Image

from rempart.signals import compute_image_signals
from tests.api.conftest import Api
from tests.conftest import PHOTOS
from tests.matching.test_regions import regen50, square512


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def test_regenerated_copies_are_caught_as_derivatives(api: Api) -> None:
    original = Image.open(PHOTOS / "img_0003.jpg").convert("RGB")
    reference = compute_image_signals(_jpeg(original), regions=True).signals()
    assert [s.to_json()["type"] for s in reference][-1] == "regions"
    created = api.client.post("/v1/cases", json={"signals": [s.to_json() for s in reference]})
    assert created.status_code == 201, created.text
    platform = api.auth(api.key(["match"], org="example-platform"))

    found = {}
    for name, variant in (("regen50", regen50(original)), ("square", square512(regen50(original)))):
        response = api.client.post(
            "/v1/match/file", files={"file": ("x.jpg", _jpeg(variant))}, headers=platform
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["signals"][-1]["type"] == "regions"
        found[name] = [m for entry in body["results"] for m in entry["matches"]]
    unrelated = api.client.post(
        "/v1/match/file",
        files={"file": ("u.jpg", (PHOTOS / "img_0100.jpg").read_bytes())},
        headers=platform,
    )

    for name, matches in found.items():
        derivative = [m for m in matches if m["match_type"] == "derivative"]
        assert derivative, name
        assert derivative[0]["details"]["regions_agreeing"] >= 2
        assert derivative[0]["action"] in ("remove", "review")
        assert derivative[0]["action"] == (
            "remove" if derivative[0]["details"]["tier"] == "remove" else "review"
        )
    assert all(not entry["matches"] for entry in unrelated.json()["results"])


def test_a_posted_query_signature_matches_too(api: Api) -> None:
    original = Image.open(PHOTOS / "img_0012.jpg").convert("RGB")
    reference = compute_image_signals(_jpeg(original), regions=True).regions
    assert reference is not None
    api.client.post(
        "/v1/cases",
        json={
            "signals": [
                reference.to_json(),
                compute_image_signals(_jpeg(original)).sha256.to_json(),
            ]
        },
    )
    query = compute_image_signals(_jpeg(regen50(original)), query_regions=True).query_regions
    assert query is not None
    platform = api.auth(api.key(["match"], org="example-platform"))

    response = api.client.post(
        "/v1/match", json={"signals": [query.signature.to_json()]}, headers=platform
    )

    assert response.status_code == 200, response.text
    matches = response.json()["results"][0]["matches"]
    assert [m["match_type"] for m in matches] == ["derivative"]


def test_oversized_regional_signatures_are_refused_before_storing(api: Api) -> None:
    original = Image.open(PHOTOS / "img_0020.jpg").convert("RGB")
    query = compute_image_signals(_jpeg(original), query_regions=True).query_regions
    assert query is not None and len(query.signature) > 48

    response = api.client.post("/v1/cases", json={"signals": [query.signature.to_json()]})

    assert response.status_code == 422
    assert "at most 48 regions" in response.json()["error"]["message"]
