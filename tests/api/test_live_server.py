"""A real ``rempart serve --workers 2``: changes reach every worker, writes survive concurrency."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rempart.signals import Signal
from tests.api.conftest import wire
from tests.dbs import BACKENDS, database_url

PROPAGATION_LIMIT = 1.0


@dataclass
class Live:
    url: str
    key: str
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        # No keep-alive: every request is a new connection, so requests spread over workers.
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.key}"},
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=30,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    with database_url(request.param, tmp_path) as url:
        env = {
            **os.environ,
            "REMPART_DATA_DIR": str(tmp_path / "data"),
            "REMPART_SYNC_INTERVAL": "0.1",
            # The load below comes from one address, faster than any person.
            "REMPART_RATE_LIMIT_CASES_PER_IP": "1000000",
        }
        if url:
            env["REMPART_DATABASE_URL"] = url
            subprocess.run(
                [sys.executable, "-m", "rempart", "db", "upgrade"],
                env=env,
                check=True,
                capture_output=True,
            )
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "rempart", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        pids: set[str] = set()
        while len(pids) < 2:
            assert time.monotonic() < deadline, "the service did not start two workers"
            assert process.poll() is None, "the service exited"
            try:
                response = httpx.get(f"{base}/readyz", timeout=2)
                if response.status_code == 200:
                    pids.add(response.headers["x-rempart-worker"])
            except httpx.TransportError:
                time.sleep(0.2)
        key = (tmp_path / "data" / "admin-api-key").read_text().strip()
        try:
            yield Live(base, key, process)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def _matches_everywhere(live: Live, signal: Signal, expected: bool, attempts: int = 40) -> set[str]:
    """Query until both workers have answered; every answer must be ``expected``."""
    workers: set[str] = set()
    with live.client() as client:
        for _ in range(attempts):
            response = client.post("/v1/match", json={"signals": [signal.to_json()]})
            assert response.status_code == 200
            assert bool(response.json()["results"][0]["matches"]) is expected, response.headers[
                "x-rempart-worker"
            ]
            workers.add(response.headers["x-rempart-worker"])
            if len(workers) == 2 and _ >= 10:
                break
    return workers


def test_add_and_withdraw_reach_every_worker_within_a_second(
    live: Live, photo_signals: list[list[Signal]]
) -> None:
    with live.client() as client:
        created = client.post("/v1/cases", json={"signals": wire(photo_signals[0])}).json()
    time.sleep(PROPAGATION_LIMIT)
    assert len(_matches_everywhere(live, photo_signals[0][0], expected=True)) == 2

    with live.client() as client:
        gone = client.delete(
            f"/v1/cases/{created['case_id']}", headers={"X-Rempart-Pin": created["pin"]}
        )
        assert gone.status_code == 204
    time.sleep(PROPAGATION_LIMIT)
    assert len(_matches_everywhere(live, photo_signals[0][0], expected=False)) == 2


def test_a_restarted_worker_rebuilds_its_index(
    live: Live, photo_signals: list[list[Signal]]
) -> None:
    with live.client() as client:
        assert client.post("/v1/cases", json={"signals": wire(photo_signals[1])}).status_code == 201
        victim = client.get("/readyz").headers["x-rempart-worker"]
    time.sleep(PROPAGATION_LIMIT)
    os.kill(int(victim), signal.SIGKILL)
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    while len(seen - {victim}) < 2:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        try:
            with live.client() as client:
                response = client.post("/v1/match", json={"signals": wire(photo_signals[1][:1])})
        except httpx.TransportError:
            continue
        if response.status_code == 200:
            assert response.json()["results"][0]["matches"], "a worker answered without the case"
            seen.add(response.headers["x-rempart-worker"])


def test_eight_threads_for_ten_seconds_lose_nothing(
    live: Live, photo_signals: list[list[Signal]]
) -> None:
    errors: list[str] = []
    created: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    stop = time.monotonic() + 10

    def work(number: int) -> None:
        with live.client() as client:
            turn = 0
            while time.monotonic() < stop:
                photo = (number + turn) % len(photo_signals)
                turn += 1
                try:
                    if turn % 2:
                        response = client.post(
                            "/v1/cases", json={"signals": wire(photo_signals[photo])}
                        )
                        if response.status_code != 201:
                            errors.append(f"create {response.status_code} {response.text[:100]}")
                            continue
                        body = response.json()
                        with lock:
                            created.append((body["case_id"], body["pin"], photo))
                    else:
                        response = client.post(
                            "/v1/match", json={"signals": wire(photo_signals[photo])}
                        )
                        if response.status_code != 200:
                            errors.append(f"match {response.status_code} {response.text[:100]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(created) >= 16
    time.sleep(PROPAGATION_LIMIT)
    with live.client() as client:
        # Every case's three signals are stored...
        banks = client.get("/v1/banks").json()["banks"]
        assert {b["name"]: b["signals_count"] for b in banks}["cases"] == 3 * len(created)
        # ...and a sample of cases opens with its PIN and matches on every worker.
        for case_id, pin, photo in created[:: max(1, len(created) // 20)]:
            view = client.get(f"/v1/cases/{case_id}", headers={"X-Rempart-Pin": pin}).json()
            assert (view["status"], view["signals_count"]) == ("active", 3)
            found = client.post(
                "/v1/match", json={"signals": wire(photo_signals[photo][:1])}
            ).json()
            assert found["results"][0]["matches"]
