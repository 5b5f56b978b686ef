"""What a Markdown text reads as: for asserting on messages that show untrusted text literally."""

from __future__ import annotations

import re

_ESCAPE_OR_REFERENCE = re.compile(r"\\([!-/:-@\[-`{-~])|&#(\d+);")


def shown(markdown: str) -> str:
    """The characters `markdown` shows when nothing in it is markup: backslash escapes and numeric
    character references read, hard line breaks as newlines, invisible word joiners (U+2060) dropped."""
    text = _ESCAPE_OR_REFERENCE.sub(lambda m: m[1] or chr(int(m[2])), markdown)
    return text.replace("  \n", "\n").replace("\u2060", "")
