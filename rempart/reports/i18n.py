"""Message catalogs: every sentence a person reads, per language, outside the code.

A catalog is a flat JSON object ``{"key": "text with {placeholders}"}``, one file per language
(``en.json``, ``fr.json``) in a folder. Every language of a folder has exactly the keys of the
English one (a test checks it), so a missing translation fails loudly in the tests instead of
showing a key to a person. The web pages use the same class for their own catalogs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Catalog:
    """The messages of one language; call it with a key (and placeholders) to get the text."""

    language: str
    messages: dict[str, str]

    def __call__(self, key: str, **values: object) -> str:
        """The text of ``key`` with ``{name}`` placeholders filled; KeyError for unknown keys."""
        text = self.messages[key]
        return text.format_map(values) if values else text

    def subset(self, prefix: str) -> dict[str, str]:
        """The messages whose key starts with ``prefix`` (what a page's JavaScript needs)."""
        return {k: v for k, v in self.messages.items() if k.startswith(prefix)}


def languages(folder: Path) -> tuple[str, ...]:
    """The languages a catalog folder holds, English first."""
    found = sorted(path.stem for path in folder.glob("*.json"))
    return tuple(sorted(found, key=lambda code: code != DEFAULT_LANGUAGE))


@cache
def load_catalog(folder: Path, language: str) -> Catalog:
    """The catalog of ``language`` in ``folder``; an unknown language gets English."""
    path = folder / f"{language}.json"
    if language not in languages(folder):
        path = folder / f"{DEFAULT_LANGUAGE}.json"
        language = DEFAULT_LANGUAGE
    messages = json.loads(path.read_text(encoding="utf-8"))
    return Catalog(language, messages)


def negotiate(accept_language: str | None, available: tuple[str, ...]) -> str:
    """The best of ``available`` for an ``Accept-Language`` header (RFC 9110 weights; a
    region such as ``fr-CA`` counts for its language), else English."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        base = tag.strip().split("-")[0].lower()
        if base in available and weight > 0:
            ranked.append((-weight, position, base))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE
