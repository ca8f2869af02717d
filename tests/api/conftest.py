"""An app per test on a fresh database (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rempart.config import Settings
from rempart.orgs import create_key, create_org, get_org
from rempart.service import OPERATOR_ORG, Service
from rempart.signals import Signal, compute_image_signals
from tests.dbs import BACKENDS, database_url

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from rempart.api import create_app


@dataclass
class Api:
    """A running app, its service, and keys for the operator ("local") organisation."""

    client: TestClient
    service: Service
    admin_key: str

    def key(self, scopes: list[str], org: str = OPERATOR_ORG) -> str:
        with self.service.db.transaction() as session:
            try:
                organisation = get_org(session, org)
            except Exception:
                organisation = create_org(session, org)
            return create_key(session, organisation, scopes)

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


def make_settings(tmp_path: Path, url: str | None, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=url, **overrides)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def api(backend: str, tmp_path: Path, settings_overrides: dict[str, object]) -> Iterator[Api]:
    with database_url(backend, tmp_path) as url:
        settings = make_settings(tmp_path, url, **settings_overrides)
        if url is not None:
            from rempart.store import upgrade

            upgrade(settings)
        service = Service(settings)
        app = create_app(settings, service, background=False)
        with TestClient(app) as client:
            key = service.bootstrap_admin_key()
            assert key is not None
            yield Api(client, service, key)


@pytest.fixture(scope="session")
def photo_signals(photos: list[Path]) -> list[list[Signal]]:
    """Signals (pdq, md5, sha256) of the first 12 shared photos."""
    return [compute_image_signals(path.read_bytes()).signals() for path in photos[:12]]


def wire(signals: list[Signal]) -> list[dict[str, object]]:
    return [signal.to_json() for signal in signals]
