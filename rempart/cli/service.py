"""``rempart serve``, ``rempart db upgrade`` and ``rempart admin ...``: running the service."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
import uvicorn

from rempart.cli.terminal import ExitCode, fail, stderr
from rempart.config import Settings
from rempart.errors import RempartError
from rempart.orgs import create_key, create_org, get_org, revoke_key
from rempart.service import Service
from rempart.store import Database, upgrade

T = TypeVar("T")

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Organisations and API keys.", no_args_is_help=True)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the matching service (and its web pages). SQLite is migrated automatically;
    PostgreSQL needs `rempart db upgrade` first."""
    settings = Settings()
    try:
        if settings.is_sqlite:
            upgrade(settings)
        service = Service(settings)
        service.start(background=False)
        token = service.bootstrap_admin_key()
        service.stop()
    except RempartError as exc:
        fail(exc.message, ExitCode.DEPENDENCY)
    if token:
        stderr.print(
            "\nFirst start: an admin API key was created. It is shown only now and was saved"
            f" (readable only by you) to {settings.key_file}:\n\n    {token}\n"
        )
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rempart-metrics-")
    stderr.print(f"rempart listening on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "rempart.api.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the latest version (REMPART_DATABASE_URL, or SQLite)."""
    settings = Settings()
    try:
        upgrade(settings)
    except Exception as exc:  # alembic and drivers raise many types; report in one line
        fail(f"migration failed: {type(exc).__name__}: {exc}", ExitCode.DEPENDENCY)
    stderr.print(f"database at the latest schema: {_redacted(settings.sqlalchemy_url)}")


@admin_app.command("create-org")
def create_org_command(name: Annotated[str, typer.Argument(help="Organisation name.")]) -> None:
    """Create an organisation (a helpline, an NGO, a platform)."""
    with _database() as db, db.transaction() as session:
        org = _or_fail(lambda: create_org(session, name))
        typer.echo(f"created organisation {org.name!r}")


@admin_app.command("create-key")
def create_key_command(
    org: Annotated[str, typer.Option(help="Organisation name.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: match, bank:read, bank:write, admin.")
    ] = "match",
    name: Annotated[str, typer.Option(help="A label for this key.")] = "",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    with _database() as db, db.transaction() as session:
        organisation = _or_fail(lambda: get_org(session, org))
        wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        token = _or_fail(lambda: create_key(session, organisation, wanted, name=name))
    typer.echo(token)


@admin_app.command("revoke-key")
def revoke_key_command(
    key_id: Annotated[str, typer.Argument(help="The id part of the key.")],
) -> None:
    """Revoke an API key (takes effect within 5 seconds in every worker)."""
    with _database() as db, db.transaction() as session:
        _or_fail(lambda: revoke_key(session, key_id))
    typer.echo(f"revoked {key_id}")


class _database:
    """A migrated database for one admin command."""

    def __enter__(self) -> Database:
        settings = Settings()
        try:
            upgrade(settings)
        except Exception as exc:  # a wrong URL or unreachable server
            fail(f"cannot open the database: {type(exc).__name__}: {exc}", ExitCode.DEPENDENCY)
        self.db = Database(settings)
        return self.db

    def __exit__(self, *_: object) -> None:
        self.db.dispose()


def _or_fail(action: Callable[[], T]) -> T:
    try:
        return action()
    except RempartError as exc:
        fail(exc.message)


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
