"""Match API throughput and latency, and how fast a change reaches every worker.

    .venv/bin/python benchmarks/bench_api.py [--signals 100000] [--duration 20]

Needs `wrk` (Debian: `apt-get install wrk`), the load generator, run as a separate process on
loopback. Starts `rempart serve --workers 2` on a fresh SQLite database holding a bank of
`--signals` PDQ signals (random hashes plus the shared photos), then measures:
- single-signal POST /v1/match: requests/s and p50/p99 latency,
- 100-signal batches: requests/s, signals/s and p50/p99,
- propagation: time from a committed add (and a withdrawal) until both workers answer with it.
Writes benchmarks/results/api.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from rempart.config import Settings
from rempart.orgs import Principal
from rempart.service import Service
from rempart.signals import PdqHash, Signal, compute_image_signals

RESULTS = Path(__file__).parent / "results" / "api.md"
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local bodies = {{}}
for line in io.lines("{bodies}") do bodies[#bodies + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/match", nil, bodies[(n % #bodies) + 1])
end
"""


def populate(settings: Settings, count: int, photo_signals: list[list[Signal]]) -> None:
    service = Service(settings)
    service.start(background=False)
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    signals: list[Signal] = [PdqHash(bytes(row), 100) for row in raw]
    signals += [s for group in photo_signals for s in group]
    with service.db.reading() as session:
        from rempart.store.models import Organisation

        org = session.query(Organisation).filter_by(name="local").one()
    principal = Principal(org.id, org.name, "bench", frozenset({"admin"}))
    service.create_bank(principal, "bench")
    for start in range(0, len(signals), 50_000):
        service.add_bank_signals(principal, "bench", signals[start : start + 50_000])
    service.bootstrap_admin_key()
    service.stop()


def queries(photo_signals: list[list[Signal]], batch: int, count: int) -> list[str]:
    """Request bodies: half re-encoded copies of banked photos (matches), half random hashes."""
    rng = np.random.default_rng(11)
    bodies = []
    for number in range(count):
        signals = []
        for item in range(batch):
            if (number + item) % 2:
                pdq = photo_signals[(number * batch + item) % len(photo_signals)][0]
                signals.append(pdq.to_json())
            else:
                value = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
                signals.append({"type": "pdq", "value": value, "quality": 100})
        bodies.append(json.dumps({"signals": signals}))
    return bodies


def run_wrk(
    url: str, key: str, bodies: list[str], duration: int, connections: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        body_file = Path(folder) / "bodies.txt"
        body_file.write_text("\n".join(bodies) + "\n")
        script = Path(folder) / "match.lua"
        script.write_text(LUA.format(key=key, bodies=body_file))
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rate,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def propagation(url: str, key: str, photo: list[Signal], workers: int = 2) -> tuple[float, float]:
    """Seconds until every worker matches a new case, and until none matches it once withdrawn."""
    headers = {"Authorization": f"Bearer {key}"}
    query = {"signals": [photo[0].to_json()]}

    def until(expected: bool, since: float) -> float:
        seen: set[str] = set()
        while len(seen) < workers:
            with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
                response = client.post(f"{url}/v1/match", json=query, headers=headers)
            found = bool(response.json()["results"][0]["matches"])
            worker = response.headers["x-rempart-worker"]
            if found is expected:
                seen.add(worker)
            else:
                seen.discard(worker)
        return time.perf_counter() - since

    started = time.perf_counter()
    created = httpx.post(f"{url}/v1/cases", json={"signals": [s.to_json() for s in photo]}).json()
    added = until(True, started)
    started = time.perf_counter()
    httpx.delete(f"{url}/v1/cases/{created['case_id']}", headers={"X-Rempart-Pin": created["pin"]})
    withdrawn = until(False, started)
    return added, withdrawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    photos = sorted(PHOTOS.glob("*.jpg"))[:200]
    photo_signals = [compute_image_signals(p.read_bytes()).signals() for p in photos]
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "REMPART_DATA_DIR": data,
            "REMPART_RATE_LIMIT_CASES_PER_IP": "1000000",
            "REMPART_RATE_LIMIT_PER_KEY": "100000000",
        }
        settings = Settings(data_dir=Path(data))
        started = time.perf_counter()
        populate(settings, args.signals, photo_signals[:100])
        populate_s = time.perf_counter() - started
        key = settings.key_file.read_text().strip()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "rempart", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            boot = time.perf_counter()
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            ready_s = time.perf_counter() - boot
            time.sleep(2)  # let the second worker finish loading too
            single = run_wrk(url, key, queries(photo_signals[:100], 1, 2000), args.duration, 16)
            batch = run_wrk(url, key, queries(photo_signals[:100], 100, 200), args.duration, 4)
            added, withdrawn = propagation(url, key, photo_signals[150])
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    load = os.getloadavg()[0]
    lines = [
        "# Match API",
        "",
        f"`rempart serve --workers 2` (uvicorn, SQLite), a bank of {args.signals + 300:,} signals"
        f" ({args.signals:,} random PDQ hashes + 100 photos x 3 signals), {os.cpu_count()} cores"
        f" shared by the server and the load generator (`wrk`, one thread), {args.duration} s per"
        f" run, load average after the runs {load:.2f}.",
        "Queries: half PDQ hashes of banked photos (each matches), half random hashes (no match).",
        "Command: `.venv/bin/python benchmarks/bench_api.py`",
        "",
        "| query | connections | requests/s | signals/s | p50 | p99 | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| 1 signal | 16 | {single['rps']:,.0f} | {single['rps']:,.0f} | {single['p50']:.1f} ms"
        f" | {single['p99']:.1f} ms | {single['errors']:.0f} |",
        f"| 100 signals | 4 | {batch['rps']:,.0f} | {batch['rps'] * 100:,.0f}"
        f" | {batch['p50']:.1f} ms | {batch['p99']:.1f} ms | {batch['errors']:.0f} |",
        "",
        f"- Propagation: a new case matched in every worker {added * 1000:.0f} ms after its"
        " POST was sent; a withdrawn case stopped matching everywhere after"
        f" {withdrawn * 1000:.0f} ms (goal < 1 s; workers poll the change log every 0.2 s).",
        f"- Filling the bank: {populate_s:.1f} s; a worker's start (index load) until ready:"
        f" {ready_s:.1f} s.",
        "- Goal: >= 1,500 single-signal matches/s with p99 < 25 ms.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
