"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from rempart.config import Settings
from rempart.store import Database, is_current, upgrade
from rempart.store.models import Base
from tests.dbs import BACKENDS, database_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_the_models(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        settings = Settings(data_dir=tmp_path, database_url=url)
        database = Database(settings)
        assert not is_current(database.engine, settings)

        upgrade(settings)
        upgrade(settings)  # idempotent

        assert is_current(database.engine, settings)
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        database.dispose()
    assert differences == []
