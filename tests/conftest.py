"""Fixtures shared by every test: where the shared benign data lives, and no network."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# The shared benign data sits beside the checkout (../shared/data); REMPART_SHARED_DATA overrides.
SHARED = Path(
    os.environ.get("REMPART_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
PHOTOS = SHARED / "photos"
PDQ_REFERENCE = SHARED / "pdq-reference"
VIDEOS = SHARED / "videos"


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    """The shared benign photos, sorted by name."""
    found = sorted(PHOTOS.glob("*.jpg"))
    assert found, f"shared photos missing under {PHOTOS}"
    return found


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to 127.0.0.1 and nothing else."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "::1", "localhost")
            and (self.family in (socket.AF_INET, socket.AF_INET6))
        ):
            raise RuntimeError(f"test tried to reach {host}: tests stay on 127.0.0.1")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
