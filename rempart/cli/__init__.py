"""The ``rempart`` command line: every command is listed here."""

from __future__ import annotations

import typer

from rempart.cli.hashing import compare_command, demo_command, hash_command, match_command

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


def main() -> None:
    app()
