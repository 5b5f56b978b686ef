"""The session's language and its translations: GNU gettext catalogs under locales/.

English is the source language (the msgids); `locales/zh/LC_MESSAGES/messages.po` holds the
Chinese, compiled to `messages.mo` by the Makefile. The language belongs to one browser session,
never to the process: it comes from `?lang=` in the URL, else the sidebar switch's kept value,
else the browser's language (`st.context.locale`), else English.

Views write `_("text")` for every visible string and `_n("one", "many", n)` for counts; text the
logic package raises carries its English msgid and parameters (`embedlab.messages.Message`) and is
translated here, where the session's language is known.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from components import state
from embedlab.messages import Message

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
LANG_KEY = state.APP_LANG  # the switch's widget key, and the URL's query parameter (?lang=zh)


@functools.lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of `language`, read once per process; English (the msgids) needs none."""
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def language_from_locale(locale: str | None) -> str:
    """Our language for a browser locale such as "zh-CN", "zh-Hant-TW" or "en-GB"."""
    tag = (locale or "").replace("_", "-").split("-", 1)[0].lower()
    return tag if tag in LANGUAGES else DEFAULT_LANGUAGE


def _browser_language() -> str:
    try:
        return language_from_locale(st.context.locale)
    except Exception:  # noqa: BLE001 - no browser (AppTest, a bare script): English
        return DEFAULT_LANGUAGE


def init_language() -> str:
    """Settle this session's language before anything is drawn; returns it.

    `?lang=` in the URL wins (a shared link opens in its language), then the switch's kept value,
    then the browser's language.
    """
    ss = st.session_state
    asked = st.query_params.get(LANG_KEY)
    if asked in LANGUAGES:
        if ss.get(LANG_KEY) != asked:
            ss[LANG_KEY] = asked
    elif ss.get(LANG_KEY) not in LANGUAGES:
        ss[LANG_KEY] = _browser_language()
    if asked != ss[LANG_KEY]:
        _sync_url()  # the address bar always names the language, so a copied link keeps it
    return ss[LANG_KEY]


def _sync_url() -> None:
    # Also the switch's callback: it runs before the rerun, so that run already reads the new ?lang=.
    st.query_params[LANG_KEY] = st.session_state[LANG_KEY]


def current_language() -> str:
    """This session's language; English outside a Streamlit run."""
    try:
        lang = st.session_state.get(LANG_KEY)
    except Exception:  # noqa: BLE001 - outside a script run there is no session
        return DEFAULT_LANGUAGE
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _(message: str) -> str:
    """`message` in this session's language."""
    return translations(current_language()).gettext(message)


def _n(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in this session's language (Chinese has one form)."""
    return translations(current_language()).ngettext(singular, plural, n)


def tr(message: Message | str, **params: Any) -> str:
    """A logic-package message (or an English msgid with `params`) in this session's language."""
    if isinstance(message, Message):
        return message.translate(_)
    return _(message).format(**params) if params else _(message)


def bound_gettext() -> Callable[[str], str]:
    """gettext of this session's language, bound now: for format functions of choice widgets, which
    Streamlit may call outside the script run (AppTest does), where the language cannot be read."""
    return translations(current_language()).gettext


def label_func(labels: Mapping[Any, str]) -> Callable[[Any], str]:
    """A choice widget's `format_func` for `labels` ({stable key: N_-marked English label}),
    translated now, in this run's language: a function that translated when called would answer in
    English when called outside the run (AppTest formats the options again from the test's thread)."""
    return {key: _(label) for key, label in labels.items()}.__getitem__


def language_switch() -> None:
    """The sidebar's 中文 / English switch; the choice is kept in the URL as ?lang=."""
    st.segmented_control(
        "Language / 语言",
        list(LANGUAGES),
        format_func=LANGUAGES.__getitem__,
        key=state.APP_LANG,
        required=True,
        on_change=_sync_url,
        persist_state="session",
        label_visibility="collapsed",
    )
