"""The bot's words: one JSON catalog per language in ``locales/``, never text in code.

A catalog maps a message key to a ``str.format`` template. Every catalog has the keys and
placeholders of English (tests/telegram/test_i18n.py checks it); a language without a catalog,
or a regional variant (``pt-br``, ``es-419``), falls back to its base language, then to English.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LOCALES = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"


@cache
def catalog(language: str) -> dict[str, str]:
    """The catalog of a supported language (``KeyError`` for others)."""
    path = LOCALES / f"{language}.json"
    if not path.is_file():
        raise KeyError(language)
    entries: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return entries


@cache
def languages() -> tuple[str, ...]:
    """Codes of the languages with a catalog, sorted."""
    return tuple(sorted(path.stem for path in LOCALES.glob("*.json")))


def language_of(code: str | None) -> str:
    """The supported language for a Telegram ``language_code`` (IETF tag), or English."""
    base = (code or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in languages() else DEFAULT_LANGUAGE


def text(language: str, key: str, **values: Any) -> str:
    """The message ``key`` in ``language`` (English where the catalog lacks it), filled in."""
    template = catalog(language_of(language)).get(key) or catalog(DEFAULT_LANGUAGE)[key]
    return template.format(**values)
