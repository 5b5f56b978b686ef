"""Translatable text raised or returned by the logic package, which never knows the user's language.

A `Message` carries its English msgid and the parameters to format into it; the UI translates the
msgid into the session's language and then formats (components/i18n.py). `str(message)` is the
English text, for logs and the command-line tools. `N_` marks a literal for extraction
(`pybabel extract -k N_`) without translating it where it is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark `message` for the catalog; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Message:
    """An English msgid with `str.format` parameters, e.g. Message(N_("{n} texts refused"), {"n": 3})."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def translate(self, gettext: Callable[[str], str]) -> str:
        """The message in the language of `gettext`; parameters that are Messages are translated too."""
        params = {k: v.translate(gettext) if isinstance(v, Message) else v for k, v in self.params.items()}
        return gettext(self.msgid).format(**params) if params else gettext(self.msgid)

    def __str__(self) -> str:
        return self.translate(lambda s: s)


class LocalizedError(Exception):
    """An error whose text is a Message: `str(exc)` is English, the UI shows it translated."""

    def __init__(self, msgid: str, **params: Any) -> None:
        self.message = Message(msgid, params)
        super().__init__(str(self.message))


class InputError(LocalizedError, ValueError):
    """A value the user gave or chose cannot be used (a chunk size out of range, too few texts);
    a ValueError, so callers that catch ValueError keep working."""


def message_of(exc: BaseException) -> Message:
    """The translatable message of `exc`: its own for a LocalizedError, else its text as it is."""
    if isinstance(exc, LocalizedError):
        return exc.message
    return Message("{text}", {"text": str(exc) or type(exc).__name__})
