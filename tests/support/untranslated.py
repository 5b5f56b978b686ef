"""Find English UI text in a page drawn in Chinese (AppTest).

Every string literal of the app's code (components/, embedlab/) that reads like prose — letters and
a space, at least two words — is a candidate UI string. Drawn in Chinese, a page must show none of
them: one that shows up was never passed through the catalog (or has no translation). The user's
own data, sample texts (embedlab/data), model names and numbers are not literals of the code, so
they never count.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

from embedlab.instruction_sets import sample_sets
from embedlab.instructions import PRESETS
from embedlab.projection.mapdata import sample_corpus

ROOT = Path(__file__).resolve().parents[2]
WORDS = re.compile(r"[A-Za-z]{2,}(?:[ '’-][A-Za-z]+)+")  # two English words or more in a row
_PIECE = re.compile(r"\{[^{}]*\}|%[sd]")  # placeholders split a literal into pieces
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")  # markup in st.html bodies and plotly labels: never visible text


@functools.cache
def code_phrases() -> frozenset[str]:
    """English phrases (two words or more) in string literals of the app's code, placeholders cut out."""
    phrases: set[str] = set()
    for folder in ("components", "embedlab"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                          if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
                          and n.body and isinstance(n.body[0], ast.Expr)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                    for piece in _PIECE.split(node.value):
                        phrases.update(m.group(0) for m in WORDS.finditer(piece))
    return frozenset(p for p in phrases if len(p) >= 8)


@functools.cache
def data_phrases() -> frozenset[str]:
    """English phrases that are data, shown as written in both languages: the presets' task texts
    (what the model receives), the bundled sample sets' names and the sample corpus' topic labels."""
    texts = [*(p.task for p in PRESETS), *(s.name for s in sample_sets().values()),
             *set(sample_corpus().labels or ())]
    return frozenset(m.group(0) for text in texts for m in WORDS.finditer(text))


def _strings(proto) -> Iterator[str]:
    for field, value in proto.ListFields():
        if field.type == field.TYPE_STRING:
            yield from (value if field.is_repeated else [value])
        elif field.type == field.TYPE_MESSAGE:
            for item in value if field.is_repeated else [value]:
                yield from _strings(item)


def drawn_texts(at) -> list[str]:
    """Every string an AppTest run drew: labels, help, placeholders, bodies, options, values."""
    texts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            texts.extend(s for s in _strings(proto) if s)
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return texts


def untranslated(at, allowed: frozenset[str] = frozenset()) -> dict[str, str]:
    """English code phrases visible in `at` (drawn in Chinese), other than data shown as written
    (`data_phrases`) and `allowed`: phrase -> the text it was seen in."""
    found: dict[str, str] = {}
    phrases = code_phrases() - data_phrases() - allowed
    for text in drawn_texts(at):
        for match in WORDS.finditer(_TAG.sub(" ", text)):
            phrase = match.group(0)
            if phrase in phrases and phrase not in found:
                found[phrase] = text[:120]
    return found
