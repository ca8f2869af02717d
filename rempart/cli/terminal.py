"""What every command shares: exit codes, and a stderr console for messages and progress.

Data goes to stdout (pipeable); messages and progress bars go to stderr. Markup is off so a file
named ``[x].jpg`` prints as is.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

stderr = Console(stderr=True, markup=False, highlight=False)


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    DEPENDENCY = 3
    INTERRUPTED = 130


def fail(message: str, code: ExitCode = ExitCode.ERROR) -> NoReturn:
    """Print one line to stderr and leave with ``code``; no traceback for expected failures."""
    stderr.print(f"error: {message}")
    raise typer.Exit(code=int(code))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def progress(items: Iterable[T], total: int, label: str, enabled: bool) -> Iterator[T]:
    """Wrap ``items`` with a Rich progress bar on stderr when ``enabled``."""
    if not enabled:
        yield from items
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=False) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)
