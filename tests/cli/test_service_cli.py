"""``rempart db upgrade`` and ``rempart admin ...`` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli import app
from rempart.config import Settings
from rempart.orgs import authenticate
from rempart.store import Database

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REMPART_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("REMPART_DATABASE_URL", raising=False)
    return tmp_path


def test_db_upgrade_and_admin_keys(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(app, ["admin", "create-org", "helpline-a"])
    duplicate = runner.invoke(app, ["admin", "create-org", "helpline-a"])
    key = runner.invoke(
        app, ["admin", "create-key", "--org", "helpline-a", "--scopes", "match,bank:read"]
    )
    bad_scope = runner.invoke(
        app, ["admin", "create-key", "--org", "helpline-a", "--scopes", "root"]
    )
    no_org = runner.invoke(app, ["admin", "create-key", "--org", "nobody"])

    assert created.exit_code == 0
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output
    assert key.exit_code == 0
    assert bad_scope.exit_code == 1 and "scopes must be among" in bad_scope.output
    assert no_org.exit_code == 1 and "no organisation" in no_org.output
    token = key.stdout.strip()
    database = Database(Settings(data_dir=env))
    with database.reading() as session:
        principal = authenticate(session, token)
    assert principal.org_name == "helpline-a"
    assert principal.scopes == {"match", "bank:read"}

    revoked = runner.invoke(app, ["admin", "revoke-key", token.split("_")[1]])
    assert revoked.exit_code == 0
    with database.reading() as session, pytest.raises(Exception, match="invalid or revoked"):
        authenticate(session, token)
    database.dispose()


def test_unreachable_database_is_a_dependency_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMPART_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 3
    assert "migration failed" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_an_out_of_date_postgresql_schema(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.dbs import database_url

    with database_url("postgresql", tmp_path) as url:
        assert url is not None
        monkeypatch.setenv("REMPART_DATABASE_URL", url)

        result = runner.invoke(app, ["serve", "--port", "1"])

    assert result.exit_code == 3
    assert "rempart db upgrade" in result.output
