"""Property-based fuzzing of every endpoint from the OpenAPI schema: no server error (5xx).

The schema must exist when the module is collected (schemathesis parametrizes from it), so the
app is built at import, on a temporary SQLite database removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from rempart.api import create_app
from rempart.config import Settings
from rempart.service import Service

_DATA = Path(tempfile.mkdtemp(prefix="rempart-schemathesis-"))
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
_SERVICE = Service(Settings(data_dir=_DATA, rate_limit_cases_per_ip=10**9))
_SERVICE.start(background=False)
_KEY = _SERVICE.bootstrap_admin_key()
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(_SERVICE.settings, _SERVICE, background=False)
)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {_KEY}"})

    assert response.status_code < 500, (
        f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message"}


def test_schema_lists_the_public_endpoints() -> None:
    paths = set(schema.raw_schema["paths"])

    assert {
        "/v1/cases",
        "/v1/cases/{case_id}",
        "/v1/match",
        "/v1/match/file",
        "/v1/sightings",
    } <= paths
    assert "/metrics" not in paths
