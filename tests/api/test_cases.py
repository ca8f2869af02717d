"""Victim side: a case is made of hashes only, followed and withdrawn with its PIN."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rempart.signals import PdqHash, Signal
from rempart.store.models import Case, Sighting
from rempart.store.models import Signal as SignalRow
from tests.api.conftest import Api, wire


def _create(api: Api, signals: list[Signal]) -> tuple[str, str]:
    response = api.client.post("/v1/cases", json={"signals": wire(signals)})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["case_id"], body["pin"]


def _match(api: Api, key: str, signal: Signal) -> list[dict[str, object]]:
    response = api.client.post(
        "/v1/match", json={"signals": [signal.to_json()]}, headers=api.auth(key)
    )
    assert response.status_code == 200, response.text
    matches: list[dict[str, object]] = response.json()["results"][0]["matches"]
    return matches


def test_case_lifecycle(api: Api, photo_signals: list[list[Signal]]) -> None:
    platform = api.key(["match"], org="example-platform")
    case_id, pin = _create(api, photo_signals[0])

    assert case_id.startswith("RMP-") and len(case_id) == 13
    view = api.client.get(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin}).json()
    assert view["status"] == "active"
    assert view["signals_count"] == 3
    assert view["sightings"] == []

    matches = _match(api, platform, photo_signals[0][0])
    assert [(m["bank"], m["match_type"], m["action"]) for m in matches] == [
        ("cases", "near", "remove")
    ]

    added = api.client.post(
        f"/v1/cases/{case_id}/signals",
        json={"signals": wire(photo_signals[1])},
        headers={"X-Rempart-Pin": pin},
    )
    assert added.status_code == 200
    assert added.json() == {"added": 3, "signals_count": 6}
    assert _match(api, platform, photo_signals[1][2])  # the sha256 of the second photo

    gone = api.client.delete(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin})
    assert gone.status_code == 204
    assert _match(api, platform, photo_signals[0][0]) == []
    assert _match(api, platform, photo_signals[1][2]) == []
    after = api.client.get(f"/v1/cases/{case_id}").json()
    assert after["status"] == "withdrawn"
    assert after["signals_count"] == 0
    assert after["created_at"] is None and after["withdrawn_at"]


def test_withdrawal_leaves_only_id_and_time_in_the_database(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    platform = api.key(["match"], org="example-platform")
    case_id, pin = _create(api, photo_signals[2])
    token = _match(api, platform, photo_signals[2][0])[0]["token"]
    api.client.post(
        "/v1/sightings",
        json={"token": token, "platform": "example", "location": "https://example.org/p/1"},
        headers=api.auth(platform),
    )

    api.client.delete(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin})

    with api.service.db.reading() as session:
        case = session.scalar(select(Case).where(Case.case_id == case_id))
        assert case is not None
        assert (case.status, case.pin_hash, case.created_at, case.bank_id) == (
            "withdrawn",
            None,
            None,
            None,
        )
        assert case.withdrawn_at is not None
        assert session.scalar(select(func.count()).where(SignalRow.case_id == case.id)) == 0
        assert session.scalar(select(func.count()).where(Sighting.case_id == case.id)) == 0
        values = set(session.scalars(select(SignalRow.value)))
    assert not values & {signal.to_json()["value"] for signal in photo_signals[2]}
    # Withdrawing twice is harmless.
    assert (
        api.client.delete(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin}).status_code == 204
    )


def test_wrong_pin_then_lockout_with_retry_after(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    case_id, pin = _create(api, photo_signals[3])
    statuses = [
        api.client.get(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": "AAAA-AAAA"}).status_code
        for _ in range(5)
    ]
    assert statuses == [401] * 5

    locked = api.client.get(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert locked.json()["error"]["code"] == "rate_limited"
    # The lockout also blocks withdrawal attempts.
    assert (
        api.client.delete(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin}).status_code == 429
    )


def test_pin_is_forgiving_about_case_and_dashes(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    case_id, pin = _create(api, photo_signals[4])
    sloppy_id = case_id.lower().replace("-", " ")
    sloppy_pin = pin.lower().replace("-", "")

    response = api.client.get(f"/v1/cases/{sloppy_id}", headers={"X-Rempart-Pin": sloppy_pin})

    assert response.status_code == 200
    assert response.json()["case_id"] == case_id


@pytest.mark.parametrize(
    ("path_id", "pin", "status"),
    [("RMP-0000-0000", "AAAA-AAAA", 404), (None, None, 401), (None, "", 401)],
)
def test_case_access_errors(
    api: Api, photo_signals: list[list[Signal]], path_id: str | None, pin: str | None, status: int
) -> None:
    case_id, _ = _create(api, photo_signals[5])
    headers = {} if pin is None else {"X-Rempart-Pin": pin}

    response = api.client.get(f"/v1/cases/{path_id or case_id}", headers=headers)

    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message"}


def test_flat_photos_need_exact_hashes(api: Api) -> None:
    flat = PdqHash.from_hex("0" * 63 + "1", quality=20).to_json()
    sha = {"type": "sha256", "value": "ab" * 32}

    refused = api.client.post("/v1/cases", json={"signals": [flat]})
    accepted = api.client.post("/v1/cases", json={"signals": [flat, sha]})

    assert refused.status_code == 422
    assert "too flat" in refused.json()["error"]["message"]
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"signals": []},
        {"signals": [{"type": "pdq", "value": "xyz", "quality": 90}]},
        {"signals": [{"type": "telepathy", "value": "00"}]},
        {"nothing": 1},
        [1, 2, 3],
    ],
)
def test_malformed_case_requests_are_422(api: Api, body: object) -> None:
    response = api.client.post("/v1/cases", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["message"]


def test_adding_to_a_withdrawn_case_is_a_conflict(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    case_id, pin = _create(api, photo_signals[6])
    api.client.delete(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin})

    response = api.client.post(
        f"/v1/cases/{case_id}/signals",
        json={"signals": wire(photo_signals[7])},
        headers={"X-Rempart-Pin": pin},
    )

    assert response.status_code == 409


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_cases_per_ip": 6}])
def test_case_endpoints_are_rate_limited_per_ip(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    statuses = [
        api.client.post("/v1/cases", json={"signals": wire(photo_signals[8])}).status_code
        for _ in range(4)
    ]

    assert statuses[0] == 201
    assert 429 in statuses
