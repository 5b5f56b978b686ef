"""TREC qrels and runs, a labelled set in the Evaluate page's format, and qrels read back in."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from embedlab.judgments.base import GRADES, JudgeError, query_id
from embedlab.judgments.configs import config_name
from embedlab.judgments.pools import Experiment
from embedlab.messages import N_
from embedlab.textio import UploadError, decode_bytes


def qrels_lines(experiment: Experiment, grades: Mapping[tuple[str, str], int]) -> list[str]:
    """TREC qrels, "qid 0 docno grade" (docno = chunk key), for every graded pair of the
    experiment's queries, in query order."""
    lines = []
    for query in experiment.queries:
        for (q, chunk), grade in sorted(grades.items()):
            if q == query:
                lines.append(f"{query_id(query)} 0 {chunk} {grade}\n")
    return lines


def run_lines(experiment: Experiment, runs: Sequence[Mapping[str, Sequence[str]]]) -> list[str]:
    """TREC runs of every configuration, "qid Q0 docno rank score tag" (tag = the configuration's
    letter). Scores fall with the rank (k + 1 - rank), so trec_eval keeps each list's order."""
    lines = []
    for c, run in enumerate(runs):
        for query in experiment.queries:
            for rank, chunk in enumerate(run.get(query, []), start=1):
                lines.append(f"{query_id(query)} Q0 {chunk} {rank} {experiment.k + 1 - rank} {config_name(c)}\n")
    return lines


@dataclass(frozen=True)
class LabelledExport:
    """A labelled set in the Evaluate page's format: corpus and queries JSONL text.

    dropped: queries left out because none of their judged chunks is relevant (grade >= 1): the
    Evaluate page needs at least one relevant document per query.
    """

    corpus: str
    queries: str
    documents: int
    query_count: int
    dropped: tuple[str, ...]


def labelled_set(experiment: Experiment, grades: Mapping[tuple[str, str], int],
                 texts: Mapping[str, str]) -> LabelledExport:
    """The judged chunks as a corpus (`{"id": chunk key, "text"}`) and the experiment's queries
    with their graded chunks (`{"id", "text", "relevant": {chunk key: grade}}`).

    Args:
        texts: chunk key -> text (JudgmentStore.chunk_texts).
    Raises:
        JudgeError: a graded chunk's text is unknown.
    """
    per_query: dict[str, dict[str, int]] = {}
    for (query, chunk), grade in grades.items():
        if query in experiment.queries:
            per_query.setdefault(query, {})[chunk] = grade
    used = sorted({c for graded in per_query.values() for c in graded})
    missing = [c for c in used if c not in texts]
    if missing:
        raise JudgeError(N_("{n} judged chunk(s) have no stored text (e.g. {example})."),
                         n=len(missing), example=missing[0])
    corpus = "".join(json.dumps({"id": c, "text": texts[c]}, ensure_ascii=False) + "\n" for c in used)
    lines, dropped = [], []
    for query in experiment.queries:
        graded = per_query.get(query)
        if not graded:
            continue
        if not any(g >= 1 for g in graded.values()):
            dropped.append(query)
            continue
        lines.append(json.dumps({"id": query_id(query), "text": query, "relevant": dict(sorted(graded.items()))},
                                ensure_ascii=False) + "\n")
    return LabelledExport(corpus, "".join(lines), len(used), len(lines), tuple(dropped))


@dataclass(frozen=True)
class QrelsImport:
    """Parsed qrels rows that belong to the experiment, and what was left out."""

    rows: tuple[tuple[str, str, int], ...]  # (query text, chunk key, grade)
    unknown_queries: int
    unknown_chunks: int


def parse_qrels(data: bytes, experiment: Experiment, known_chunks: set[str]) -> QrelsImport:
    """Read TREC qrels ("qid iteration docno grade" per line) for the experiment's queries.

    Query ids are the experiment's `query_id`s; docnos are chunk keys known in the collection
    (pooled in one of its experiments). Lines of other queries or chunks are counted, not imported.
    Raises:
        JudgeError: a malformed line or a grade other than 0, 1, 2 (with its line number).
    """
    try:
        text = decode_bytes(data).text
    except UploadError as exc:
        raise JudgeError(N_("The qrels file cannot be read: {error}"), error=exc.message) from None
    by_id = {query_id(q): q for q in experiment.queries}
    rows: list[tuple[str, str, int]] = []
    unknown_q = unknown_c = 0
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise JudgeError(N_("qrels line {line}: expected 4 fields \"qid 0 docno grade\", found {n}."),
                             line=number, n=len(parts))
        qid, _, docno, raw = parts
        try:
            grade = int(raw)
        except ValueError:
            raise JudgeError(N_("qrels line {line}: the grade {raw} is not a whole number."),
                             line=number, raw=repr(raw)) from None
        if grade not in GRADES:
            raise JudgeError(N_("qrels line {line}: grade {grade}; the Judge page grades 0, 1 or 2."),
                             line=number, grade=grade)
        if qid not in by_id:
            unknown_q += 1
        elif docno not in known_chunks:
            unknown_c += 1
        else:
            rows.append((by_id[qid], docno, grade))
    if not rows and not unknown_q and not unknown_c:
        raise JudgeError(N_("The qrels file holds no lines."))
    return QrelsImport(tuple(rows), unknown_q, unknown_c)
