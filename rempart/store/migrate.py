"""Schema migrations (Alembic), run programmatically by ``rempart db upgrade`` and ``serve``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from rempart.config import Settings
from rempart.store.db import prepare_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings) -> None:
    """Bring the database schema to the latest revision."""
    if settings.is_sqlite:
        prepare_sqlite(settings)
    command.upgrade(alembic_config(settings), "head")


def is_current(engine: Engine, settings: Settings) -> bool:
    """Whether the database is at the latest revision (``serve`` refuses to start otherwise)."""
    head = ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
