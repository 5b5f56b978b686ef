"""The language of a text, told by its script: Chinese, Japanese, Korean, Latin-script (English and
other European languages), Cyrillic, Arabic, or none (no letters).

A script census is dependable for what the Clusters page needs (does a map split by language?):
it never guesses on short texts, costs microseconds and needs no model. It cannot tell English
from French, or Simplified from Traditional Chinese; the names say "Latin script" for that reason.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence

from embedlab.messages import N_

# Display names, marked for the catalog; translate where drawn.
LANGUAGE_NAMES: dict[str, str] = {
    "zh": N_("Chinese"),
    "ja": N_("Japanese"),
    "ko": N_("Korean"),
    "latin": N_("Latin script (English, …)"),
    "cyrillic": N_("Cyrillic script"),
    "arabic": N_("Arabic script"),
    "other": N_("other script"),
    "none": N_("no letters"),
}

# A Han character carries about a word, a Latin letter a fifth of one: weigh them alike per word,
# so "请连接VPN后访问内网" is Chinese and "Use the 年假 form" is Latin script.
_WEIGHTS = {"han": 4.0, "kana": 4.0, "hangul": 4.0}


def _script(char: str) -> str | None:
    """The script of one character (None for digits, punctuation, spaces, symbols)."""
    if not char.isalpha():
        return None
    code = ord(char)
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9D:
        return "kana"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FA1F or 0xF900 <= code <= 0xFAFF:
        return "han"
    name = unicodedata.name(char, "")
    for script in ("LATIN", "CYRILLIC", "ARABIC"):
        if name.startswith(script):
            return script.lower()
    return "other"


def detect_language(text: str) -> str:
    """A key of LANGUAGE_NAMES for `text`: the script with the most weight decides; Han with any
    kana is Japanese (Japanese writes kanji between kana)."""
    counts = Counter(s for s in map(_script, text) if s is not None)
    if not counts:
        return "none"
    if counts["kana"] and counts["kana"] * 10 >= counts["han"]:
        counts["han"] += counts.pop("kana")
        japanese = True
    else:
        japanese = False
    best = max(counts, key=lambda s: counts[s] * _WEIGHTS.get(s, 1.0))
    if best == "han":
        return "ja" if japanese else "zh"
    if best == "kana":
        return "ja"
    return {"hangul": "ko"}.get(best, best)


def detect_languages(texts: Sequence[str]) -> list[str]:
    """detect_language of each text (length n in, length n out)."""
    return [detect_language(t) for t in texts]
