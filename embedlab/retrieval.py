"""Retrieval over the store: one question through the collection's instruction, the embedder,
the vector search, the no-instruction comparison and an optional rerank; and the tables the
Search page shows from the outcome.

Everything here takes its embedder, Store and RerankClient as arguments: no Streamlit, no globals.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from embedlab.backends import Embedder, ProgressCallback
from embedlab.instructions import format_query
from embedlab.rerank import RerankClient, RerankedHit, RerankError, apply_rerank, move_label
from embedlab.store import CollectionInfo, CollectionSpec, Hit, Store, model_name
from embedlab.text import one_line

TEXT_CHARS = 160  # chunk text in result tables, on one line
LABEL_WIDTH = 60  # chunk text in rank-move labels


@dataclass
class QueryOutcome:
    """Everything one query produced, kept by the page so that reruns redraw without recomputing.

    `hits` are the top k by embedding (best first); with a reranker, `fetched` candidates were
    searched and `reranked` holds the reranker's top k (or `rerank_error` says why not).
    `timings_ms` has "embed", "search" and "rerank" (None when no rerank was asked for).
    """

    collection: str
    query: str
    sent: str  # the exact text embedded for the query
    threshold: float
    instruction_name: str
    hits: list[Hit]
    plain_hits: list[Hit] | None = None  # the same query without instruction (compare mode)
    reranked: list[RerankedHit] | None = None
    rerank_error: str | None = None
    fetched: int = 0
    timings_ms: dict[str, float | None] = field(default_factory=dict)
    embed_cached: bool = False  # every text came from the embedder's cache (nothing sent)

    @property
    def below_threshold(self) -> int:
        """How many of `hits` are under the collection's threshold."""
        return sum(h.similarity < self.threshold for h in self.hits)


def source_filter(sources: Sequence[str]) -> dict[str, Any] | None:
    """Chroma `where` clause keeping chunks of the given sources; None (no filter) when empty."""
    if not sources:
        return None
    return {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}


def _cache_misses(embedder: Embedder) -> int | None:
    # A CachedEmbedder counts its cache misses; a bare embedder has no cache to answer from.
    cache = getattr(embedder, "cache", None)
    return getattr(cache, "misses", None)


def run_query(
    store: Store,
    spec: CollectionSpec,
    embedder: Embedder,
    query: str,
    k: int,
    *,
    sources: Sequence[str] = (),
    compare: bool = False,
    reranker: RerankClient | None = None,
    fetch_n: int = 50,
    progress: ProgressCallback | None = None,
) -> QueryOutcome:
    """Answer `query` from the collection `spec`.

    The query is formatted with the collection's instruction and embedded (with `compare`, the
    bare query too, in the same call); the store is searched for the top `k` (top
    max(k, `fetch_n`) candidates when a `reranker` is given, which then picks the top `k`).

    Raises:
        EmbeddingError: the query could not be embedded.
        StoreError: the search failed (model mismatch, missing collection, store down).
    A failing reranker does not raise: its message is kept in `rerank_error`.
    """
    sent = format_query(spec.instruction, query)
    texts = [sent, query] if compare and sent != query else [sent]
    misses = _cache_misses(embedder)
    t0 = time.perf_counter()
    vectors = embedder.embed(texts, progress=progress)  # (len(texts), dim)
    embed_ms = (time.perf_counter() - t0) * 1000
    where = source_filter(sources)
    n = max(k, fetch_n) if reranker is not None else k
    t1 = time.perf_counter()
    hits = store.search(spec.name, embedder.model_id, vectors[0], n, where)
    plain = None
    if compare:  # without an instruction (sent == query) both rankings are the same
        plain = hits[:k] if len(texts) == 1 else store.search(spec.name, embedder.model_id, vectors[1], k, where)
    search_ms = (time.perf_counter() - t1) * 1000
    outcome = QueryOutcome(
        spec.name, query, sent, spec.threshold, spec.instruction_name, hits[:k], plain,
        fetched=len(hits), embed_cached=misses is not None and _cache_misses(embedder) == misses,
        timings_ms={"embed": embed_ms, "search": search_ms, "rerank": None},
    )
    if reranker is not None and hits:
        t2 = time.perf_counter()
        try:
            # The reranker reads the bare question: the instruction is for the embedding model.
            scores = reranker.rerank(query, [h.text for h in hits], top_n=k)
            outcome.reranked = apply_rerank(hits, scores, k)
        except RerankError as exc:
            outcome.rerank_error = str(exc)
        outcome.timings_ms["rerank"] = (time.perf_counter() - t2) * 1000
    return outcome


# -- tables ------------------------------------------------------------------------------------
def collections_table(infos: Sequence[CollectionInfo], model_id: str, dim: int | None) -> pd.DataFrame:
    """One row per collection: chunks, model, dimension, instruction, threshold, description and
    whether the current model (`model_id`, `dim`; None = unknown) can use it."""
    rows = []
    for info in infos:
        spec = info.spec
        if spec is None:
            usable = "no: not made by this playground"
        elif dim is None:
            usable = "?"
        else:
            usable = "yes" if spec.mismatch(model_id, dim) is None else f"no: {model_name(spec.model_id)} / {spec.dim} d"
        rows.append({
            "collection": info.name,
            "chunks": info.count,
            "model": model_name(spec.model_id) if spec else "",
            "dimension": spec.dim if spec else None,
            "instruction": (spec.instruction_name or "(none)") if spec else "",
            "threshold": spec.threshold if spec else None,
            "description": spec.description if spec else "",
            "usable now": usable,
        })
    return pd.DataFrame(rows)


def _above(similarity: float, threshold: float) -> str:
    return "yes" if similarity >= threshold else "no"


def hits_table(hits: Sequence[Hit], threshold: float) -> pd.DataFrame:
    """Rank, similarity, above threshold ("yes"/"no"), source, chunk index and text of each hit."""
    return pd.DataFrame([{
        "rank": h.rank,
        "similarity": round(h.similarity, 4),
        "above threshold": _above(h.similarity, threshold),
        "source": h.source,
        "chunk": h.metadata.get("chunk"),
        "text": one_line(h.text, TEXT_CHARS),
    } for h in hits])


def rerank_table(reranked: Sequence[RerankedHit], threshold: float) -> pd.DataFrame:
    """The reranked top k: new rank, embedding rank, move ("↑2"), both scores, source, text."""
    return pd.DataFrame([{
        "rank": r.rank,
        "embedding rank": r.embedding_rank,
        "move": move_label(r.move),
        "rerank score": round(r.score, 4),
        "similarity": round(r.hit.similarity, 4),
        "above threshold": _above(r.hit.similarity, threshold),
        "source": r.hit.source,
        "text": one_line(r.hit.text, TEXT_CHARS),
    } for r in reranked])


def comparison_tables(outcome: QueryOutcome) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(with the instruction + "rank without", without it + "rank with") for a compare-mode
    outcome; a rank is None where the chunk is not in the other top k."""
    plain = outcome.plain_hits or []
    without = {h.id: h.rank for h in plain}
    with_ = {h.id: h.rank for h in outcome.hits}
    left = hits_table(outcome.hits, outcome.threshold)
    left["rank without"] = [without.get(h.id) for h in outcome.hits]
    right = hits_table(plain, outcome.threshold)
    right["rank with"] = [with_.get(h.id) for h in plain]
    return left, right


def instruction_moves(outcome: QueryOutcome) -> list[tuple[str, int | None, int | None]]:
    """(short text, rank without the instruction, rank with it) for every chunk in either top k."""
    without = {h.id: h.rank for h in outcome.plain_hits or []}
    with_ = {h.id: h.rank for h in outcome.hits}
    union = {h.id: h for h in [*outcome.hits, *(outcome.plain_hits or [])]}
    return [(one_line(h.text, LABEL_WIDTH), without.get(i), with_.get(i)) for i, h in union.items()]


def rerank_moves(reranked: Sequence[RerankedHit]) -> list[tuple[str, int, int]]:
    """(short text, embedding rank, rerank rank) of each reranked hit."""
    return [(one_line(r.hit.text, LABEL_WIDTH), r.embedding_rank, r.rank) for r in reranked]


def bar_labels(hits: Sequence[Hit]) -> list[str]:
    """"#1 leave.md" per hit, for the similarity bars."""
    return [f"#{h.rank} {h.source}" for h in hits]


def hit_label(hit: Hit) -> str:
    """One line naming a hit in a picker: rank, source, chunk index and similarity."""
    return f"#{hit.rank} · {hit.source} · chunk {hit.metadata.get('chunk')} · {hit.similarity:.3f}"
