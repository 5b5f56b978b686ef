"""The Streamlit-free parts of components/widgets.py: literal text for Markdown elements."""

from __future__ import annotations

import re
import string

from components.widgets import literal
from tests.support.markdown import shown


def unescaped_punctuation(markdown: str) -> list[str]:
    """ASCII punctuation Markdown would read as syntax: not backslash-escaped, and not part of the
    `&#NN;` references literal() writes for leading spaces."""
    found, i = [], 0
    markdown = re.sub(r"&#\d+;", "", markdown)
    while i < len(markdown):
        if markdown[i] == "\\":
            i += 2
            continue
        if markdown[i] in string.punctuation:
            found.append(markdown[i])
        i += 1
    return found


def test_literal_escapes_every_markdown_character_and_keeps_the_text():
    text = "![t](http://tracker/x.png) $x^2$ <b>b</b> **bold** :red[x] `c` # h\n1. item\r\n    code &copy; \\"
    escaped = literal(text)
    assert unescaped_punctuation(escaped) == [], escaped
    # Read back (escapes and character references), it is the text itself, line breaks included.
    assert shown(escaped) == text.replace("\r\n", "\n")
    assert escaped.count("  \n") == 2  # hard line breaks, not paragraphs
    assert "\n&#32;&#32;&#32;&#32;code" in escaped  # an indented line is not a code block


def test_literal_splits_what_streamlit_rewrites_in_plain_text():
    text = ("see http://127.0.0.1:9/x.png, HTTPS://a.example/c, www.evil.example, admin@evil.example; "
            ":smile: :+1: :streamlit: a -> b <- c <-> d -- e >= f <= g ~= h")
    plain = re.sub(r"\\(.)", r"\1", literal(text))  # as the renderer's text nodes hold it (joiners kept)
    # The patterns of GFM autolinks, remark-emoji / Streamlit shortcodes and Streamlit's arrows.
    assert re.search(r"(?i)https?://|www\.|[\w.+-]@\w", plain) is None, plain
    assert re.search(r":[\w+-]+:", plain) is None, plain
    assert re.search(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)", plain) is None, plain
    assert shown(literal(text)) == text
    # Ordinary text is left alone: a port, a time, a hyphenated word, a dash in a range.
    assert literal("localhost:8000 at 10:30 self-hosted 3-5") == "localhost\\:8000 at 10\\:30 self\\-hosted 3\\-5"
