"""Webhook events: signed, persisted, retried with backoff, surviving a restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from rempart.security import webhook_signature
from rempart.service import Service
from rempart.signals import Signal
from tests.api.conftest import Api, wire


class Receiver:
    """A local HTTP endpoint that answers with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def _sighting(api: Api, signals: list[Signal]) -> None:
    api.client.post("/v1/cases", json={"signals": wire(signals)})
    platform = api.key(["match"], org="example-platform")
    match = api.client.post(
        "/v1/match", json={"signals": wire(signals[:1])}, headers=api.auth(platform)
    ).json()
    token = match["results"][0]["matches"][0]["token"]
    response = api.client.post(
        "/v1/sightings",
        json={
            "token": token,
            "platform": "example-platform",
            "location": "https://example.org/p/7",
        },
        headers=api.auth(platform),
    )
    assert response.status_code == 201


def test_delivery_survives_failure_and_restart(
    api: Api, receiver: Receiver, photo_signals: list[list[Signal]]
) -> None:
    created = api.client.post(
        "/v1/webhooks", json={"url": receiver.url}, headers=api.auth(api.admin_key)
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    receiver.statuses = [500]
    _sighting(api, photo_signals[0])

    assert api.service.webhooks.deliver_due() == 1  # answered 500
    status = api.client.get("/v1/webhooks", headers=api.auth(api.admin_key)).json()["webhooks"][0]
    assert (status["pending"], status["delivered"], status["last_error"]) == (1, 0, "HTTP 500")
    assert api.service.webhooks.deliver_due() == 0  # backing off

    # A new process on the same database finds the pending event and delivers it.
    restarted = Service(api.service.settings)
    restarted.start(background=False)
    try:
        later = datetime.now(UTC) + timedelta(seconds=5)
        assert restarted.webhooks.deliver_due(now=later) == 1
    finally:
        restarted.stop()

    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert headers["X-Rempart-Signature"] == webhook_signature(
        secret, headers["X-Rempart-Timestamp"], body
    )
    event = json.loads(body)
    assert event["type"] == "sighting" and event["bank"] == "cases"
    assert event["location"] == "https://example.org/p/7" and event["case_id"].startswith("RMP-")
    assert event["event_id"] == headers["X-Rempart-Delivery"]
    final = api.client.get("/v1/webhooks", headers=api.auth(api.admin_key)).json()["webhooks"][0]
    assert (final["pending"], final["delivered"]) == (0, 1)


@pytest.mark.parametrize("settings_overrides", [{"webhook_max_attempts": 3}])
def test_delivery_gives_up_after_max_attempts(api: Api, photo_signals: list[list[Signal]]) -> None:
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    api.service.webhooks._client = httpx.Client(transport=httpx.MockTransport(refuse))
    api.client.post(
        "/v1/webhooks",
        json={"url": "https://platform.example/hook"},
        headers=api.auth(api.admin_key),
    )
    _sighting(api, photo_signals[1])

    moment = datetime.now(UTC)
    for _ in range(5):
        api.service.webhooks.deliver_due(now=moment)
        moment += timedelta(hours=2)

    assert len(calls) == 3
    status = api.client.get("/v1/webhooks", headers=api.auth(api.admin_key)).json()["webhooks"][0]
    assert (status["failed"], status["pending"]) == (1, 0)
    assert status["last_error"].startswith("ConnectError")


def test_webhook_registration_rules(api: Api) -> None:
    admin = api.auth(api.admin_key)
    matcher = api.auth(api.key(["match"]))

    assert (
        api.client.post(
            "/v1/webhooks", json={"url": "ftp://x.example/a"}, headers=admin
        ).status_code
        == 422
    )
    assert (
        api.client.post(
            "/v1/webhooks", json={"url": "https://x.example/a"}, headers=matcher
        ).status_code
        == 403
    )
    assert api.client.delete("/v1/webhooks/999", headers=admin).status_code == 404
