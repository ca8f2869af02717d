"""Test databases: a fresh SQLite file, or a fresh schema on the PostgreSQL test server.

PostgreSQL tests use ``REMPART_TEST_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Where that server is not reachable they are
skipped with a reason, except under ``CI=true``, where an unreachable server fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

PG_URL = os.environ.get("REMPART_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    if postgres_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (CI requires it)")
    pytest.skip(f"PostgreSQL is not reachable at {PG_URL}")


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str | None]:
    """``None`` for SQLite (the default under the data dir), else a URL to a fresh schema."""
    if backend == "sqlite":
        yield None
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
