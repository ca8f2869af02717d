"""The dashboard's read-only views: only the caller's banks, counts per platform and UTC day,
the audit log, webhook status; never a hash value."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from rempart.signals import Signal
from tests.api.conftest import Api, wire


def _seen(api: Api, key: str, signal: Signal, platform: str, when: datetime, n: int) -> None:
    token = api.client.post(
        "/v1/match", json={"signals": [signal.to_json()]}, headers=api.auth(key)
    ).json()["results"][0]["matches"][0]["token"]
    report = {
        "token": token,
        "platform": platform,
        "location": f"https://{platform}.test/{n}",
        "seen_at": when.isoformat(),
        "uploader": "uploader-77",
    }
    assert api.client.post("/v1/sightings", json=report, headers=api.auth(key)).status_code == 201


def test_sightings_and_activity_of_my_banks(api: Api, photo_signals: list[list[Signal]]) -> None:
    api.client.post("/v1/cases", json={"signals": wire(photo_signals[0])})
    platform = api.key(["match"], org="platform")
    now = datetime.now(UTC).replace(microsecond=0)
    yesterday = now - timedelta(days=1)
    _seen(api, platform, photo_signals[0][0], "alpha", now, 1)
    _seen(api, platform, photo_signals[0][0], "alpha", now, 2)
    _seen(api, platform, photo_signals[0][0], "beta", yesterday, 3)
    _seen(api, platform, photo_signals[0][0], "alpha", now - timedelta(days=40), 4)
    reader = api.auth(api.key(["bank:read"]))

    recent = api.client.get("/v1/dashboard/sightings", headers=reader).json()["sightings"]
    activity = api.client.get("/v1/dashboard/activity?days=30", headers=reader).json()

    assert [s["platform"] for s in recent] == ["alpha", "alpha", "beta", "alpha"]
    assert recent[0]["bank"] == "cases" and recent[0]["match_type"] == "near"
    assert all("uploader" not in s for s in recent)
    assert activity["days"] == 30
    assert activity["since"] == (now - timedelta(days=29)).strftime("%Y-%m-%d")
    assert activity["counts"] == [
        {"day": yesterday.strftime("%Y-%m-%d"), "platform": "beta", "sightings": 1},
        {"day": now.strftime("%Y-%m-%d"), "platform": "alpha", "sightings": 2},
    ]


def test_other_organisations_see_none_of_it(api: Api, photo_signals: list[list[Signal]]) -> None:
    api.client.post("/v1/cases", json={"signals": wire(photo_signals[1])})
    platform = api.key(["match"], org="platform")
    _seen(api, platform, photo_signals[1][0], "alpha", datetime.now(UTC), 1)
    stranger = api.auth(api.key(["bank:read"], org="another-helpline"))

    assert api.client.get("/v1/dashboard/sightings", headers=stranger).json()["sightings"] == []
    assert api.client.get("/v1/dashboard/activity", headers=stranger).json()["counts"] == []
    entries = api.client.get("/v1/dashboard/audit", headers=stranger).json()["entries"]
    assert entries and all("case" not in e["action"] for e in entries)


def test_scope_is_needed(api: Api) -> None:
    match_only = api.auth(api.key(["match"]))
    for path in ("sightings", "activity", "audit", "webhooks"):
        assert api.client.get(f"/v1/dashboard/{path}").status_code == 401
        assert api.client.get(f"/v1/dashboard/{path}", headers=match_only).status_code == 403


def test_audit_and_webhooks_never_show_hashes_or_secrets(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    admin = api.auth(api.admin_key)
    created = api.client.post("/v1/cases", json={"signals": wire(photo_signals[2])}).json()
    url = "https://platform.example:8443/hooks/rempart?token=s3cret"
    assert api.client.post("/v1/webhooks", json={"url": url}, headers=admin).status_code == 201
    reader = api.auth(api.key(["bank:read"]))

    audit = api.client.get("/v1/dashboard/audit?limit=50", headers=reader)
    hooks = api.client.get("/v1/dashboard/webhooks", headers=reader).json()["webhooks"]

    actions = [e["action"] for e in audit.json()["entries"]]
    assert actions[:2] == ["key.create", "webhook.create"]
    assert "case.create" in actions
    created_entry = next(e for e in audit.json()["entries"] if e["action"] == "case.create")
    assert created_entry["target"] == f"case:{created['case_id']}"
    for signal in photo_signals[2]:
        assert json.dumps(signal.to_json()["value"]) not in audit.text
    assert "s3cret" not in audit.text and "/hooks/" not in audit.text
    assert hooks == [
        {
            "id": hooks[0]["id"],
            "origin": "https://platform.example:8443",
            "enabled": True,
            "pending": 0,
            "delivered": 0,
            "failed": 0,
            "last_error": None,
        }
    ]
