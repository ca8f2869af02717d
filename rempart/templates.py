"""Jinja2 environments for rempart's HTML: the web pages and the evidence report."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape


@cache
def environment(folder: Path) -> Environment:
    """Templates under ``folder``, HTML autoescaped, a missing variable an error (not blank)."""
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
