"""A question's retrieval drawn over a map of its collection: which mapped texts its dense, BM25
and hybrid top k are, whether each is relevant (from a labelled set the collection holds, or from
the Judge page's judgments) and a sentence counting the relevant ones each mode finds.

The retrieval itself is embedlab.retrieval's (`hybrid_search` gives the three lists); this module
only relates its hits to the rows of a map and to what is known about their relevance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from embedlab.evaluation.datasets import LabelledSet
from embedlab.judgments import chunk_key
from embedlab.messages import N_, Message
from embedlab.retrieval import TEXT_CHARS, ModeHit, ModeLists
from embedlab.text import one_line

MODES = ("dense", "bm25", "hybrid")  # the lists of a ModeLists, in the order they are drawn and told

# Where a query's relevance comes from.
FROM_SET, FROM_JUDGMENTS, UNKNOWN = "labelled set", "judgments", "none"
RELEVANT_VALUES = ("yes", "no", "unknown")  # the table's "relevant" cells (English; the page translates them)


@dataclass(frozen=True)
class Relevance:
    """What is known about which chunks answer one query.

    kind: FROM_SET, FROM_JUDGMENTS or UNKNOWN. by_source: document id -> grade, for every document
    of the labelled set (a chunk is graded by its metadata "source"; a chunk of another source is
    unknown). by_chunk: judgments.chunk_key of a chunk's text -> grade (chunks not judged are
    unknown). A grade >= 1 is relevant. total: how many chunks of the collection are known to be
    relevant (None when nothing is known).
    """

    kind: str = UNKNOWN
    by_source: Mapping[str, int] = field(default_factory=dict)
    by_chunk: Mapping[str, int] = field(default_factory=dict)
    total: int | None = None

    @property
    def known(self) -> bool:
        return self.kind != UNKNOWN

    def of(self, hit: ModeHit) -> bool | None:
        """True (relevant), False (not relevant) or None (not known) for one hit."""
        if self.kind == FROM_SET:
            grade = self.by_source.get(hit.source)
        elif self.kind == FROM_JUDGMENTS:
            grade = self.by_chunk.get(chunk_key(hit.text))
        else:
            return None
        return None if grade is None else grade >= 1


NO_RELEVANCE = Relevance()


def set_query(dataset: LabelledSet, question: str) -> int | None:
    """The index of the labelled set's query whose text is `question` (blanks ignored at both ends), or None."""
    wanted = question.strip()
    return next((i for i, q in enumerate(dataset.queries) if q.text.strip() == wanted), None)


def set_relevance(dataset: LabelledSet, query_index: int, sources: Sequence[str]) -> Relevance:
    """The relevance of the set's query `query_index` over a collection holding the set's documents.

    Args:
        sources: the metadata "source" of every chunk of the collection (n_chunks,); the chunks of a
            relevant document all count as relevant (the set grades documents, not chunks).
    """
    query = dataset.queries[query_index]
    grades = {d.id: int(query.relevant.get(d.id, 0)) for d in dataset.documents}
    total = sum(grades.get(s, 0) >= 1 for s in sources)
    return Relevance(FROM_SET, by_source=grades, total=total)


def judged_relevance(grades: Mapping[tuple[str, str], int], question: str) -> Relevance:
    """The relevance of `question` from judgments (query text, chunk key) -> grade 0-2, as
    judgments.select_grades gives them for one collection; NO_RELEVANCE when none of them is of
    this question (the query text must match exactly, blanks at both ends ignored)."""
    wanted = question.strip()
    by_chunk = {chunk: grade for (query, chunk), grade in grades.items() if query.strip() == wanted}
    if not by_chunk:
        return NO_RELEVANCE
    return Relevance(FROM_JUDGMENTS, by_chunk=by_chunk, total=sum(g >= 1 for g in by_chunk.values()))


def hit_rows(map_ids: Sequence[str], hits: Sequence[ModeHit]) -> np.ndarray:
    """int (len(hits),): the row of each hit on a map whose row i shows chunk map_ids[i]; -1 for
    a hit the map does not show (an empty chunk or one beyond the map's cap)."""
    return _rows({chunk: i for i, chunk in enumerate(map_ids)}, hits)


def _rows(row_of: Mapping[str, int], hits: Sequence[ModeHit]) -> np.ndarray:
    """int (len(hits),): row_of[hit id] per hit, -1 when absent."""
    return np.asarray([row_of.get(h.id, -1) for h in hits], dtype=np.int64)


@dataclass(frozen=True)
class ModeOverlay:
    """One retrieval mode's top k on a map.

    rows: int (k,), the map row of each hit in rank order (-1: not on the map);
    relevant: (k,) True / False / None (not known) per hit; ranks: (k,) 1-based.
    """

    mode: str
    hits: list[ModeHit]
    rows: np.ndarray
    relevant: list[bool | None]

    @property
    def ranks(self) -> list[int]:
        return [h.rank for h in self.hits]

    @property
    def found(self) -> int:
        """Hits known to be relevant."""
        return sum(r is True for r in self.relevant)

    @property
    def unknown(self) -> int:
        """Hits whose relevance is not known."""
        return sum(r is None for r in self.relevant)


@dataclass(frozen=True)
class QueryOverlay:
    """A question's three lists related to a map and to what is known about relevance."""

    query: str
    k: int
    relevance: Relevance
    modes: dict[str, ModeOverlay]  # keyed by MODES

    def table(self, mode: str) -> pd.DataFrame:
        """Columns rank, text (one line), score, relevant ("yes" / "no" / "unknown"), source, on map
        (bool) for one mode's hits; English column names and values (the page translates them)."""
        m = self.modes[mode]
        return pd.DataFrame({
            "rank": m.ranks,
            "text": [one_line(h.text, TEXT_CHARS) for h in m.hits],
            "score": [round(h.score, 4) for h in m.hits],
            "relevant": [relevant_value(r) for r in m.relevant],
            "source": [h.source for h in m.hits],
            "on map": [bool(r >= 0) for r in m.rows.tolist()],
        }, columns=["rank", "text", "score", "relevant", "source", "on map"])

    def export(self) -> pd.DataFrame:
        """Every mode's table in one (a "mode" column first), for the download."""
        frames = [self.table(mode).assign(mode=mode) for mode in MODES]
        table = pd.concat(frames, ignore_index=True)
        return table[["mode", *[c for c in table.columns if c != "mode"]]]

    def summary(self) -> Message:
        """One sentence from the numbers: the relevant chunks each mode finds, or (nothing known)
        how much the lists agree."""
        d, b, h = (self.modes[m] for m in MODES)
        params: dict[str, object] = {"k": self.k, "dense": d.found, "bm25": b.found, "hybrid": h.found,
                                     "total": self.relevance.total or 0}
        if not self.relevance.known:
            dense_ids, bm25_ids = {x.id for x in d.hits}, {x.id for x in b.hits}
            params.update(shared=len(dense_ids & bm25_ids), from_dense=sum(x.id in dense_ids for x in h.hits),
                          from_bm25=sum(x.id in bm25_ids for x in h.hits), n_bm25=len(b.hits))
            return Message(N_("No labelled set or judgment says which chunks answer this question, so the hits are "
                              "coloured by rank only. Dense retrieval and BM25 share {shared} of their top {k} "
                              "(BM25 found {n_bm25} chunks sharing a word with the question); hybrid keeps "
                              "{from_dense} of the dense hits and {from_bm25} of the BM25 hits."), params)
        params["unknown"] = sum(m.unknown for m in (d, b, h))
        if self.relevance.kind == FROM_SET:
            return Message(N_("Of the {total} relevant chunks (those of the documents the labelled set marks "
                              "relevant), dense retrieval finds {dense} in its top {k}, BM25 {bm25} and hybrid "
                              "{hybrid}."), params)
        if params["unknown"]:
            return Message(N_("Of the {total} chunks judged relevant to this question, dense retrieval finds {dense} "
                              "in its top {k}, BM25 {bm25} and hybrid {hybrid}; {unknown} of the hits shown are not "
                              "judged (grey), so these counts are lower bounds."), params)
        return Message(N_("Of the {total} chunks judged relevant to this question, dense retrieval finds {dense} in "
                          "its top {k}, BM25 {bm25} and hybrid {hybrid}; every hit shown is judged."), params)


def relevant_value(relevant: bool | None) -> str:
    """The table cell of a hit's relevance: "yes", "no" or "unknown"."""
    return "unknown" if relevant is None else "yes" if relevant else "no"


def query_overlay(lists: ModeLists, map_ids: Sequence[str], relevance: Relevance, k: int) -> QueryOverlay:
    """The three lists of `lists` (a query's top `k` per mode) placed on a map of `map_ids` (row i
    shows chunk map_ids[i]) and graded by `relevance`."""
    row_of = {chunk: i for i, chunk in enumerate(map_ids)}  # once for the three lists (100,000 ids: ~25 ms)
    modes = {}
    for mode in MODES:
        hits = list(getattr(lists, mode))
        modes[mode] = ModeOverlay(mode, hits, _rows(row_of, hits), [relevance.of(h) for h in hits])
    return QueryOverlay(lists.query, k, relevance, modes)
