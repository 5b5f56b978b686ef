"""Each configuration's top k for every query and the blind pools to judge (TREC pooling): the
side indexes of cut inputs, retrieval as on the Search page, and the seeded blind order."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from embedlab import retrieval
from embedlab.backends import Embedder, normalize_rows
from embedlab.fusion import DEFAULT_ALPHA
from embedlab.instructions import format_query
from embedlab.judgments.base import JudgeError, chunk_key
from embedlab.judgments.configs import JudgeConfig, check_configs, config_name
from embedlab.judgments.queries import clean_queries
from embedlab.keyword import DEFAULT_CACHE, BM25Index, IndexCache
from embedlab.messages import N_, Message
from embedlab.rerank import RerankClient, RerankError
from embedlab.stores.base import CollectionSpec, Hit, VectorStore
from embedlab.tokens import count_tokens, truncate

DEFAULT_K = 5  # the tuning guide's TopK
MAX_K = 20
RERANK_FETCH = 50  # candidates a reranking configuration hands to the reranker
DEDUPE_SLACK = 20  # extra candidates fetched so that equal texts can be dropped and k remain
CONTEXT_CHARS = 400

StageProgress = Callable[[Message, int, int], None]  # (what is being done, done, total)


@dataclass(frozen=True)
class PoolItem:
    """One pooled chunk of one query, as the raters see it (never with its configurations).

    position: its place in the query's blind order (0 first); chunk: chunk_key(text).
    """

    query: str
    chunk: str
    position: int
    chunk_id: str
    source: str
    text: str
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class Experiment:
    """A saved experiment: its configurations, queries (in order) and depth k."""

    id: int
    collection: str
    name: str
    k: int
    configs: tuple[JudgeConfig, ...]
    queries: tuple[str, ...]
    model: str
    created_at: str
    seed: int

    @property
    def title(self) -> str:
        return f"#{self.id} {self.name} · {len(self.queries)} queries · {self.created_at[:16].replace('T', ' ')}"


@dataclass
class PoolBuild:
    """What building the pools produced, before it is saved.

    runs[c][query]: configuration c's top k as (chunk key, score), best first (equal texts once).
    items: the pool, per query in blind order. notes: sentences about the inputs (re-embedded
    chunks, input lengths that change nothing).
    """

    collection: str
    k: int
    configs: list[JudgeConfig]
    queries: list[str]
    model: str
    seed: int
    runs: list[dict[str, list[tuple[str, float]]]]
    items: list[PoolItem]
    notes: list[Message] = field(default_factory=list)


def _stage(progress: StageProgress | None, what: Message) -> Callable[[int, int], None] | None:
    """An embedder's progress(done, total) reported as one stage of `progress`."""
    if progress is None:
        return None
    return lambda done, total: progress(what, done, total)


@dataclass(frozen=True)
class _SideIndex:
    index: retrieval.ChunkIndex
    cut: int  # chunks longer than the input length, embedded from their start


def _side_index(base: retrieval.ChunkIndex, name: str, max_tokens: int | None, embedder: Embedder,
                cache: IndexCache, progress: StageProgress | None) -> _SideIndex:
    """The collection's chunks as embedded from their first `max_tokens` tokens: chunks within the
    length keep their stored vectors, longer ones are embedded cut (through the embedder's cache).
    BM25 indexes the same cut texts. Built once per collection content and length."""
    if max_tokens is None:
        return _SideIndex(base, 0)

    def build() -> _SideIndex:
        long = [i for i, text in enumerate(base.texts) if count_tokens(text) > max_tokens]
        if not long:
            return _SideIndex(base, 0)
        cut = {i: truncate(base.texts[i], max_tokens) for i in long}
        what = Message(N_("Embedding the chunks longer than {tokens} tokens from their start"),
                       {"tokens": f"{max_tokens:,}"})
        vectors = base.vectors.copy()
        vectors[long] = embedder.embed([cut[i] for i in long], progress=_stage(progress, what))  # (len(long), dim)
        texts = tuple(cut.get(i, text) for i, text in enumerate(base.texts))
        return _SideIndex(retrieval.ChunkIndex(base.ids, texts, base.metadatas, vectors, BM25Index(texts)), len(long))

    key = [*base.ids, "\x00", *base.texts]
    return cache.get(f"judge:{name}:{max_tokens}", key, build)


def _ranked(config: JudgeConfig, index: retrieval.ChunkIndex, query: str, vector: np.ndarray | None, k: int,
            reranker: RerankClient | None, full_texts: Sequence[str]) -> list[tuple[int, float]]:
    """(chunk position, score) of the configuration's candidates, best first (before dedupe)."""
    depth = max(RERANK_FETCH, k) if config.rerank else k + DEDUPE_SLACK
    vec = vector if vector is not None else np.zeros(index.vectors.shape[1], dtype=np.float32)
    method = "weighted" if config.mode == "hybrid-weighted" else "rrf"
    lists = retrieval.mode_lists(index, vec, query, depth, method=method, alpha=DEFAULT_ALPHA)
    hits = {"dense": lists.dense, "bm25": lists.bm25}.get(config.mode, lists.hybrid)
    ranked = [(h.index, float(h.score)) for h in hits]
    if not config.rerank or not ranked:
        return ranked
    if reranker is None:
        raise JudgeError(N_("A configuration asks for reranking but no reranker is configured (RERANK_BASE_URL)."))
    # The reranker reads the whole chunk and the bare question, as on the Search page.
    scores = reranker.rerank(query, [full_texts[i] for i, _ in ranked])
    return [(ranked[s.index][0], s.score) for s in scores]


def build_pools(store: VectorStore, spec: CollectionSpec, embedder: Embedder, queries: Sequence[str],
                configs: Sequence[JudgeConfig], k: int = DEFAULT_K, *, reranker: RerankClient | None = None,
                seed: int | None = None, cache: IndexCache = DEFAULT_CACHE,
                progress: StageProgress | None = None) -> PoolBuild:
    """Each configuration's top k for every query, and the pools to judge.

    Retrieval is the Search page's (retrieval.collection_index and mode_lists): exact cosine over
    the stored vectors, BM25 over the same chunk texts, fusion; Matryoshka sizes cut query and
    chunk vectors; input lengths use a side index (see `_side_index`); reranking as in run_query.

    Raises:
        JudgeError: bad queries, configurations or k; an empty collection; a failed rerank.
        StoreError: the collection cannot be read, or was built by another model / size.
        EmbeddingError: queries or cut chunks could not be embedded.
    """
    queries = clean_queries(queries)
    configs = [c.resolved(spec) for c in configs]
    check_configs(configs)
    if not 1 <= int(k) <= MAX_K:
        raise JudgeError(N_("Depth k must be 1 to {limit}, got {k}."), limit=MAX_K, k=k)
    dim = embedder.dim
    store.check(spec.name, embedder.model_id, dim)
    for cfg in configs:
        if cfg.dimensions is not None and cfg.dimensions > dim:
            raise JudgeError(N_("{asked} dimensions asked for, but {name} holds {dim}-d vectors."),
                             asked=cfg.dimensions, name=repr(spec.name), dim=dim)
    base = retrieval.collection_index(store, spec.name, cache=cache, progress=progress).index
    if not base.ids:
        raise JudgeError(N_("{name} is empty: add documents on the Search page first."), name=repr(spec.name))

    query_vectors = _embed_queries(embedder, queries, configs, progress)
    indexes, notes = _config_indexes(base, spec.name, configs, embedder, cache, progress)
    runs, first_seen = _retrieve(configs, indexes, base, queries, query_vectors, k, reranker, progress)
    seed = secrets.randbits(31) if seed is None else int(seed)
    items = _pool_items(store, spec.name, base, queries, runs, first_seen, seed, progress)
    return PoolBuild(spec.name, int(k), configs, queries, embedder.model_id, seed, runs, items, notes)


def _embed_queries(embedder: Embedder, queries: Sequence[str], configs: Sequence[JudgeConfig],
                   progress: StageProgress | None) -> dict[int, np.ndarray]:
    """Config position -> its instructed queries' vectors, (len(queries), dim) at full size, for the
    configurations that use vectors. Every distinct instructed text is embedded once."""
    sent = {i: [format_query(c.instruction, q) for q in queries] for i, c in enumerate(configs) if c.uses_vectors}
    distinct = list(dict.fromkeys(t for texts in sent.values() for t in texts))
    vectors = (embedder.embed(distinct, progress=_stage(progress, Message(N_("Embedding the queries")))) if distinct
               else np.zeros((0, embedder.dim), dtype=np.float32))  # (len(distinct), dim)
    row = {t: r for r, t in enumerate(distinct)}
    return {i: vectors[[row[t] for t in texts]] for i, texts in sent.items()}


def _config_indexes(base: retrieval.ChunkIndex, name: str, configs: Sequence[JudgeConfig], embedder: Embedder,
                    cache: IndexCache, progress: StageProgress | None
                    ) -> tuple[dict[tuple[int | None, int | None], retrieval.ChunkIndex], list[Message]]:
    """(max_tokens, dimensions) -> the chunk index the configurations of that input length and size
    rank, and a note per configuration with an input length (how many chunks it cut)."""
    notes: list[Message] = []
    indexes: dict[tuple[int | None, int | None], retrieval.ChunkIndex] = {}
    for i, cfg in enumerate(configs):
        side = _side_index(base, name, cfg.max_tokens, embedder, cache, progress)
        if cfg.max_tokens is not None:
            params = {"name": config_name(i), "cut": f"{side.cut:,}", "total": f"{len(base.ids):,}",
                      "tokens": f"{cfg.max_tokens:,}"}
            notes.append(Message(N_("{name}: {cut} of {total} chunks are longer than {tokens} tokens and were "
                                    "embedded from their start.") if side.cut else
                                 N_("{name}: {cut} of {total} chunks are longer than {tokens} tokens and were "
                                    "embedded from their start: this input length changes nothing here."), params))
        key = (cfg.max_tokens, cfg.dimensions)
        if key not in indexes:
            index = side.index
            if cfg.dimensions is not None:
                index = replace(index, vectors=normalize_rows(index.vectors, cfg.dimensions))
            indexes[key] = index
    return indexes, notes


def _retrieve(configs: Sequence[JudgeConfig], indexes: dict[tuple[int | None, int | None], retrieval.ChunkIndex],
              base: retrieval.ChunkIndex, queries: Sequence[str], query_vectors: dict[int, np.ndarray], k: int,
              reranker: RerankClient | None, progress: StageProgress | None
              ) -> tuple[list[dict[str, list[tuple[str, float]]]], dict[tuple[str, str], int]]:
    """runs[c][query]: configuration c's top k as (chunk key, score), equal texts once; and
    (query, chunk key) -> the chunk position it was first found at."""
    runs: list[dict[str, list[tuple[str, float]]]] = []
    first_seen: dict[tuple[str, str], int] = {}
    total = len(configs) * len(queries)
    for i, cfg in enumerate(configs):
        index = indexes[(cfg.max_tokens, cfg.dimensions)]
        per_query: dict[str, list[tuple[str, float]]] = {}
        for j, query in enumerate(queries):
            if progress:
                progress(Message(N_("Retrieving: configuration {name}, query {n} of {total}"),
                                 {"name": config_name(i), "n": j + 1, "total": len(queries)}),
                         i * len(queries) + j, total)
            vec = None
            if cfg.uses_vectors:
                vec = normalize_rows(query_vectors[i][[j]], cfg.dimensions)[0]
            try:
                ranked = _ranked(cfg, index, query, vec, k, reranker, base.texts)
            except RerankError as exc:
                raise JudgeError(N_("Reranking failed for configuration {name}: {error}"),
                                 name=config_name(i), error=exc.message) from None
            top: list[tuple[str, float]] = []
            for position, score in ranked:
                key = chunk_key(base.texts[position])
                if any(key == t for t, _ in top):
                    continue  # the same text twice (two sources): judged once, listed once
                top.append((key, score))
                first_seen.setdefault((query, key), position)
                if len(top) == k:
                    break
            per_query[query] = top
        runs.append(per_query)
    return runs, first_seen


def _pool_items(store: VectorStore, name: str, base: retrieval.ChunkIndex, queries: Sequence[str],
                runs: Sequence[dict[str, list[tuple[str, float]]]], first_seen: dict[tuple[str, str], int],
                seed: int, progress: StageProgress | None) -> list[PoolItem]:
    """Every query's pooled chunks (the union of the runs' top k) in a blind order drawn from
    `seed`, each with its context in the store."""
    rng = np.random.default_rng(seed)
    items: list[PoolItem] = []
    pooled = {q: sorted({key for run in runs for key, _ in run[q]}) for q in queries}
    total = sum(len(keys) for keys in pooled.values())
    for query in queries:
        keys = pooled[query]
        order = rng.permutation(len(keys))
        for position, pick in enumerate(order):
            key = keys[int(pick)]
            chunk = first_seen[(query, key)]
            metadata = base.metadatas[chunk]
            hit = Hit(base.ids[chunk], base.texts[chunk], dict(metadata), 0.0, 0)
            context = store.context(name, hit, CONTEXT_CHARS)
            items.append(PoolItem(query, key, position, base.ids[chunk], hit.source, base.texts[chunk],
                                  context.before, context.after))
        if progress:
            progress(Message(N_("Reading each pooled chunk's context")), len(items), total)
    return items
