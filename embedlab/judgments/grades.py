"""Whose grades count (people by their median, the LLM judge, or one rater) and what a rater
judges next."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from embedlab.judgments.base import LLM, PERSON
from embedlab.judgments.pools import PoolItem
from embedlab.judgments.store import Judgment

PEOPLE = "people"  # grade source: every person's grade, combined by the median (ties rounded down)
LLM_SOURCE = "llm"  # grade source: the LLM judge's grades


def raters(judgments: Sequence[Judgment]) -> dict[str, str]:
    """Rater name -> kind, in order of first judgment."""
    out: dict[str, str] = {}
    for j in judgments:
        out.setdefault(j.rater, j.kind)
    return out


def select_grades(judgments: Sequence[Judgment], source: str = PEOPLE) -> dict[tuple[str, str], int]:
    """(query, chunk) -> the grade results are computed from.

    source: PEOPLE (every person's current grade; several people's grades of a pair are combined
    by their median, rounded down between two middle values), LLM_SOURCE (the LLM judge's), or a
    rater's name (that rater only).
    """
    per_pair: dict[tuple[str, str], list[int]] = {}
    for j in judgments:
        if (source == PEOPLE and j.kind == PERSON) or (source == LLM_SOURCE and j.kind == LLM) or j.rater == source:
            per_pair.setdefault((j.query, j.chunk), []).append(j.grade)
    return {pair: int(statistics.median_low(grades)) for pair, grades in per_pair.items()}


def judged_by(judgments: Sequence[Judgment], rater: str) -> set[tuple[str, str]]:
    """The (query, chunk) pairs `rater` has a current grade for."""
    return {(j.query, j.chunk) for j in judgments if j.rater == rater}


def next_item(pool: Sequence[PoolItem], done: set[tuple[str, str]], skipped: Sequence[tuple[str, str]] = ()
              ) -> PoolItem | None:
    """The first pooled chunk (query order, then blind order) not judged and not skipped; None when
    every one is judged or skipped."""
    skip = set(skipped)
    for item in pool:
        pair = (item.query, item.chunk)
        if pair not in done and pair not in skip:
            return item
    return None
