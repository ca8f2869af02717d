"""Sightings become evidence on the case, once per token and location."""

from __future__ import annotations

from rempart.signals import Signal
from tests.api.conftest import Api, wire


def _token(api: Api, key: str, signal: Signal) -> str:
    response = api.client.post(
        "/v1/match", json={"signals": [signal.to_json()]}, headers=api.auth(key)
    )
    return str(response.json()["results"][0]["matches"][0]["token"])


def test_sighting_reaches_the_case_once(api: Api, photo_signals: list[list[Signal]]) -> None:
    created = api.client.post("/v1/cases", json={"signals": wire(photo_signals[0])}).json()
    platform = api.key(["match"], org="example-platform")
    token = _token(api, platform, photo_signals[0][0])
    report = {
        "token": token,
        "platform": "example-platform",
        "location": "https://example.org/p/42",
        "action": "removed",
        "seen_at": "2026-11-20T10:00:00Z",
        "uploader": "user-123",
    }

    first = api.client.post("/v1/sightings", json=report, headers=api.auth(platform))
    again = api.client.post("/v1/sightings", json=report, headers=api.auth(platform))
    case = api.client.get(
        f"/v1/cases/{created['case_id']}", headers={"X-Rempart-Pin": created["pin"]}
    ).json()

    assert first.status_code == 201 and first.json()["recorded"] is True
    assert again.status_code == 200 and again.json() == {
        "sighting_id": first.json()["sighting_id"],
        "recorded": False,
    }
    assert case["sightings"] == [
        {
            "seen_at": "2026-11-20T10:00:00Z",
            "platform": "example-platform",
            "location": "https://example.org/p/42",
            "match_type": "near",
            "action": "removed",
            "distance": 0,
        }
    ]


def test_forged_or_foreign_tokens_are_refused(api: Api, photo_signals: list[list[Signal]]) -> None:
    api.client.post("/v1/cases", json={"signals": wire(photo_signals[1])})
    mine = api.key(["match"], org="platform-a")
    theirs = api.key(["match"], org="platform-b")
    token = _token(api, mine, photo_signals[1][0])
    body = {"platform": "x", "location": "y"}

    forged = api.client.post(
        "/v1/sightings", json={"token": token[:-3] + "abc", **body}, headers=api.auth(mine)
    )
    foreign = api.client.post(
        "/v1/sightings", json={"token": token, **body}, headers=api.auth(theirs)
    )
    no_key = api.client.post("/v1/sightings", json={"token": token, **body})

    assert forged.status_code == 422 and foreign.status_code == 422 and no_key.status_code == 401


def test_sighting_after_withdrawal_is_404(api: Api, photo_signals: list[list[Signal]]) -> None:
    created = api.client.post("/v1/cases", json={"signals": wire(photo_signals[2])}).json()
    platform = api.key(["match"], org="example-platform")
    token = _token(api, platform, photo_signals[2][0])
    api.client.delete(f"/v1/cases/{created['case_id']}", headers={"X-Rempart-Pin": created["pin"]})

    response = api.client.post(
        "/v1/sightings", json={"token": token, "platform": "x"}, headers=api.auth(platform)
    )

    assert response.status_code == 404
