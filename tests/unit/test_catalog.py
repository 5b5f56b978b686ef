"""The Chinese catalog is complete and agrees with the code: every string the app draws has its
translation, with the same placeholders, and the compiled catalog the app loads is the .po's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from components import i18n

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locales" / "zh" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _catalog():
    with PO.open("rb") as fh:
        return read_po(fh)


def _entries():
    return [m for m in _catalog() if m.id]


def _ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = _entries()
    assert entries
    assert [m.id for m in entries if not all(_strings(m))] == []
    assert [m.id for m in entries if m.fuzzy] == []


def test_placeholders_are_the_same_in_both_languages():
    wrong = {}
    for m in _entries():
        wanted = sorted(PLACEHOLDER.findall(_ids(m)[-1]))
        for s in _strings(m):
            if sorted(PLACEHOLDER.findall(s)) != wanted:
                wrong[_ids(m)[0]] = s
    assert wrong == {}


def test_every_string_in_the_code_is_in_the_catalog_and_nothing_else():
    """New strings get their Chinese in the same change (`make i18n`, then translate)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {"_": None, "N_": None, "_n": (1, 2)}
    extracted = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        extracted.add(message[0] if isinstance(message, tuple) else message)
    catalogued = {_ids(m)[0] for m in _entries()}
    assert sorted(extracted - catalogued) == [], "strings without a translation: run `make i18n` and translate"
    assert sorted(catalogued - extracted) == [], "entries no longer in the code: run `make i18n`"


def test_the_compiled_catalog_is_the_po_file():
    if not PO.with_suffix(".mo").exists():
        pytest.fail("locales/zh/LC_MESSAGES/messages.mo is missing: `make test` compiles it")
    assert PO.with_suffix(".mo").stat().st_mtime >= PO.stat().st_mtime, "messages.mo is older than its .po"
    zh = i18n.translations("zh")
    for m in _entries():
        if not m.pluralizable:
            assert zh.gettext(m.id) == m.string


def test_browser_locales_map_to_our_languages():
    assert i18n.language_from_locale("zh-CN") == "zh"
    assert i18n.language_from_locale("zh_TW") == "zh"
    assert i18n.language_from_locale("zh-Hant-HK") == "zh"
    assert i18n.language_from_locale("en-GB") == "en"
    assert i18n.language_from_locale("fr-FR") == "en"
    assert i18n.language_from_locale(None) == "en"
