"""The ``rempart`` command line: every command is listed here."""

from __future__ import annotations

import typer

from rempart.cli.bot import bot_command
from rempart.cli.case import case_app
from rempart.cli.hashing import compare_command, demo_command, hash_command, match_command
from rempart.cli.service import admin_app, db_app, serve_command

app = typer.Typer(
    name="rempart",
    help="Protect people from non-consensual intimate imagery: hash, match, act.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("hash")(hash_command)
app.command("compare")(compare_command)
app.command("match")(match_command)
app.command("demo")(demo_command)
app.command("serve")(serve_command)
app.command("bot")(bot_command)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(case_app, name="case")


def main() -> None:
    app()
