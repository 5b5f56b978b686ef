"""Pooled, blind relevance judgments of a collection's search results (the Judge page).

An *experiment* compares two to four retrieval configurations (query instruction, document input
length, Matryoshka dimensions, dense / BM25 / hybrid, rerank) on one collection and a list of
queries. For each query, the *pool* is the union of every configuration's top k (TREC pooling);
people rate each pooled chunk 0 (not relevant), 1 (partly) or 2 (relevant) without being told
which configuration found it (a seeded random order per query). The results (embedlab.judge_metrics)
score each configuration from those grades.

Input length: a configuration with `max_tokens` N embeds each chunk of the collection from its
first N tokens (exact Qwen tokenizer) instead of its whole text. Chunks already within N tokens
keep their stored vectors; the longer ones are embedded through the on-disk embedding cache into a
side index kept in memory per collection content. Every configuration therefore ranks the *same*
chunks, and a judgment applies to all of them, which keeps the comparison fair. (To compare chunk
sizes instead, ingest the documents into two collections and run an experiment on each.)

Persistence: one SQLite database (`judgments.sqlite` in the data directory) in WAL mode with a
busy timeout; every change is one transaction, so several sessions and processes can judge at once.
A judgment row is (collection, query text, chunk key, rater, kind, grade, time), where the chunk
key is a hash of the chunk's text: it survives re-ingestion of unchanged chunks. Rows are only
added; a rater's grade for a pair is their latest row, and undo deletes the rater's latest row.
Experiments keep their configurations, queries, pools (chunk text and context as judged) and each
configuration's ranked list (which configuration retrieved which chunk at which rank).

Exports: TREC qrels ("qid 0 docno grade") and runs, and a labelled set (corpus JSONL of the judged
chunks + queries JSONL with graded relevance) in the format the Evaluate page reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import ingest, retrieval
from embedlab.backends import Embedder, normalize_rows
from embedlab.evaluation.datasets import BUNDLED, load_bundled
from embedlab.fusion import DEFAULT_ALPHA
from embedlab.instructions import format_query
from embedlab.keyword import DEFAULT_CACHE, BM25Index, IndexCache
from embedlab.rerank import RerankClient, RerankError
from embedlab.stores.base import CollectionSpec, Hit, VectorStore
from embedlab.textio import UploadError, decode_bytes, guess_text_column, read_table, texts_from_column
from embedlab.tokens import count_tokens, truncate

DB_FILE = "judgments.sqlite"
GRADES = (0, 1, 2)
GRADE_LABELS = {0: "not relevant", 1: "partly relevant", 2: "relevant"}
DEFAULT_K = 5  # the tuning guide's TopK
MAX_K = 20
MIN_CONFIGS, MAX_CONFIGS = 2, 4
CONFIG_NAMES = "ABCD"
MAX_QUERIES = 200
MAX_QUERY_CHARS = 2000
MAX_RATER_CHARS = 60
LLM_PREFIX = "LLM judge"  # rater names starting with it are reserved for the LLM judge
PERSON, LLM = "person", "llm"  # judgment kinds
MODES = ("dense", "bm25", "hybrid-rrf", "hybrid-weighted")
MODE_LABELS = {"dense": "dense", "bm25": "BM25", "hybrid-rrf": "hybrid RRF", "hybrid-weighted": "hybrid weighted"}
LENGTH_CHOICES: tuple[int | None, ...] = (None, 8192, 2048, 512)  # document input length; None = full
DIMENSION_CHOICES: tuple[int | None, ...] = (None, 512, 256, 128, 64, 32)  # Matryoshka sizes; None = full
COLLECTION_INSTRUCTION = "(the collection's instruction)"  # resolved when the pools are built
RERANK_FETCH = 50  # candidates a reranking configuration hands to the reranker
DEDUPE_SLACK = 20  # extra candidates fetched so that equal texts can be dropped and k remain
CONTEXT_CHARS = 400

StageProgress = Callable[[str, int, int], None]  # (what is being done, done, total)


class JudgeError(ValueError):
    """Bad input for an experiment, a judgment or an import; str(error) says what to change."""


# -- keys ------------------------------------------------------------------------------------
def chunk_key(text: str) -> str:
    """The chunk's judgment key: a hash of its text (32 hex digits), stable across re-ingestion."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def query_id(query: str) -> str:
    """A stable id for a query text in qrels and labelled sets: "q" + 12 hex digits of its hash."""
    return "q" + hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# -- configurations --------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeConfig:
    """One retrieval set-up of an experiment.

    instruction_name / instruction: the query instruction ("" = none); COLLECTION_INSTRUCTION as
        the name means the collection's own, filled in by `resolved`.
    max_tokens: each chunk is embedded from its first `max_tokens` tokens; None = its whole text.
    dimensions: Matryoshka size (query and chunk vectors cut and re-normalised); None = full.
    mode: "dense", "bm25" (keywords over the same chunk inputs, bare query) or "hybrid-rrf" /
        "hybrid-weighted" (both fused, see embedlab.fusion).
    rerank: the top RERANK_FETCH go to the reranker, which picks the top k.
    """

    instruction_name: str = ""
    instruction: str = ""
    max_tokens: int | None = None
    dimensions: int | None = None
    mode: str = "dense"
    rerank: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise JudgeError(f"Unknown retrieval mode {self.mode!r}; choose from {', '.join(MODES)}.")
        for name in ("max_tokens", "dimensions"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise JudgeError(f"{name} must be a positive whole number or None, got {value!r}.")

    @property
    def uses_vectors(self) -> bool:
        return self.mode != "bm25"

    def canonical(self) -> JudgeConfig:
        """BM25 reads the bare query and no vectors: its instruction and dimensions are dropped."""
        if self.uses_vectors:
            return self
        return replace(self, instruction_name="", instruction="", dimensions=None)

    def resolved(self, spec: CollectionSpec) -> JudgeConfig:
        """The collection's own instruction filled in (name and task at the collection's creation)."""
        if self.instruction_name != COLLECTION_INSTRUCTION:
            return self.canonical()
        return replace(self, instruction_name=spec.instruction_name, instruction=spec.instruction).canonical()

    @property
    def instruction_label(self) -> str:
        if not self.uses_vectors:
            return "none (BM25)"
        if self.instruction_name == COLLECTION_INSTRUCTION:
            return "the collection's"
        if not self.instruction.strip():
            return "none"
        return self.instruction_name or "custom"

    @property
    def length_label(self) -> str:
        return f"≤{self.max_tokens:,} tokens" if self.max_tokens else "full length"

    @property
    def dimensions_label(self) -> str:
        if not self.uses_vectors:
            return "n/a"
        return f"{self.dimensions} d" if self.dimensions else "full"

    @property
    def label(self) -> str:
        """"instruction: … · input length · dimensions · mode[ · rerank]" ("BM25 · input length" for BM25)."""
        if not self.uses_vectors:
            parts = [MODE_LABELS[self.mode], self.length_label]
        else:
            parts = [f"instruction: {self.instruction_label}", self.length_label,
                     f"{self.dimensions} d" if self.dimensions else "full dim", MODE_LABELS[self.mode]]
        if self.rerank:
            parts.append("rerank")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> JudgeConfig:
        known = {f: raw[f] for f in cls.__dataclass_fields__ if f in raw}
        return cls(**known)


def guide_configs() -> list[JudgeConfig]:
    """The tuning guide's experiment: no instruction and whole inputs, against the collection's
    instruction and inputs of at most 2,048 tokens."""
    return [JudgeConfig(), JudgeConfig(COLLECTION_INSTRUCTION, "", 2048)]


def config_name(index: int) -> str:
    """"A", "B", "C", "D"."""
    return CONFIG_NAMES[index]


def check_configs(configs: Sequence[JudgeConfig]) -> None:
    """JudgeError unless there are 2 to 4 configurations, all different."""
    if not MIN_CONFIGS <= len(configs) <= MAX_CONFIGS:
        raise JudgeError(f"Compare {MIN_CONFIGS} to {MAX_CONFIGS} configurations ({len(configs)} chosen).")
    seen: dict[JudgeConfig, int] = {}
    for i, cfg in enumerate(configs):
        key = cfg.canonical()
        if key in seen:
            raise JudgeError(f"Configurations {config_name(seen[key])} and {config_name(i)} are the same set-up; "
                             "change or remove one.")
        seen[key] = i


# -- queries ---------------------------------------------------------------------------------
def clean_queries(texts: Sequence[str]) -> list[str]:
    """Stripped, non-empty, first occurrence of each; JudgeError when none is left or too many."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in texts:
        text = str(raw).strip()
        text = " ".join(text.split()) if "\n" in text else text  # a query is one line
        if text and text not in seen:
            if len(text) > MAX_QUERY_CHARS:
                raise JudgeError(f"A query has {len(text):,} characters (at most {MAX_QUERY_CHARS:,}): "
                                 f"{text[:60]!r}…")
            seen.add(text)
            out.append(text)
    if not out:
        raise JudgeError("No queries: type one per line, upload a file or pick a bundled set.")
    if len(out) > MAX_QUERIES:
        raise JudgeError(f"{len(out)} queries is too many for one experiment; use at most {MAX_QUERIES}.")
    return out


def queries_from_text(text: str) -> list[str]:
    """One query per non-empty line."""
    return clean_queries(text.splitlines())


def queries_from_file(data: bytes, filename: str) -> list[str]:
    """Queries from an upload: .txt one per line; .csv/.tsv/.jsonl from the column named query,
    question or text (else the column of longest texts).

    Raises:
        JudgeError: unreadable file, no text column or no queries.
    """
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    try:
        if suffix in ("txt", "md", ""):
            return clean_queries(decode_bytes(data).text.splitlines())
        frame = read_table(data, filename)
        lowered = {str(c).lower().strip(): c for c in frame.columns}
        column = next((lowered[n] for n in ("query", "question", "queries", "questions") if n in lowered), None)
        column = column or guess_text_column(frame)
        if column is None:
            raise JudgeError(f"{filename}: no column with text found (columns: {', '.join(map(str, frame.columns))}). "
                             "Name the query column 'query'.")
        return clean_queries(texts_from_column(frame, column))
    except UploadError as exc:
        raise JudgeError(f"{filename}: {exc}") from None


def bundled_query_sets() -> dict[str, str]:
    """Name -> where the queries come from, for the bundled query sets (sample collections'
    questions and the labelled sets' queries)."""
    out = {}
    for domain in ingest.SAMPLE_DOMAINS:
        sample = ingest.load_domain_sample(domain)
        out[f"{sample.collection} sample questions"] = f"questions of the {sample.collection} sample collection"
    for name in BUNDLED:
        out[f"{name} queries"] = f"queries of the labelled set {name!r} (Evaluate page)"
    return out


def bundled_queries(name: str) -> list[str]:
    """The queries of a bundled set named by `bundled_query_sets`; JudgeError for other names."""
    for domain in ingest.SAMPLE_DOMAINS:
        sample = ingest.load_domain_sample(domain)
        if name == f"{sample.collection} sample questions":
            return clean_queries(sample.questions)
    for set_name in BUNDLED:
        if name == f"{set_name} queries":
            return clean_queries([q.text for q in load_bundled(set_name).queries])
    raise JudgeError(f"No bundled query set {name!r}.")


def bundled_for_collection(collection: str) -> str | None:
    """The bundled query set written for `collection` (a sample collection), if any."""
    sample = ingest.sample_for_collection(collection)
    return f"{sample.collection} sample questions" if sample else None


def validate_rater(name: str) -> str:
    """The stripped rater name; JudgeError when empty, too long, or taken by the LLM judge."""
    name = " ".join((name or "").split())
    if not name:
        raise JudgeError("Enter your name as rater first: judgments are kept per rater.")
    if len(name) > MAX_RATER_CHARS:
        raise JudgeError(f"A rater name has at most {MAX_RATER_CHARS} characters.")
    if name.lower().startswith(LLM_PREFIX.lower()):
        raise JudgeError(f"Names starting with {LLM_PREFIX!r} are kept for the LLM judge; choose another.")
    return name


# -- experiments and pools -------------------------------------------------------------------
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
    notes: list[str] = field(default_factory=list)


def _stage(progress: StageProgress | None, what: str) -> Callable[[int, int], None] | None:
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
        what = f"Embedding the chunks longer than {max_tokens:,} tokens from their start"
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
        raise JudgeError("A configuration asks for reranking but no reranker is configured (RERANK_BASE_URL).")
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
        raise JudgeError(f"Depth k must be 1 to {MAX_K}, got {k}.")
    dim = embedder.dim
    store.check(spec.name, embedder.model_id, dim)
    for cfg in configs:
        if cfg.dimensions is not None and cfg.dimensions > dim:
            raise JudgeError(f"{cfg.dimensions} dimensions asked for, but {spec.name!r} holds {dim}-d vectors.")
    load = retrieval.collection_index(store, spec.name, cache=cache, progress=progress)
    base = load.index
    if not base.ids:
        raise JudgeError(f"{spec.name!r} is empty: add documents on the Search page first.")

    # Queries: every distinct instructed text embedded once, at full size.
    sent = {i: [format_query(c.instruction, q) for q in queries] for i, c in enumerate(configs) if c.uses_vectors}
    distinct = list(dict.fromkeys(t for texts in sent.values() for t in texts))
    vectors = (embedder.embed(distinct, progress=_stage(progress, "Embedding the queries")) if distinct
               else np.zeros((0, dim), dtype=np.float32))  # (len(distinct), dim)
    row = {t: r for r, t in enumerate(distinct)}

    notes: list[str] = []
    indexes: dict[tuple[int | None, int | None], retrieval.ChunkIndex] = {}
    for i, cfg in enumerate(configs):
        side = _side_index(base, spec.name, cfg.max_tokens, embedder, cache, progress)
        if cfg.max_tokens is not None:
            notes.append(f"{config_name(i)}: {side.cut:,} of {len(base.ids):,} chunks are longer than "
                         f"{cfg.max_tokens:,} tokens and were embedded from their start"
                         + ("" if side.cut else ": this input length changes nothing here") + ".")
        key = (cfg.max_tokens, cfg.dimensions)
        if key not in indexes:
            index = side.index
            if cfg.dimensions is not None:
                index = replace(index, vectors=normalize_rows(index.vectors, cfg.dimensions))
            indexes[key] = index

    runs: list[dict[str, list[tuple[str, float]]]] = []
    first_seen: dict[tuple[str, str], int] = {}  # (query, chunk key) -> chunk position
    total = len(configs) * len(queries)
    for i, cfg in enumerate(configs):
        index = indexes[(cfg.max_tokens, cfg.dimensions)]
        per_query: dict[str, list[tuple[str, float]]] = {}
        for j, query in enumerate(queries):
            if progress:
                progress(f"Retrieving: configuration {config_name(i)}, query {j + 1} of {len(queries)}",
                         i * len(queries) + j, total)
            vec = None
            if cfg.uses_vectors:
                vec = normalize_rows(vectors[[row[sent[i][j]]]], cfg.dimensions)[0]
            try:
                ranked = _ranked(cfg, index, query, vec, k, reranker, base.texts)
            except RerankError as exc:
                raise JudgeError(f"Reranking failed for configuration {config_name(i)}: {exc}") from None
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

    seed = secrets.randbits(31) if seed is None else int(seed)
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
            context = store.context(spec.name, hit, CONTEXT_CHARS)
            items.append(PoolItem(query, key, position, base.ids[chunk], hit.source, base.texts[chunk],
                                  context.before, context.after))
        if progress:
            progress("Reading each pooled chunk's context", len(items), total)
    return PoolBuild(spec.name, int(k), configs, queries, embedder.model_id, seed, runs, items, notes)


# -- persistence -----------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL, name TEXT NOT NULL, k INTEGER NOT NULL, configs TEXT NOT NULL,
    model TEXT NOT NULL, seed INTEGER NOT NULL, notes TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiment_queries (
    experiment INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, query TEXT NOT NULL, PRIMARY KEY (experiment, position));
CREATE TABLE IF NOT EXISTS pool (
    experiment INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    query TEXT NOT NULL, chunk TEXT NOT NULL, position INTEGER NOT NULL, chunk_id TEXT NOT NULL,
    source TEXT NOT NULL, text TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
    PRIMARY KEY (experiment, query, chunk));
CREATE TABLE IF NOT EXISTS runs (
    experiment INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    config INTEGER NOT NULL, query TEXT NOT NULL, rank INTEGER NOT NULL, chunk TEXT NOT NULL, score REAL NOT NULL,
    PRIMARY KEY (experiment, config, query, rank));
CREATE TABLE IF NOT EXISTS judgments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL, query TEXT NOT NULL, chunk TEXT NOT NULL, rater TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'llm')), grade INTEGER NOT NULL CHECK (grade IN (0, 1, 2)),
    created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS judgments_pair ON judgments (collection, query, chunk);
CREATE INDEX IF NOT EXISTS judgments_rater ON judgments (collection, rater, id);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL, query TEXT NOT NULL, chunk TEXT NOT NULL, rater TEXT NOT NULL, model TEXT NOT NULL,
    prompt TEXT NOT NULL, answer TEXT NOT NULL, grade INTEGER, error TEXT NOT NULL DEFAULT '',
    judgment INTEGER REFERENCES judgments(id) ON DELETE SET NULL, created_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Judgment:
    """A rater's current grade of one (query, chunk) pair of a collection."""

    collection: str
    query: str
    chunk: str
    rater: str
    kind: str  # PERSON or LLM
    grade: int
    created_at: str
    id: int = 0


@dataclass(frozen=True)
class LLMCall:
    """One request to the LLM judge: the prompt sent, the raw answer, the grade read from it."""

    query: str
    chunk: str
    rater: str
    model: str
    prompt: str
    answer: str
    grade: int | None
    error: str = ""


class JudgmentStore:
    """Experiments, pools and judgments in one SQLite file, safe for several sessions and processes.

    Each call opens its own connection (WAL mode, 30 s busy timeout) and writes in one
    `BEGIN IMMEDIATE` transaction, so concurrent writers wait for each other instead of failing or
    overwriting, and a crash leaves either the whole change or none of it.
    """

    def __init__(self, path: str | Path, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write() as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> JudgmentStore:
        return cls(Path(data_dir) / DB_FILE)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    # experiments ---------------------------------------------------------------------------
    def save_experiment(self, build: PoolBuild, name: str = "") -> Experiment:
        """Store an experiment with its queries, pools and runs (one transaction); returns it."""
        created = _now()
        with self._write() as conn:
            if not name.strip():
                count = conn.execute("SELECT COUNT(*) FROM experiments WHERE collection = ?",
                                     (build.collection,)).fetchone()[0]
                name = f"Experiment {count + 1}"
            cur = conn.execute(
                "INSERT INTO experiments (collection, name, k, configs, model, seed, notes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (build.collection, name.strip(), build.k, json.dumps([c.to_dict() for c in build.configs]),
                 build.model, build.seed, json.dumps(build.notes), created))
            exp_id = int(cur.lastrowid)
            conn.executemany("INSERT INTO experiment_queries VALUES (?, ?, ?)",
                             [(exp_id, i, q) for i, q in enumerate(build.queries)])
            conn.executemany("INSERT INTO pool VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [(exp_id, it.query, it.chunk, it.position, it.chunk_id, it.source, it.text, it.before,
                               it.after) for it in build.items])
            conn.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                             [(exp_id, c, q, rank, key, score) for c, run in enumerate(build.runs)
                              for q, top in run.items() for rank, (key, score) in enumerate(top, start=1)])
        return self.experiment(exp_id)

    _EXPERIMENT = "SELECT id, collection, name, k, configs, model, created_at, seed FROM experiments"

    def experiments(self, collection: str | None = None) -> list[Experiment]:
        """Saved experiments (of one collection when given), newest first."""
        where, args = (" WHERE collection = ?", (collection,)) if collection is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(f"{self._EXPERIMENT}{where} ORDER BY id DESC", args).fetchall()
            queries: dict[int, list[str]] = {row[0]: [] for row in rows}
            for exp_id, query in conn.execute(
                    "SELECT q.experiment, q.query FROM experiment_queries q JOIN experiments e ON e.id = q.experiment"
                    f"{where.replace('collection', 'e.collection')} ORDER BY q.experiment, q.position", args):
                queries[exp_id].append(query)
        return [self._experiment(row, queries[row[0]]) for row in rows]

    def experiment(self, exp_id: int) -> Experiment:
        """The experiment `exp_id`; JudgeError when there is none."""
        with self._read() as conn:
            row = conn.execute(f"{self._EXPERIMENT} WHERE id = ?", (int(exp_id),)).fetchone()
            if row is None:
                raise JudgeError(f"There is no experiment #{exp_id}.")
            queries = [r[0] for r in conn.execute(
                "SELECT query FROM experiment_queries WHERE experiment = ? ORDER BY position", (int(exp_id),))]
        return self._experiment(row, queries)

    @staticmethod
    def _experiment(row: Sequence[Any], queries: Sequence[str]) -> Experiment:
        configs = tuple(JudgeConfig.from_dict(c) for c in json.loads(row[4]))
        return Experiment(row[0], row[1], row[2], row[3], configs, tuple(queries), row[5], row[6], row[7])

    def notes(self, exp_id: int) -> list[str]:
        with self._read() as conn:
            row = conn.execute("SELECT notes FROM experiments WHERE id = ?", (int(exp_id),)).fetchone()
        return json.loads(row[0]) if row else []

    def delete_experiment(self, exp_id: int) -> None:
        """Remove an experiment, its pools and runs; judgments stay (they belong to the collection)."""
        with self._write() as conn:
            conn.execute("DELETE FROM experiments WHERE id = ?", (int(exp_id),))

    def pool(self, exp_id: int) -> list[PoolItem]:
        """The experiment's pooled chunks, query by query (in the experiment's order), each query's
        chunks in their blind order."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT p.query, p.chunk, p.position, p.chunk_id, p.source, p.text, p.before, p.after "
                "FROM pool p JOIN experiment_queries q ON q.experiment = p.experiment AND q.query = p.query "
                "WHERE p.experiment = ? ORDER BY q.position, p.position", (int(exp_id),)).fetchall()
        return [PoolItem(*r) for r in rows]

    def runs(self, exp_id: int) -> list[dict[str, list[str]]]:
        """runs[c][query]: configuration c's top k chunk keys, best first."""
        exp = self.experiment(exp_id)
        out: list[dict[str, list[str]]] = [{q: [] for q in exp.queries} for _ in exp.configs]
        with self._read() as conn:
            for c, q, key in conn.execute("SELECT config, query, chunk FROM runs WHERE experiment = ? "
                                          "ORDER BY config, query, rank", (int(exp_id),)):
                out[c][q].append(key)
        return out

    def chunk_texts(self, collection: str) -> dict[str, str]:
        """Chunk key -> text of every chunk pooled in any experiment of the collection."""
        with self._read() as conn:
            rows = conn.execute("SELECT p.chunk, p.text FROM pool p JOIN experiments e ON e.id = p.experiment "
                                "WHERE e.collection = ?", (collection,)).fetchall()
        return dict(rows)

    # judgments -----------------------------------------------------------------------------
    def judge(self, collection: str, query: str, chunk: str, rater: str, grade: int, kind: str = PERSON) -> Judgment:
        """Record `rater`'s grade of the pair (their latest grade is the one that counts)."""
        if grade not in GRADES:
            raise JudgeError(f"A grade is 0, 1 or 2, got {grade!r}.")
        if kind not in (PERSON, LLM):
            raise JudgeError(f"Unknown kind of rater {kind!r}.")
        created = _now()
        with self._write() as conn:
            cur = conn.execute("INSERT INTO judgments (collection, query, chunk, rater, kind, grade, created_at) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", (collection, query, chunk, rater, kind, int(grade), created))
            row_id = int(cur.lastrowid)
        return Judgment(collection, query, chunk, rater, kind, int(grade), created, row_id)

    def undo(self, collection: str, rater: str) -> Judgment | None:
        """Delete `rater`'s latest judgment in the collection (an earlier grade of the same pair,
        if any, counts again); returns it, or None when the rater has none."""
        with self._write() as conn:
            row = conn.execute("SELECT id, collection, query, chunk, rater, kind, grade, created_at FROM judgments "
                               "WHERE collection = ? AND rater = ? ORDER BY id DESC LIMIT 1",
                               (collection, rater)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM judgments WHERE id = ?", (row[0],))
        return Judgment(*row[1:], id=row[0])

    def judgments(self, collection: str, queries: Sequence[str] | None = None) -> list[Judgment]:
        """Every rater's current grade of each pair in the collection (of `queries` when given)."""
        sql = ("SELECT j.collection, j.query, j.chunk, j.rater, j.kind, j.grade, j.created_at, j.id FROM judgments j "
               "JOIN (SELECT MAX(id) AS id FROM judgments WHERE collection = ? GROUP BY query, chunk, rater) last "
               "ON last.id = j.id ORDER BY j.id")
        with self._read() as conn:
            rows = conn.execute(sql, (collection,)).fetchall()
        wanted = None if queries is None else set(queries)
        return [Judgment(*r) for r in rows if wanted is None or r[1] in wanted]

    def history_count(self, collection: str) -> int:
        """Judgment rows ever kept for the collection (re-judgments included)."""
        with self._read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM judgments WHERE collection = ?", (collection,)).fetchone()[0])

    def import_grades(self, collection: str, rows: Sequence[tuple[str, str, int]], rater: str,
                      kind: str = PERSON) -> int:
        """Record many (query, chunk, grade) of one rater in one transaction; returns how many."""
        created = _now()
        for _, _, grade in rows:
            if grade not in GRADES:
                raise JudgeError(f"A grade is 0, 1 or 2, got {grade!r}.")
        with self._write() as conn:
            conn.executemany("INSERT INTO judgments (collection, query, chunk, rater, kind, grade, created_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(collection, q, c, rater, kind, int(g), created) for q, c, g in rows])
        return len(rows)

    def record_llm(self, collection: str, call: LLMCall) -> None:
        """Keep an LLM judge's request and answer; its grade (when one was read) becomes a judgment
        of the rater `call.rater`, in the same transaction."""
        created = _now()
        with self._write() as conn:
            judgment = None
            if call.grade is not None:
                judgment = conn.execute(
                    "INSERT INTO judgments (collection, query, chunk, rater, kind, grade, created_at) "
                    "VALUES (?, ?, ?, ?, 'llm', ?, ?)",
                    (collection, call.query, call.chunk, call.rater, int(call.grade), created)).lastrowid
            conn.execute("INSERT INTO llm_calls (collection, query, chunk, rater, model, prompt, answer, grade, error, "
                         "judgment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (collection, call.query, call.chunk, call.rater, call.model, call.prompt, call.answer,
                          call.grade, call.error, judgment, created))

    def llm_calls(self, collection: str) -> list[LLMCall]:
        """Every kept LLM judge request of the collection, oldest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT query, chunk, rater, model, prompt, answer, grade, error FROM llm_calls "
                                "WHERE collection = ? ORDER BY id", (collection,)).fetchall()
        return [LLMCall(*r) for r in rows]


# -- grades ----------------------------------------------------------------------------------
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


# -- export and import -----------------------------------------------------------------------
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
        raise JudgeError(f"{len(missing)} judged chunk(s) have no stored text (e.g. {missing[0]}).")
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
        raise JudgeError(f"The qrels file cannot be read: {exc}") from None
    by_id = {query_id(q): q for q in experiment.queries}
    rows: list[tuple[str, str, int]] = []
    unknown_q = unknown_c = 0
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise JudgeError(f"qrels line {number}: expected 4 fields \"qid 0 docno grade\", found {len(parts)}.")
        qid, _, docno, raw = parts
        try:
            grade = int(raw)
        except ValueError:
            raise JudgeError(f"qrels line {number}: the grade {raw!r} is not a whole number.") from None
        if grade not in GRADES:
            raise JudgeError(f"qrels line {number}: grade {grade}; the Judge page grades 0, 1 or 2.")
        if qid not in by_id:
            unknown_q += 1
        elif docno not in known_chunks:
            unknown_c += 1
        else:
            rows.append((by_id[qid], docno, grade))
    if not rows and not unknown_q and not unknown_c:
        raise JudgeError("The qrels file holds no lines.")
    return QrelsImport(tuple(rows), unknown_q, unknown_c)
