"""Alembic environment: the URL comes from rempart's settings (see rempart.store.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from rempart.store.models import Base

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("rempart.store.migrate sets sqlalchemy.url; run `rempart db upgrade`")
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            compare_type=True,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
