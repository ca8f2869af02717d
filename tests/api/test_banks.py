"""Operator side: banks in bulk, scopes, and signed exchange between organisations."""

from __future__ import annotations

import copy
import json

from rempart.signals import Signal
from tests.api.conftest import Api, wire


def test_bank_crud_and_counts(api: Api, photo_signals: list[list[Signal]]) -> None:
    key = api.key(["bank:read", "bank:write"], org="helpline-a")
    auth = api.auth(key)

    created = api.client.post(
        "/v1/banks", json={"name": "partners", "pdq_threshold": 20}, headers=auth
    )
    duplicate = api.client.post("/v1/banks", json={"name": "partners"}, headers=auth)
    added = api.client.post(
        "/v1/banks/partners/signals",
        json={"signals": wire(photo_signals[0] + photo_signals[1])},
        headers=auth,
    )
    again = api.client.post(
        "/v1/banks/partners/signals", json={"signals": wire(photo_signals[0])}, headers=auth
    )
    patched = api.client.patch(
        "/v1/banks/partners", json={"action": "review", "enabled": False}, headers=auth
    )
    listed = api.client.get("/v1/banks", headers=auth).json()["banks"]

    assert created.status_code == 201 and created.json()["pdq_threshold"] == 20
    assert duplicate.status_code == 409
    assert added.json() == {"added": 6, "duplicates": 0}
    assert again.json() == {"added": 0, "duplicates": 3}
    assert (patched.json()["action"], patched.json()["enabled"]) == ("review", False)
    assert [(b["name"], b["signals_count"]) for b in listed] == [("partners", 6)]

    removed = api.client.post(
        "/v1/banks/partners/signals/remove", json={"signals": wire(photo_signals[1])}, headers=auth
    )
    assert removed.json() == {"removed": 3}
    assert api.client.get("/v1/banks/partners", headers=auth).json()["signals_count"] == 3
    assert api.client.delete("/v1/banks/partners", headers=auth).status_code == 204
    assert api.client.get("/v1/banks/partners", headers=auth).status_code == 404


def test_banks_accept_hash_csv_and_jsonl(api: Api, photos: list) -> None:
    from typer.testing import CliRunner

    from rempart.cli import app as cli

    key = api.key(["bank:write", "bank:read", "match"], org="helpline-a")
    auth = api.auth(key)
    api.client.post("/v1/banks", json={"name": "imported"}, headers=auth)
    jsonl = CliRunner().invoke(cli, ["hash", *map(str, photos[:2])]).stdout
    csv_text = CliRunner().invoke(cli, ["hash", "--format", "csv", *map(str, photos[2:4])]).stdout

    from_jsonl = api.client.post(
        "/v1/banks/imported/signals",
        content=jsonl,
        headers={**auth, "Content-Type": "application/x-ndjson"},
    )
    from_csv = api.client.post(
        "/v1/banks/imported/signals", content=csv_text, headers={**auth, "Content-Type": "text/csv"}
    )
    wrong_type = api.client.post(
        "/v1/banks/imported/signals",
        content=b"<xml/>",
        headers={**auth, "Content-Type": "application/xml"},
    )
    bad_csv = api.client.post(
        "/v1/banks/imported/signals",
        content="path,pdq,quality\nx,zz,90\n",
        headers={**auth, "Content-Type": "text/csv"},
    )

    assert from_jsonl.json() == {"added": 6, "duplicates": 0}
    assert from_csv.json() == {"added": 6, "duplicates": 0}
    assert wrong_type.status_code == 422 and bad_csv.status_code == 422
    first_pdq = json.loads(jsonl.splitlines()[0])["pdq"]
    matched = api.client.post(
        "/v1/match",
        json={"signals": [{"type": "pdq", "value": first_pdq, "quality": 90}]},
        headers=auth,
    )
    assert matched.json()["results"][0]["matches"][0]["bank"] == "imported"


def test_scopes_guard_bank_contents(api: Api) -> None:
    matcher = api.auth(api.key(["match"], org="platform-b"))
    reader = api.auth(api.key(["bank:read"], org="platform-b"))

    assert api.client.get("/v1/banks", headers=matcher).status_code == 403
    assert api.client.get("/v1/banks/cases/export", headers=matcher).status_code == 403
    assert api.client.post("/v1/banks", json={"name": "x"}, headers=reader).status_code == 403
    # Another organisation's bank does not exist for you.
    assert api.client.get("/v1/banks/cases", headers=reader).status_code == 404
    assert api.client.get("/v1/banks/cases/export", headers=reader).status_code == 404


def test_signed_exchange_between_two_organisations(
    api: Api, photo_signals: list[list[Signal]]
) -> None:
    sender = api.auth(api.key(["bank:read", "bank:write"], org="helpline-a"))
    receiver = api.auth(api.key(["bank:read", "bank:write", "match"], org="platform-b"))
    api.client.post("/v1/banks", json={"name": "shared-list", "action": "review"}, headers=sender)
    api.client.post(
        "/v1/banks/shared-list/signals", json={"signals": wire(photo_signals[2])}, headers=sender
    )
    document = api.client.get("/v1/banks/shared-list/export", headers=sender).json()
    sender_key = api.client.get("/v1/signing-key", headers=sender).json()["public_key"]
    assert document["signer"]["public_key"] == sender_key
    assert "case_id" not in json.dumps(document)

    untrusted = api.client.post("/v1/banks/import", json=document, headers=receiver)
    assert untrusted.status_code == 403
    assert (
        api.client.post(
            "/v1/trusted-keys",
            json={"name": "helpline-a", "public_key": sender_key},
            headers=receiver,
        ).status_code
        == 201
    )

    tampered = copy.deepcopy(document)
    tampered["signals"][0]["value"] = "0" * 64
    assert api.client.post("/v1/banks/import", json=tampered, headers=receiver).status_code == 422
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    assert api.client.post("/v1/banks/import", json=unsigned, headers=receiver).status_code == 422

    imported = api.client.post("/v1/banks/import", json=document, headers=receiver)
    assert imported.status_code == 201
    assert imported.json() == {"bank": "shared-list", "added": 3, "duplicates": 0}
    matched = api.client.post(
        "/v1/match", json={"signals": wire(photo_signals[2][:1])}, headers=receiver
    )
    assert [(m["bank"], m["action"]) for m in matched.json()["results"][0]["matches"]] == [
        ("shared-list", "review")
    ]


def test_bank_policy_validation(api: Api) -> None:
    auth = api.auth(api.key(["bank:write"], org="helpline-a"))

    assert (
        api.client.post(
            "/v1/banks", json={"name": "x", "pdq_threshold": 64}, headers=auth
        ).status_code
        == 422
    )
    assert (
        api.client.post("/v1/banks", json={"name": "x", "kind": "block"}, headers=auth).status_code
        == 422
    )
    assert api.client.post("/v1/banks", json={"name": "a/b"}, headers=auth).status_code == 422
    assert (
        api.client.patch("/v1/banks/missing", json={"enabled": False}, headers=auth).status_code
        == 404
    )
