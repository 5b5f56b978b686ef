"""Retrieval over the store: one question through the collection's instruction, the embedder,
the vector search, the no-instruction comparison and an optional rerank; and the tables the
Search page shows from the outcome.

Also the one-sentence verdicts on the with/without-instruction comparison: from the numbers of the
query (how much the ranking changes, never which is better); the verdict from relevance judgments
is in embedlab.judged_search.

Everything here takes its embedder, VectorStore and RerankClient as arguments: no Streamlit, no globals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from embedlab.backends import Embedder, ProgressCallback
from embedlab.fusion import DEFAULT_ALPHA, FUSION_DEPTH, FusedHit, candidates, fuse
from embedlab.instructions import format_query
from embedlab.keyword import DEFAULT_CACHE, BM25Index, IndexCache
from embedlab.messages import N_, InputError, Message
from embedlab.rerank import RerankClient, RerankedHit, RerankError, apply_rerank, move_label
from embedlab.stores.base import CollectionInfo, CollectionSpec, Hit, StoreError, VectorStore, model_name
from embedlab.text import one_line

if TYPE_CHECKING:  # judged_search imports this module (and the judgments package, which does too)
    from embedlab.judged_search import JudgedComparison

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
    rerank_error: Message | None = None  # translated where shown
    fetched: int = 0
    timings_ms: dict[str, float | None] = field(default_factory=dict)
    embed_cached: bool = False  # every text came from the embedder's cache (nothing sent)
    threshold_applies: bool = False  # the collection's threshold is calibrated or set by hand
    judged: JudgedComparison | None = None  # with/without over the judged queries (compare mode)

    @property
    def shown_threshold(self) -> float | None:
        """The threshold results are marked against; None while the collection is uncalibrated."""
        return self.threshold if self.threshold_applies else None

    @property
    def below_threshold(self) -> int:
        """How many of `hits` are under the collection's threshold (0 while it is uncalibrated)."""
        if not self.threshold_applies:
            return 0
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
    store: VectorStore,
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
        threshold_applies=spec.threshold_applies,
    )
    if reranker is not None and hits:
        t2 = time.perf_counter()
        try:
            # The reranker reads the bare question: the instruction is for the embedding model.
            scores = reranker.rerank(query, [h.text for h in hits], top_n=k)
            outcome.reranked = apply_rerank(hits, scores, k)
        except RerankError as exc:
            outcome.rerank_error = exc.message
        outcome.timings_ms["rerank"] = (time.perf_counter() - t2) * 1000
    return outcome


# -- tables ------------------------------------------------------------------------------------
def collections_table(infos: Sequence[CollectionInfo], model_id: str, dim: int | None) -> pd.DataFrame:
    """One row per collection: chunks, model, dimension, instruction, threshold (None while
    uncalibrated), where the threshold came from (a stores.base threshold source: "" uncalibrated,
    "evaluate", "manual"), description and whether the current model (`model_id`, `dim`; None =
    unknown) can use it (a Message: str() is English, the page translates it)."""
    rows = []
    for info in infos:
        spec = info.spec
        if spec is None:
            usable = Message(N_("no: not made by this playground"))
        elif dim is None:
            usable = Message("?")
        elif spec.mismatch(model_id, dim) is None:
            usable = Message(N_("yes"))
        else:
            usable = Message(N_("no: {model} / {dim} d"), {"model": model_name(spec.model_id), "dim": spec.dim})
        rows.append({
            "collection": info.name,
            "chunks": info.count,
            "model": model_name(spec.model_id) if spec else "",
            "dimension": spec.dim if spec else None,
            "instruction": (spec.instruction_name or "(none)") if spec else "",
            "threshold": spec.threshold if spec and spec.threshold_applies else None,
            "threshold from": spec.threshold_source if spec else "",
            "description": spec.description if spec else "",
            "usable now": usable,
        })
    return pd.DataFrame(rows)


def _above(similarity: float, threshold: float | None) -> dict[str, str]:
    """The "above threshold" cell ("yes"/"no"); no column at all while the threshold is uncalibrated."""
    return {} if threshold is None else {"above threshold": "yes" if similarity >= threshold else "no"}


def hits_table(hits: Sequence[Hit], threshold: float | None) -> pd.DataFrame:
    """Rank, similarity, above threshold ("yes"/"no"; left out when `threshold` is None), source,
    chunk index and text of each hit."""
    return pd.DataFrame([{
        "rank": h.rank,
        "similarity": round(h.similarity, 4),
        **_above(h.similarity, threshold),
        "source": h.source,
        "chunk": h.metadata.get("chunk"),
        "text": one_line(h.text, TEXT_CHARS),
    } for h in hits])


def rerank_table(reranked: Sequence[RerankedHit], threshold: float | None) -> pd.DataFrame:
    """The reranked top k: new rank, embedding rank, move ("↑2"), both scores, above threshold
    (left out when `threshold` is None), source, text."""
    return pd.DataFrame([{
        "rank": r.rank,
        "embedding rank": r.embedding_rank,
        "move": move_label(r.move),
        "rerank score": round(r.score, 4),
        "similarity": round(r.hit.similarity, 4),
        **_above(r.hit.similarity, threshold),
        "source": r.hit.source,
        "text": one_line(r.hit.text, TEXT_CHARS),
    } for r in reranked])


def comparison_tables(outcome: QueryOutcome) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(with the instruction + "rank without", without it + "rank with") for a compare-mode
    outcome; a rank is None where the chunk is not in the other top k."""
    plain = outcome.plain_hits or []
    without = {h.id: h.rank for h in plain}
    with_ = {h.id: h.rank for h in outcome.hits}
    left = hits_table(outcome.hits, outcome.shown_threshold)
    left["rank without"] = [without.get(h.id) for h in outcome.hits]
    right = hits_table(plain, outcome.shown_threshold)
    right["rank with"] = [with_.get(h.id) for h in plain]
    return left, right


def instruction_moves(outcome: QueryOutcome) -> list[tuple[str, int | None, int | None]]:
    """(short text, rank without the instruction, rank with it) for every chunk in either top k."""
    without = {h.id: h.rank for h in outcome.plain_hits or []}
    with_ = {h.id: h.rank for h in outcome.hits}
    union = {h.id: h for h in [*outcome.hits, *(outcome.plain_hits or [])]}
    return [(one_line(h.text, LABEL_WIDTH), without.get(i), with_.get(i)) for i, h in union.items()]


# -- with / without the instruction: verdicts -----------------------------------------------------
@dataclass(frozen=True)
class InstructionShift:
    """How the instruction changes one query's top k (from the numbers only, no relevance).

    new: chunks in the top k with the instruction that are not in the top k without it;
    moved: chunks in both whose rank differs; same_first: the first result is the same chunk;
    mean_with, mean_without: mean similarity of each top k (cosine, each with its own query vector).
    """

    k: int
    new: int
    moved: int
    same_first: bool
    mean_with: float
    mean_without: float

    @property
    def shift(self) -> float:
        return self.mean_with - self.mean_without


def instruction_shift(outcome: QueryOutcome) -> InstructionShift | None:
    """The shift of a compare-mode outcome; None without a comparison or without results."""
    plain = outcome.plain_hits
    if plain is None or not outcome.hits or not plain:
        return None
    without = {h.id: h.rank for h in plain}
    new = sum(h.id not in without for h in outcome.hits)
    moved = sum(h.id in without and without[h.id] != h.rank for h in outcome.hits)
    return InstructionShift(
        k=len(outcome.hits), new=new, moved=moved, same_first=outcome.hits[0].id == plain[0].id,
        mean_with=float(np.mean([h.similarity for h in outcome.hits])),
        mean_without=float(np.mean([h.similarity for h in plain])),
    )


def shift_sentence(shift: InstructionShift) -> Message:
    """One sentence saying what the numbers show, never which ranking is better (no relevance known)."""
    params = {"k": shift.k, "new": shift.new, "moved": shift.moved, "shift": shift.shift,
              "mean_with": shift.mean_with, "mean_without": shift.mean_without}
    if shift.new == 0 and shift.moved == 0:
        return Message(N_("The instruction leaves the top {k} as it is (same results in the same order) and shifts "
                          "the mean similarity by {shift:+.3f} ({mean_with:.3f} with, {mean_without:.3f} without); "
                          "without relevance judgments the numbers cannot say which ranking is better."), params)
    if shift.same_first:
        return Message(N_("With the instruction, {new} of the top {k} results are new and {moved} of the others "
                          "change rank, the first result stays the same, and the mean similarity shifts by "
                          "{shift:+.3f} ({mean_with:.3f} with, {mean_without:.3f} without); without relevance "
                          "judgments this says how much the ranking changes, not which one is better."), params)
    return Message(N_("With the instruction, {new} of the top {k} results are new and {moved} of the others change "
                      "rank, the first result changes, and the mean similarity shifts by {shift:+.3f} "
                      "({mean_with:.3f} with, {mean_without:.3f} without); without relevance judgments this says "
                      "how much the ranking changes, not which one is better."), params)


def rerank_moves(reranked: Sequence[RerankedHit]) -> list[tuple[str, int, int]]:
    """(short text, embedding rank, rerank rank) of each reranked hit."""
    return [(one_line(r.hit.text, LABEL_WIDTH), r.embedding_rank, r.rank) for r in reranked]


def bar_labels(hits: Sequence[Hit]) -> list[str]:
    """"#1 leave.md" per hit, for the similarity bars."""
    return [f"#{h.rank} {h.source}" for h in hits]


# -- keyword and hybrid search -------------------------------------------------------------------
@dataclass(frozen=True)
class ModeHit(FusedHit):
    """One chunk in a dense, BM25 or hybrid list, with where it came from (see FusedHit: `rank`
    and `score` are those of its own list; for dense, cosine similarity; for bm25, BM25)."""

    id: str = ""
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", ""))


@dataclass(frozen=True)
class ChunkIndex:
    """A collection's chunks ready for keyword and exact dense search.

    vectors: float32 (n_chunks, dim), rows L2-normalised (the stored embeddings); bm25 over texts.
    """

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    metadatas: tuple[dict[str, Any], ...]
    vectors: np.ndarray
    bm25: BM25Index

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]]) -> ChunkIndex:
        """From VectorStore.get_records(..., include_embeddings=True) rows {id, text, metadata, embedding}."""
        missing = [r["id"] for r in records if r.get("embedding") is None]
        if missing:
            raise ValueError(f"{len(missing)} record(s) without an embedding (e.g. {missing[0]!r}): "
                             "fetch them with include_embeddings=True")
        texts = tuple(r["text"] or "" for r in records)
        vectors = np.asarray([r["embedding"] for r in records], dtype=np.float32).reshape(len(records), -1)
        return cls(tuple(r["id"] for r in records), texts, tuple(dict(r.get("metadata") or {}) for r in records),
                   vectors, BM25Index(texts))


def chunk_index(name: str, records: Sequence[dict[str, Any]], cache: IndexCache = DEFAULT_CACHE) -> ChunkIndex:
    """The ChunkIndex of `records`, built once per collection content (LRU keyed by `name` and a
    fingerprint of the ids and texts; embeddings follow their text for a given collection's model)."""
    key = [*(r["id"] for r in records), "\x00", *(r["text"] or "" for r in records)]
    return cache.get(f"collection:{name}", key, lambda: ChunkIndex.from_records(records))


@dataclass
class ModeLists:
    """The dense, BM25 and hybrid top k of one query over one collection.

    method: the fusion of `hybrid` ("rrf" or "weighted"); timings_ms: "dense", "bm25" and "fusion"
    (and "read", "index" from hybrid_search).
    A query sharing no term with the chunks gives an empty `bm25` list and a dense-only hybrid.
    """

    query: str
    method: str
    dense: list[ModeHit]
    bm25: list[ModeHit]
    hybrid: list[ModeHit]
    chunks: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    index_built: bool = False  # this query built the collection's index (first query on this content)


def mode_lists(index: ChunkIndex, query_vector: np.ndarray, query_text: str, k: int, *,
               method: str = "rrf", alpha: float = DEFAULT_ALPHA, depth: int = FUSION_DEPTH) -> ModeLists:
    """Dense (exact cosine over the stored vectors), BM25 and hybrid lists of the top `k` chunks.

    Args:
        query_vector: (dim,) float32, L2-normalised: the query as the collection's instruction
            formats it. query_text: the bare question (BM25 reads it without the instruction).
        depth: candidates taken from each list before fusing (fusion.FUSION_DEPTH).
    Raises:
        ValueError: the vector's size differs from the stored vectors', or an unknown method.
    """
    vec = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    if index.vectors.shape[0] and vec.shape[0] != index.vectors.shape[1]:
        raise InputError(N_("The query vector has {query} dimensions, the collection {stored}."),
                         query=vec.shape[0], stored=index.vectors.shape[1])
    t0 = time.perf_counter()
    dense = candidates(index.vectors @ vec, max(depth, k))
    t1 = time.perf_counter()
    bm25 = candidates(index.bm25.scores(query_text), max(depth, k), positive_only=True)
    t2 = time.perf_counter()
    fused = fuse(method, dense[:depth], bm25[:depth], alpha=alpha, limit=k)
    t3 = time.perf_counter()
    d_pos = {i: (r, s) for r, (i, s) in enumerate(dense[:depth], start=1)}
    b_pos = {i: (r, s) for r, (i, s) in enumerate(bm25[:depth], start=1)}

    def hit(i: int, rank: int, score: float) -> ModeHit:
        dr, ds = d_pos.get(i, (None, None))
        br, bs = b_pos.get(i, (None, None))
        return ModeHit(i, rank, score, dr, br, ds, bs, index.ids[i], index.texts[i], index.metadatas[i])

    return ModeLists(
        query_text, method,
        [hit(i, r, s) for r, (i, s) in enumerate(dense[:k], start=1)],
        [hit(i, r, s) for r, (i, s) in enumerate(bm25[:k], start=1)],
        [hit(h.index, h.rank, h.score) for h in fused],
        len(index.ids),
        {"dense": (t1 - t0) * 1000, "bm25": (t2 - t1) * 1000, "fusion": (t3 - t2) * 1000},
    )


StageProgress = Callable[[str, int, int], None]  # (what is being done, step done, steps)


@dataclass(frozen=True)
class IndexLoad:
    """A collection's ChunkIndex and what getting it cost: `built` is True when this call read the
    vectors and built the BM25 index (new content); read_ms: reading the content version (for an
    unversioned collection: ids, texts and metadata); build_ms: reading the vectors and indexing (0 when the cached index was reused)."""

    index: ChunkIndex
    built: bool
    read_ms: float
    build_ms: float


def collection_index(store: VectorStore, name: str, sources: Sequence[str] = (), *, cache: IndexCache = DEFAULT_CACHE,
                     progress: StageProgress | None = None) -> IndexLoad:
    """The ChunkIndex of a collection's chunks (those of `sources`, all when empty), built once per content.

    The cache key is the collection's content version (`VectorStore.content_version`, a new token
    after every write from any process), read before anything else: a later query on unchanged
    content reads only that (about a millisecond, see bench/hybrid_reads.py). A collection without
    a version (written only by an older version of the app) is keyed by its ids, texts and metadata,
    read on every call. A new content reads the vectors and builds the index; `progress(stage,
    done, 2)` reports those two steps.

    Raises:
        StoreError: the collection cannot be read, or (unversioned) it changed between the two reads.
    """
    where = source_filter(sources)
    t0 = time.perf_counter()
    version = store.content_version(name)
    records = None if version is not None else store.get_records(name, where=where)
    t1 = time.perf_counter()
    # A version covers every write; the fingerprint of an unversioned collection covers texts and
    # metadata too, since an imported export keeps its own ids and an edited record may reuse one.
    key = ["content version", version] if records is None else [
        *(r["id"] for r in records), "\x00", *(r["text"] or "" for r in records), "\x00",
        *(json.dumps(r["metadata"], sort_keys=True, default=str) for r in records)]

    def build() -> ChunkIndex:
        if progress:
            progress("Reading the chunks and their vectors", 0, 2)
        stored = store.read_vectors(name, where=where)
        if records is not None and dict(zip(stored.ids, stored.texts, strict=True)) != {
                r["id"]: r["text"] or "" for r in records}:
            raise StoreError(N_("{name} changed while it was read; search again."), name=repr(name))
        if progress:
            progress(f"Building the BM25 index of {len(stored):,} chunks", 1, 2)
        index = ChunkIndex(tuple(stored.ids), tuple(stored.texts), tuple(stored.metadatas), stored.vectors,
                           BM25Index(stored.texts))
        if progress:
            progress("Index ready", 2, 2)
        return index

    builds = cache.builds
    index = cache.get(f"collection:{name}|{','.join(sorted(sources))}", key, build)
    t2 = time.perf_counter()
    built = cache.builds > builds
    return IndexLoad(index, built, (t1 - t0) * 1000, (t2 - t1) * 1000 if built else 0.0)


def hybrid_search(store: VectorStore, spec: CollectionSpec, model_id: str, query_vector: np.ndarray, query_text: str,
                  k: int, *, sources: Sequence[str] = (), method: str = "rrf", alpha: float = DEFAULT_ALPHA,
                  depth: int = FUSION_DEPTH, cache: IndexCache = DEFAULT_CACHE,
                  progress: StageProgress | None = None) -> ModeLists:
    """`mode_lists` over the collection `spec` (its chunks of `sources`, all when empty).

    The chunks come from `collection_index`: their vectors are read and indexed once per content,
    later queries read only its content version. timings_ms gets "read" and "index" (0 on reuse).
    Raises:
        StoreError: the collection cannot be read, or it was built by another model / size.
    """
    store.check(spec.name, model_id, int(np.asarray(query_vector).size))
    load = collection_index(store, spec.name, sources, cache=cache, progress=progress)
    lists = mode_lists(load.index, query_vector, query_text, k, method=method, alpha=alpha, depth=depth)
    lists.timings_ms.update(read=load.read_ms, index=load.build_ms)
    lists.index_built = load.built
    return lists


def mode_table(hits: Sequence[ModeHit]) -> pd.DataFrame:
    """Rank, score, origin, the dense and BM25 ranks, source, chunk index and text of each hit."""
    return pd.DataFrame([{
        "rank": h.rank,
        "score": round(h.score, 4),
        "from": h.origin,
        "dense rank": h.dense_rank,
        "bm25 rank": h.bm25_rank,
        "similarity": None if h.dense_score is None else round(h.dense_score, 4),
        "bm25 score": None if h.bm25_score is None else round(h.bm25_score, 4),
        "source": h.source,
        "chunk": h.metadata.get("chunk"),
        "text": one_line(h.text, TEXT_CHARS),
    } for h in hits])


def mode_lists_table(lists: ModeLists) -> pd.DataFrame:
    """The dense, BM25 and hybrid lists in one table (for export): a "list" column ("dense",
    "bm25", "hybrid <method>") before the columns of `mode_table`."""
    frames = [mode_table(hits).assign(list=name) for name, hits in
              (("dense", lists.dense), ("bm25", lists.bm25), (f"hybrid {lists.method}", lists.hybrid)) if hits]
    if not frames:
        return pd.DataFrame(columns=["list", "rank", "score", "from", "dense rank", "bm25 rank", "similarity",
                                     "bm25 score", "source", "chunk", "text"])
    table = pd.concat(frames, ignore_index=True)
    return table[["list", *[c for c in table.columns if c != "list"]]]
