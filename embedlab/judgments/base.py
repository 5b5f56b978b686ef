"""What every part of the Judge page's logic shares: its error, the grades and kinds of rater,
and the keys that name a chunk and a query in judgments, qrels and labelled sets."""

from __future__ import annotations

import hashlib

from embedlab.messages import N_, LocalizedError

GRADES = (0, 1, 2)
GRADE_LABELS = {0: N_("not relevant"), 1: N_("partly relevant"), 2: N_("relevant")}  # translated where shown
LLM_PREFIX = "LLM judge"  # rater names starting with it are reserved for the LLM judge
PERSON, LLM = "person", "llm"  # judgment kinds


class JudgeError(LocalizedError, ValueError):
    """Bad input for an experiment, a judgment or an import; the message says what to change
    (`error.message` translated by the UI, str(error) English)."""


def chunk_key(text: str) -> str:
    """The chunk's judgment key: a hash of its text (32 hex digits), stable across re-ingestion."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def query_id(query: str) -> str:
    """A stable id for a query text in qrels and labelled sets: "q" + 12 hex digits of its hash."""
    return "q" + hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()[:12]
