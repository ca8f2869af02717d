"""Every catalog says everything English says, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from rempart.telegram.i18n import catalog, language_of, languages, text

REQUIRED = ("en", "es", "fr", "ja", "ko", "ru")


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_the_required_languages_have_catalogs() -> None:
    assert set(REQUIRED) <= set(languages())


@pytest.mark.parametrize("language", REQUIRED)
def test_a_catalog_has_the_keys_and_placeholders_of_english(language: str) -> None:
    english, other = catalog("en"), catalog(language)
    assert other.keys() == english.keys()
    for key, template in english.items():
        assert placeholders(other[key]) == placeholders(template), key
        assert other[key].strip(), key


def test_languages_fall_back_to_their_base_then_english() -> None:
    assert language_of("pt-br") == "en"
    assert language_of("es-419") == "es"
    assert language_of("FR") == "fr"
    assert language_of(None) == "en"
    assert text("ko-KR", "state_on") == "켜짐"
