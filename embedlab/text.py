"""Shortening user text for display: one place for labels, tables and captions."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int) -> str:
    """`text` with runs of white space folded to one space, then clipped to `limit` characters."""
    return clip(" ".join(text.split()), limit)


def first_words(text: str, limit: int = 60) -> str:
    """The start of `text` on one line, cut at a word boundary near `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", limit // 2, limit)
    return flat[: cut if cut > 0 else limit] + "…"


def _width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def shorten(text: str, width: int = 28) -> str:
    """`text` on one line, cut to about `width` display columns (CJK characters count 2)."""
    flat = " ".join(text.split())
    used, out = 0, []
    for ch in flat:
        if used + _width(ch) > width:
            return "".join(out).rstrip() + "…"
        out.append(ch)
        used += _width(ch)
    return "".join(out)


def short_labels(texts: Sequence[str], prefix: str, width: int = 28) -> list[str]:
    """Unique axis labels: "Q1 · first words…", numbered so equal or similar texts stay apart."""
    return [f"{prefix}{i} · {shorten(t, width) or '(empty)'}" for i, t in enumerate(texts, start=1)]
