"""Platform side: match signals or a file, with scopes, bank policies and allow lists."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from rempart.signals import PdqHash, Signal, compute_image_signals
from tests.api.conftest import Api, wire
from tests.media.images import encode


def _match(api: Api, key: str, signals: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    response = api.client.post("/v1/match", json={"signals": signals}, headers=api.auth(key))
    assert response.status_code == 200, response.text
    return [entry["matches"] for entry in response.json()["results"]]


def _flipped_bits(value: PdqHash, bits: int) -> PdqHash:
    number = int.from_bytes(value.bits, "big") ^ ((1 << bits) - 1)
    return PdqHash(number.to_bytes(32, "big"), value.quality)


@pytest.fixture
def protected(api: Api, photo_signals: list[list[Signal]]) -> str:
    """A case protecting the first photo; returns a platform's match key."""
    assert api.client.post("/v1/cases", json={"signals": wire(photo_signals[0])}).status_code == 201
    return api.key(["match"], org="example-platform")


def test_batch_results_keep_the_order_of_the_query(
    api: Api, protected: str, photo_signals: list[list[Signal]]
) -> None:
    pdq, md5, sha256 = photo_signals[0]
    unrelated = photo_signals[5][0]

    results = _match(api, protected, wire([unrelated, pdq, sha256, md5]))

    assert [len(found) for found in results] == [0, 1, 1, 1]
    assert results[1][0]["signal_type"] == "pdq" and results[1][0]["match_type"] == "near"
    assert results[2][0]["signal_type"] == "sha256" and results[2][0]["match_type"] == "exact"
    assert results[2][0]["distance"] == 0
    assert set(results[1][0]) >= {
        "bank",
        "signal_type",
        "distance",
        "match_type",
        "action",
        "token",
    }


def test_threshold_is_the_banks(
    api: Api, protected: str, photo_signals: list[list[Signal]]
) -> None:
    pdq = photo_signals[0][0]
    assert isinstance(pdq, PdqHash)

    at_31 = _match(api, protected, [_flipped_bits(pdq, 31).to_json()])
    at_32 = _match(api, protected, [_flipped_bits(pdq, 32).to_json()])

    assert [m["distance"] for m in at_31[0]] == [31]
    assert at_32 == [[]]


def test_batches_over_1000_are_refused(
    api: Api, protected: str, photo_signals: list[list[Signal]]
) -> None:
    response = api.client.post(
        "/v1/match",
        json={"signals": wire(photo_signals[0][:1]) * 1001},
        headers=api.auth(protected),
    )

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer rmp_nope_nope"}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
    ],
)
def test_match_needs_a_valid_key(api: Api, headers: dict[str, str], status: int, code: str) -> None:
    response = api.client.post(
        "/v1/match", json={"signals": [{"type": "md5", "value": "0" * 32}]}, headers=headers
    )

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_match_needs_the_match_scope(api: Api) -> None:
    reader = api.key(["bank:read"])

    response = api.client.post(
        "/v1/match",
        json={"signals": [{"type": "md5", "value": "0" * 32}]},
        headers=api.auth(reader),
    )

    assert response.status_code == 403
    assert "match" in response.json()["error"]["message"]


def test_revoked_keys_stop_working(api: Api) -> None:
    from rempart.orgs import revoke_key

    key = api.key(["match"])
    with api.service.db.transaction() as session:
        revoke_key(session, key.split("_")[1])
    api.service._keys.entries.clear()  # skip the 5-second cache in this test

    response = api.client.post(
        "/v1/match", json={"signals": [{"type": "md5", "value": "0" * 32}]}, headers=api.auth(key)
    )

    assert response.status_code == 401


def test_match_file_hashes_in_memory(api: Api, protected: str, photos: list[Path]) -> None:
    reencoded = io.BytesIO()
    Image.open(photos[0]).resize((300, 200)).save(reencoded, "JPEG", quality=60)

    multipart = api.client.post(
        "/v1/match/file",
        files={"file": ("upload.jpg", reencoded.getvalue())},
        headers=api.auth(protected),
    )
    raw = api.client.post(
        "/v1/match/file",
        content=photos[0].read_bytes(),
        headers={**api.auth(protected), "Content-Type": "application/octet-stream"},
    )

    assert multipart.status_code == 200, multipart.text
    body = multipart.json()
    assert body["media"] == {"width": 300, "height": 200, "format": "JPEG", "kind": "image"}
    assert [s["type"] for s in body["signals"]] == ["pdq", "md5", "sha256", "regions"]
    assert body["results"][0]["matches"][0]["match_type"] == "near"
    assert body["results"][2]["matches"] == []  # re-encoded: no exact match
    exact = raw.json()["results"][2]["matches"]
    assert exact[0]["match_type"] == "exact"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"this is a text file, not a photo", 415, "unsupported_format"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, 422, "corrupt_media"),
        (encode(Image.new("RGB", (2, 2)), "PNG"), 422, "too_small"),
    ],
)
def test_match_file_bad_media(
    api: Api, protected: str, payload: bytes, status: int, code: str
) -> None:
    response = api.client.post(
        "/v1/match/file", files={"file": ("x.jpg", payload)}, headers=api.auth(protected)
    )

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_match_file_without_a_file_is_422(api: Api, protected: str) -> None:
    response = api.client.post(
        "/v1/match/file",
        data={"other": "x"},
        files={"nope": ("a", b"")},
        headers=api.auth(protected),
    )

    assert response.status_code == 422


@pytest.mark.parametrize("settings_overrides", [{"max_upload_bytes": 50_000}])
def test_match_file_size_limit_is_413(api: Api, protected: str, photos: list[Path]) -> None:
    big = photos[0].read_bytes() * 3
    assert len(big) > 50_000

    response = api.client.post(
        "/v1/match/file", files={"file": ("big.jpg", big)}, headers=api.auth(protected)
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_private_banks_are_matched_only_for_their_owner(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    owner = api.key(["match", "bank:write"], org="helpline-a")
    stranger = api.key(["match"], org="platform-b")
    assert (
        api.client.post("/v1/banks", json={"name": "private"}, headers=api.auth(owner)).status_code
        == 201
    )
    api.client.post(
        "/v1/banks/private/signals",
        json={"signals": wire(photo_signals[3])},
        headers=api.auth(owner),
    )

    assert _match(api, owner, wire(photo_signals[3][:1]))[0][0]["bank"] == "private"
    assert _match(api, stranger, wire(photo_signals[3][:1])) == [[]]


def test_allow_bank_suppresses_the_same_orgs_protect_banks(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    key = api.key(["match", "bank:write"], org="helpline-a")
    for name, kind in (("protect", "protect"), ("known-false-positives", "allow")):
        assert (
            api.client.post(
                "/v1/banks", json={"name": name, "kind": kind}, headers=api.auth(key)
            ).status_code
            == 201
        )
    api.client.post(
        "/v1/banks/protect/signals", json={"signals": wire(photo_signals[4])}, headers=api.auth(key)
    )
    before = _match(api, key, wire(photo_signals[4][:1]))[0]
    assert [(m["bank"], m["action"]) for m in before] == [("protect", "remove")]

    api.client.post(
        "/v1/banks/known-false-positives/signals",
        json={"signals": wire(photo_signals[4][:1])},
        headers=api.auth(key),
    )
    after = {m["bank"]: m for m in _match(api, key, wire(photo_signals[4][:1]))[0]}

    assert after["protect"]["action"] == "none"
    assert "known-false-positives" in str(after["protect"]["reason"])
    assert after["known-false-positives"]["action"] == "none"


def test_disabled_banks_and_review_banks(api: Api, photo_signals: list[list[Signal]]) -> None:
    key = api.key(["match", "bank:write"], org="helpline-a")
    api.client.post(
        "/v1/banks", json={"name": "partner", "action": "review"}, headers=api.auth(key)
    )
    api.client.post(
        "/v1/banks/partner/signals", json={"signals": wire(photo_signals[6])}, headers=api.auth(key)
    )

    assert _match(api, key, wire(photo_signals[6][:1]))[0][0]["action"] == "review"
    api.client.patch("/v1/banks/partner", json={"enabled": False}, headers=api.auth(key))
    assert _match(api, key, wire(photo_signals[6][:1])) == [[]]


def test_reencoded_photo_still_matches(api: Api, protected: str, photos: list[Path]) -> None:
    buffer = io.BytesIO()
    Image.open(photos[0]).save(buffer, "WEBP", quality=50)
    query = compute_image_signals(buffer.getvalue()).pdq

    found = _match(api, protected, [query.to_json()])[0]

    assert found and int(found[0]["distance"]) <= 31  # type: ignore[call-overload]
    assert found[0]["match_type"] == "near"
