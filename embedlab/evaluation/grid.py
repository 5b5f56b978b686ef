"""Retrieval evaluation over labelled query sets: Recall@k, MRR@10, nDCG@10 as MTEB defines them.

Definitions (MTEB computes them with pytrec_eval / trec_eval; reproduced here without it):
- a document is *relevant* to a query when its grade is >= 1 (trec_eval's relevance level);
- Recall@k = relevant documents in the top k / all relevant documents of the query;
- MRR@10 = 1 / rank of the first relevant document within the top 10, else 0;
- nDCG@10 = DCG@10 / IDCG@10 with linear gains (the grade) and a log2(rank + 1) discount; the
  ideal ranking sorts every judged grade of the query (MTEB's main retrieval score).
Each metric is computed per query and averaged over queries (macro average).

Rankings are deterministic: equal scores are ordered by corpus order (a stable sort), unlike
trec_eval, which orders ties by descending document id.

A grid of configurations (instruction x truncation x dimensions x chunking) is run in two steps so
that a page can show progress with its own widget: `plan_grid` lists every distinct input string
the grid needs (embed them once, through the cache, at the model's full size), then `score_grid`
computes every configuration from those vectors. Matryoshka sizes are derived client-side by
truncating and re-normalising the full vectors, so a dimension sweep costs no extra request.

Two more axes (issue 14): the retrieval `mode` (dense embeddings; BM25 over the same document
inputs, see embedlab.keyword; hybrid by reciprocal-rank or weighted fusion, see embedlab.fusion)
and the vector `precision` (float32, int8, binary, optionally rescoring the top 100 in float32,
see embedlab.quantize). BM25 needs no embeddings: a BM25-only configuration adds no input to embed.
Documents are always scored by their best input (max over chunks), for BM25 as for dense.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from embedlab import fusion, quantize
from embedlab.backends import Embedder, ProgressCallback, normalize_rows
from embedlab.instructions import format_query
from embedlab.keyword import DEFAULT_CACHE, IndexCache
from embedlab.ranking import rank_order, reciprocal_rank

METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
MAIN_METRIC = "ndcg@10"
TRUNCATION_CHOICES: tuple[int | None, ...] = (None, 2048, 512)
DIMENSION_CHOICES: tuple[int | None, ...] = (None, 512, 256, 128, 64, 32)
DEFAULT_CHUNK_TOKENS = 256
TIE_TOLERANCE = 1e-9  # per-query metric differences below this count as a tie
MODES = ("dense", "bm25", "hybrid-rrf", "hybrid-weighted")
PRECISIONS = quantize.PRECISIONS
RESCORE_TOP = quantize.RESCORE_TOP
_MODE_LABELS = {"bm25": "BM25", "hybrid-rrf": f"hybrid RRF k={fusion.RRF_K}",
                "hybrid-weighted": f"hybrid weighted α={fusion.DEFAULT_ALPHA}"}


class DatasetError(ValueError):
    """A labelled set is malformed; str(error) says what to fix, naming lines and ids."""


# --- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    id: str
    text: str


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    relevant: Mapping[str, int]  # doc id -> grade (>= 0; grade >= 1 means relevant)


@dataclass(frozen=True)
class LabelledSet:
    name: str
    documents: tuple[Document, ...]
    queries: tuple[Query, ...]

    @property
    def doc_ids(self) -> list[str]:
        return [d.id for d in self.documents]

    @property
    def relevant_per_query(self) -> float:
        """Mean number of relevant documents (grade >= 1) per query."""
        return sum(sum(g >= 1 for g in q.relevant.values()) for q in self.queries) / max(len(self.queries), 1)

    def subset(self, n_queries: int) -> LabelledSet:
        """The first `n_queries` queries with the whole corpus (for quick runs and tests)."""
        return LabelledSet(f"{self.name} (first {n_queries} queries)", self.documents,
                           self.queries[:n_queries])


def _id_of(record: Mapping, line: int, what: str) -> str:
    raw = record.get("id")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw).strip() == "":
        raise DatasetError(f"{what} line {line}: needs a non-empty \"id\" (string), got {raw!r}.")
    return str(raw).strip()


def _text_of(record: Mapping, line: int, what: str, ident: str) -> str:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{what} line {line} (id {ident!r}): needs a non-empty \"text\" string.")
    return text


def parse_corpus(records: Sequence[Mapping], lines: Sequence[int] | None = None) -> tuple[Document, ...]:
    """Documents from JSONL records `{"id", "text"}`; raises DatasetError on any problem.

    `lines` gives each record's line number in its file for messages (default 1, 2, ...).
    """
    if not records:
        raise DatasetError("The corpus is empty: it needs at least one line {\"id\": ..., \"text\": ...}.")
    seen: dict[str, int] = {}
    docs = []
    for line, record in zip(lines or range(1, len(records) + 1), records, strict=True):
        if not isinstance(record, Mapping):
            raise DatasetError(f"Corpus line {line}: expected a JSON object, got {type(record).__name__}.")
        ident = _id_of(record, line, "Corpus")
        if ident in seen:
            raise DatasetError(
                f"Corpus line {line}: duplicate document id {ident!r} (first on line {seen[ident]})."
            )
        seen[ident] = line
        docs.append(Document(ident, _text_of(record, line, "Corpus", ident)))
    return tuple(docs)


def _grades(raw: object, line: int, ident: str) -> dict[str, int]:
    where = f"Queries line {line} (id {ident!r})"
    if isinstance(raw, list):
        grades: dict[str, int] = {}
        for item in raw:
            if isinstance(item, bool) or not isinstance(item, str | int) or str(item).strip() == "":
                raise DatasetError(f"{where}: \"relevant\" must list document ids, found {item!r}.")
            key = str(item).strip()
            if key in grades:
                raise DatasetError(f"{where}: document {key!r} is listed twice in \"relevant\".")
            grades[key] = 1
        return grades
    if isinstance(raw, Mapping):
        grades = {}
        for key, grade in raw.items():
            ok = isinstance(grade, int | float) and not isinstance(grade, bool)
            if not ok or grade < 0 or float(grade) != int(grade):
                raise DatasetError(
                    f"{where}: the grade of {key!r} must be a whole number >= 0, got {grade!r}."
                )
            grades[str(key).strip()] = int(grade)
        return grades
    raise DatasetError(
        f"{where}: \"relevant\" must be a list of document ids or an object {{\"doc id\": grade}}, "
        f"got {type(raw).__name__}."
    )


def parse_queries(
    records: Sequence[Mapping], doc_ids: Iterable[str], lines: Sequence[int] | None = None
) -> tuple[Query, ...]:
    """Queries from JSONL records `{"id", "text", "relevant"}`, checked against the corpus ids.

    `relevant` is a list of document ids (grade 1 each) or an object {doc id: grade}.
    Raises DatasetError for unknown ids, empty relevant lists, duplicates and malformed lines.
    """
    if not records:
        raise DatasetError("The query file is empty: it needs lines {\"id\", \"text\", \"relevant\"}.")
    known = set(doc_ids)
    seen: dict[str, int] = {}
    queries = []
    for line, record in zip(lines or range(1, len(records) + 1), records, strict=True):
        if not isinstance(record, Mapping):
            raise DatasetError(f"Queries line {line}: expected a JSON object, got {type(record).__name__}.")
        ident = _id_of(record, line, "Queries")
        if ident in seen:
            raise DatasetError(f"Queries line {line}: duplicate query id {ident!r} (first on line {seen[ident]}).")
        seen[ident] = line
        text = _text_of(record, line, "Queries", ident)
        if "relevant" not in record:
            raise DatasetError(f"Queries line {line} (id {ident!r}): missing \"relevant\".")
        grades = _grades(record["relevant"], line, ident)
        if not any(g >= 1 for g in grades.values()):
            raise DatasetError(
                f"Queries line {line} (id {ident!r}): the relevant list is empty (no document "
                "with grade >= 1); every query needs at least one relevant document."
            )
        unknown = [k for k in grades if k not in known]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DatasetError(
                f"Queries line {line} (id {ident!r}): unknown document id(s) {shown}; they are "
                "not in the corpus."
            )
        queries.append(Query(ident, text, grades))
    return tuple(queries)


def load_labelled_set(corpus: bytes, queries: bytes, name: str = "uploaded") -> LabelledSet:
    """Parse and validate two JSONL files; raises DatasetError (or textio.UploadError)."""
    from embedlab.textio import decode_bytes, read_jsonl

    parsed = []
    for what, data in (("Corpus file", corpus), ("Query file", queries)):
        try:
            records = read_jsonl(data)
        except ValueError as exc:
            raise DatasetError(f"{what}: {exc}") from None
        # read_jsonl skips blank lines: keep the real line numbers for messages.
        lines = [n for n, text in enumerate(decode_bytes(data).text.splitlines(), start=1) if text.strip()]
        parsed.append((records, lines if len(lines) == len(records) else None))
    documents = parse_corpus(*parsed[0])
    return LabelledSet(name, documents, parse_queries(parsed[1][0], (d.id for d in documents), parsed[1][1]))


BUNDLED: dict[str, tuple[str, str]] = {
    "IT security policy (Chinese)": ("it_policy_zh.corpus.jsonl", "it_policy_zh.queries.jsonl"),
    "Engineering handbook (English / mixed)": ("eng_handbook_mixed.corpus.jsonl",
                                               "eng_handbook_mixed.queries.jsonl"),
}


def bundled_files(name: str) -> tuple[Path, Path]:
    """Paths of a bundled set's corpus and query files."""
    corpus, queries = BUNDLED[name]
    root = resources.files("embedlab") / "data" / "labelled"
    return Path(str(root / corpus)), Path(str(root / queries))


def load_bundled(name: str) -> LabelledSet:
    """One of the labelled sets shipped in embedlab/data (see BUNDLED)."""
    corpus, queries = bundled_files(name)
    return load_labelled_set(corpus.read_bytes(), queries.read_bytes(), name)


# --- metrics -----------------------------------------------------------------------------------


def query_metrics(ranked_ids: Sequence[str], grades: Mapping[str, int]) -> dict[str, float]:
    """MTEB's metrics for one query.

    Args:
        ranked_ids: document ids, best first (at least the top 10 when the corpus allows).
        grades: judged documents of this query: id -> grade (grade >= 1 is relevant).
    """
    relevant = {d for d, g in grades.items() if g >= 1}
    if not relevant:
        raise ValueError("a query needs at least one document with grade >= 1")
    out: dict[str, float] = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = len(relevant.intersection(ranked_ids[:k])) / len(relevant)
    out["mrr@10"] = reciprocal_rank((d in relevant for d in ranked_ids), k=10)
    dcg = sum(grades.get(d, 0) / math.log2(r + 1) for r, d in enumerate(ranked_ids[:10], start=1))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
    out["ndcg@10"] = dcg / idcg
    return out


def evaluate_scores(
    scores: np.ndarray, doc_ids: Sequence[str], queries: Sequence[Query]
) -> dict[str, dict[str, float]]:
    """Per-query metrics from a score matrix.

    Args:
        scores: (len(queries), len(doc_ids)) similarities.
    Returns:
        {query id: {metric: value}} in query order.
    """
    scores = np.asarray(scores)
    if scores.shape != (len(queries), len(doc_ids)):
        raise ValueError(f"scores have shape {scores.shape}, expected {(len(queries), len(doc_ids))}")
    top = rank_order(scores, 10)
    return {
        q.id: query_metrics([doc_ids[i] for i in top[row]], q.relevant) for row, q in enumerate(queries)
    }


def mean_metrics(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Macro average of each metric over queries."""
    if not per_query:
        raise ValueError("no queries to average")
    return {m: float(np.mean([pq[m] for pq in per_query.values()])) for m in METRICS}


def compare_per_query(
    baseline: Mapping[str, Mapping[str, float]],
    other: Mapping[str, Mapping[str, float]],
    metric: str = MAIN_METRIC,
) -> dict[str, int]:
    """Queries where `other` beats (wins), trails (losses) or equals (ties) the baseline on `metric`."""
    if set(baseline) != set(other):
        raise ValueError("the two results cover different queries")
    out = {"wins": 0, "losses": 0, "ties": 0}
    for qid, base in baseline.items():
        diff = other[qid][metric] - base[metric]
        out["wins" if diff > TIE_TOLERANCE else "losses" if diff < -TIE_TOLERANCE else "ties"] += 1
    return out


# --- configurations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    """One retrieval set-up to measure.

    instruction: the task text ("" = no instruction); instruction_name labels it in tables.
    max_tokens: truncate every model input (formatted query, document or chunk) to this many
        tokens with the exact tokenizer; None = full.
    dimensions: Matryoshka size (truncate the full vectors and re-normalise); None = full.
    chunked: score a document by its best chunk (max-sim) instead of embedding it whole.
    mode: "dense" (embeddings), "bm25" (keywords over the same document inputs; the bare query
        text, no instruction), "hybrid-rrf" or "hybrid-weighted" (both fused, see embedlab.fusion).
    precision: the dense vectors as "float32", "int8" or "binary" (see embedlab.quantize);
        rescore: score each query's top RESCORE_TOP again in float32 (int8 and binary only).
    Settings a mode does not use are reset by `canonical` (BM25 has no instruction or vectors).
    """

    instruction: str = ""
    instruction_name: str = ""
    max_tokens: int | None = None
    dimensions: int | None = None
    chunked: bool = False
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    mode: str = "dense"
    precision: str = "float32"
    rescore: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")

    @property
    def uses_vectors(self) -> bool:
        """Whether this configuration embeds anything (every mode but BM25)."""
        return self.mode != "bm25"

    def canonical(self) -> EvalConfig:
        """The same set-up with the settings its mode ignores reset (two equal set-ups compare equal)."""
        if not self.uses_vectors:
            return replace(self, instruction="", instruction_name="", dimensions=None, precision="float32",
                           rescore=False)
        return replace(self, rescore=False) if self.precision == "float32" else self

    @property
    def precision_label(self) -> str:
        """"float32", "int8", "binary + rescore 100"...; "" for BM25 (no vectors)."""
        if not self.uses_vectors:
            return ""
        return self.precision + (f" + rescore {RESCORE_TOP}" if self.rescore and self.precision != "float32" else "")

    @property
    def label(self) -> str:
        instr = self.instruction_name or ("custom" if self.instruction.strip() else "no instruction")
        parts = [
            instr,
            f"≤{self.max_tokens} tok" if self.max_tokens else "full text",
            f"{self.dimensions} d" if self.dimensions else "full dim",
        ]
        if not self.uses_vectors:
            parts = [_MODE_LABELS["bm25"], parts[1]]
        elif self.mode != "dense":
            parts.insert(0, _MODE_LABELS[self.mode])
        if self.chunked:
            parts.append(f"chunks {self.chunk_tokens}")
        if self.uses_vectors and self.precision != "float32":
            parts.append(self.precision_label)
        return " · ".join(parts)

    def describe(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "precision": self.precision_label or "n/a",
            "instruction": self.instruction_name or ("custom" if self.instruction.strip() else "none"),
            "instruction_text": self.instruction,
            "max_tokens": self.max_tokens or "full",
            "dimensions": (self.dimensions or "full") if self.uses_vectors else "n/a",
            "documents": f"chunks of {self.chunk_tokens} tokens" if self.chunked else "whole",
        }


def make_grid(
    instructions: Sequence[tuple[str, str]],
    truncations: Sequence[int | None] = (None,),
    dimensions: Sequence[int | None] = (None,),
    chunking: Sequence[bool] = (False,),
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    modes: Sequence[str] = ("dense",),
    precisions: Sequence[tuple[str, bool]] = (("float32", False),),
) -> list[EvalConfig]:
    """Every combination of the chosen axes (instructions as (name, task) pairs, precisions as
    (precision, rescore) pairs), in a stable order. Combinations that are the same set-up once the
    mode's unused settings are reset (BM25 under two instructions) appear once."""
    seen: set[EvalConfig] = set()
    out = []
    for mode, (name, task), max_tok, chunked, dims, (precision, rescore) in itertools.product(
        modes, instructions, truncations, chunking, dimensions, precisions
    ):
        cfg = EvalConfig(task, name, max_tok, dims, chunked, chunk_tokens, mode, precision, rescore).canonical()
        if cfg not in seen:
            seen.add(cfg)
            out.append(cfg)
    return out


def _truncate(text: str, max_tokens: int | None) -> str:
    if max_tokens is None:
        return text
    from embedlab.tokens import truncate

    return truncate(text, max_tokens)


def _chunks(text: str, chunk_tokens: int) -> list[str]:
    from embedlab.chunking import chunk_text

    pieces = [text[c.start : c.end] for c in chunk_text(text, "recursive", max_tokens=chunk_tokens)]
    pieces = [p for p in pieces if p.strip()]
    return pieces or [text]


@dataclass
class GridPlan:
    """What a grid needs embedded, and how each configuration maps onto those texts."""

    dataset: LabelledSet
    configs: list[EvalConfig]
    texts: list[str] = field(default_factory=list)  # distinct model inputs, embed these
    # Per config: query text indices (n_queries,), document input indices, and the owning
    # document of each input (documents are scored by their best input). A BM25 configuration
    # embeds nothing: its query and document rows are empty.
    query_rows: list[np.ndarray] = field(default_factory=list)
    doc_rows: list[np.ndarray] = field(default_factory=list)
    doc_owner: list[np.ndarray] = field(default_factory=list)
    # Per config: the document inputs as text (aligned with doc_owner), what BM25 indexes. Equal
    # inputs across configurations are the same tuple object.
    doc_inputs: list[tuple[str, ...]] = field(default_factory=list)

    def _index(self, text: str, slots: dict[str, int]) -> int:
        if text not in slots:
            slots[text] = len(self.texts)
            self.texts.append(text)
        return slots[text]


def plan_grid(dataset: LabelledSet, configs: Sequence[EvalConfig]) -> GridPlan:
    """List the distinct inputs a grid needs; identical inputs across configurations are shared."""
    if not configs:
        raise ValueError("choose at least one configuration")
    plan = GridPlan(dataset, list(configs))
    slots: dict[str, int] = {}
    memo: dict[tuple, np.ndarray] = {}
    inputs: dict[tuple, tuple[tuple[str, ...], np.ndarray]] = {}
    empty = np.empty(0, dtype=np.int64)
    for cfg in configs:
        dkey = ("d", cfg.max_tokens, cfg.chunked, cfg.chunk_tokens if cfg.chunked else 0)
        if dkey not in inputs:
            texts, owner = [], []
            for i, doc in enumerate(dataset.documents):
                pieces = _chunks(doc.text, cfg.chunk_tokens) if cfg.chunked else [doc.text]
                for piece in pieces:
                    texts.append(_truncate(piece, cfg.max_tokens))
                    owner.append(i)
            inputs[dkey] = (tuple(texts), np.asarray(owner, dtype=np.int64))
        plan.doc_inputs.append(inputs[dkey][0])
        plan.doc_owner.append(inputs[dkey][1])
        if not cfg.uses_vectors:
            plan.query_rows.append(empty)
            plan.doc_rows.append(empty)
            continue
        qkey = ("q", cfg.instruction, cfg.max_tokens)
        if qkey not in memo:
            rows = [plan._index(_truncate(format_query(cfg.instruction, q.text), cfg.max_tokens), slots)
                    for q in dataset.queries]
            memo[qkey] = np.asarray(rows, dtype=np.int64)
        if dkey not in memo:
            memo[dkey] = np.asarray([plan._index(t, slots) for t in inputs[dkey][0]], dtype=np.int64)
        plan.query_rows.append(memo[qkey])
        plan.doc_rows.append(memo[dkey])
    return plan


@dataclass(frozen=True)
class ConfigResult:
    config: EvalConfig
    metrics: dict[str, float]  # macro averages, keys METRICS
    per_query: dict[str, dict[str, float]]  # query id -> metric -> value
    top_ids: dict[str, list[str]]  # query id -> top-10 document ids
    dimensions: int  # the size actually used (0 for BM25: no vectors)
    # query id -> 1-based rank of its first relevant document in the full ranking; None when no
    # relevant document was retrieved at all (BM25 shares no term with it, or outside the fusion).
    first_relevant: dict[str, int | None] = field(default_factory=dict)

    @property
    def bytes_per_vector(self) -> int | None:
        """Bytes of one searched vector at this precision; None for BM25."""
        if not self.config.uses_vectors or not self.dimensions:
            return None
        return quantize.bytes_per_vector(self.dimensions, self.config.precision)

    @property
    def store_gb_per_million(self) -> float | None:
        """GB (10^9 bytes) of the searched vectors of 1M chunks; None for BM25."""
        size = self.bytes_per_vector
        return None if size is None else size * quantize.MILLION / 1e9


def max_sim(scores: np.ndarray, owner: np.ndarray, n_docs: int) -> np.ndarray:
    """Per document, the best score over its inputs (chunks).

    Args:
        scores: (n_queries, n_inputs); owner: (n_inputs,) document index of each input.
    Returns:
        (n_queries, n_docs).
    """
    out = np.full((scores.shape[0], n_docs), -np.inf, dtype=np.float64)
    np.maximum.at(out.T, owner, scores.T.astype(np.float64))
    return out


def oversized(configs: Sequence[EvalConfig], full: int) -> list[EvalConfig]:
    """Configurations asking for more dimensions than the model's `full` size."""
    return [c for c in configs if c.dimensions is not None and c.dimensions > full]


def relevance_labels(dataset: LabelledSet) -> np.ndarray:
    """bool (n_queries, n_docs): True where the document is relevant (grade >= 1) to the query."""
    index = {d: j for j, d in enumerate(dataset.doc_ids)}
    labels = np.zeros((len(dataset.queries), len(dataset.documents)), dtype=bool)
    for i, q in enumerate(dataset.queries):
        for doc, grade in q.relevant.items():
            if grade >= 1:
                labels[i, index[doc]] = True
    return labels


def _bm25_scores(plan: GridPlan, i: int, cache: IndexCache, memo: dict[int, np.ndarray]) -> np.ndarray:
    """Document BM25 scores (n_queries, n_docs) of configuration i: its inputs' best (0 = no match)."""
    inputs = plan.doc_inputs[i]
    if id(inputs) not in memo:  # configurations with the same inputs share one index and one scoring
        index = cache.get(f"eval:{plan.dataset.name}", inputs)
        per_input = index.score_matrix([q.text for q in plan.dataset.queries])
        memo[id(inputs)] = max_sim(per_input, plan.doc_owner[i], len(plan.dataset.documents))
    return memo[id(inputs)]


def config_scores(plan: GridPlan, vectors: np.ndarray, i: int, cache: IndexCache | None = None,
                  _memo: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """The document scores configuration i ranks by: float64 (n_queries, n_docs).

    dense: cosine similarity of the best input at the configuration's precision; bm25: the best
    input's BM25 score, -inf where no term matches (not retrieved); hybrid: the fused ranking as
    decreasing scores, -inf outside the fused candidates (see fusion.fused_matrix).

    Args:
        vectors: (len(plan.texts), full_dim) float32, rows L2-normalised, aligned with plan.texts.
        cache: where BM25 indices are kept (keyword.DEFAULT_CACHE when None).
    """
    cfg, owner, n_docs = plan.configs[i], plan.doc_owner[i], len(plan.dataset.documents)
    memo = {} if _memo is None else _memo
    lexical = None if cfg.mode == "dense" else _bm25_scores(plan, i, DEFAULT_CACHE if cache is None else cache, memo)
    if not cfg.uses_vectors:
        return np.where(lexical > 0, lexical, -np.inf)
    full = vectors.shape[1]
    if cfg.dimensions is not None and cfg.dimensions > full:
        raise ValueError(f"{cfg.dimensions} dimensions requested but the model gives {full}")
    q = normalize_rows(vectors[plan.query_rows[i]], cfg.dimensions)
    d = normalize_rows(vectors[plan.doc_rows[i]], cfg.dimensions)
    top = RESCORE_TOP if cfg.rescore and cfg.precision != "float32" else None
    dense = max_sim(quantize.scores(q, d, cfg.precision, top), owner, n_docs)
    if cfg.mode == "dense":
        return dense
    return fusion.fused_matrix("rrf" if cfg.mode == "hybrid-rrf" else "weighted", dense, lexical)


def _first_relevant(scores: np.ndarray, doc_ids: Sequence[str], queries: Sequence[Query]) -> dict[str, int | None]:
    order = rank_order(scores)
    out: dict[str, int | None] = {}
    for row, q in enumerate(queries):
        flags = (q.relevant.get(doc_ids[j], 0) >= 1 and np.isfinite(scores[row, j]) for j in order[row])
        rr = reciprocal_rank(flags)
        out[q.id] = round(1 / rr) if rr else None
    return out


def score_grid(plan: GridPlan, vectors: np.ndarray, skip_oversized: bool = False,
               cache: IndexCache | None = None) -> list[ConfigResult]:
    """Metrics of every configuration from the embedded plan texts.

    Args:
        vectors: (len(plan.texts), full_dim) float32, rows L2-normalised, aligned with plan.texts
            (may be (0, 0) when the grid is BM25 only).
        skip_oversized: leave out configurations with more dimensions than full_dim instead of
            raising ValueError (see `oversized` to list them).
        cache: where BM25 indices are kept (keyword.DEFAULT_CACHE when None); BM25 scores are
            computed once per distinct document inputs, whatever the number of configurations.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[0] != len(plan.texts):
        raise ValueError(f"{vectors.shape[0]} vectors for {len(plan.texts)} texts")
    full = vectors.shape[1] if vectors.ndim == 2 else 0
    doc_ids = plan.dataset.doc_ids
    memo: dict[int, np.ndarray] = {}
    results = []
    for i, cfg in enumerate(plan.configs):
        if skip_oversized and cfg.uses_vectors and cfg.dimensions is not None and cfg.dimensions > full:
            continue
        scores = config_scores(plan, vectors, i, cache, memo)
        per_query = evaluate_scores(scores, doc_ids, plan.dataset.queries)
        top = rank_order(scores, 10)
        results.append(ConfigResult(
            cfg, mean_metrics(per_query), per_query,
            {qq.id: [doc_ids[j] for j in top[r]] for r, qq in enumerate(plan.dataset.queries)},
            (cfg.dimensions or full) if cfg.uses_vectors else 0,
            _first_relevant(scores, doc_ids, plan.dataset.queries),
        ))
    return results


def run_grid(
    dataset: LabelledSet,
    configs: Sequence[EvalConfig],
    embedder: Embedder,
    progress: ProgressCallback | None = None,
) -> list[ConfigResult]:
    """Plan, embed (once, at full size) and score a grid; for scripts and the CLI."""
    plan = plan_grid(dataset, configs)
    if not plan.texts:  # BM25 only: nothing to embed, no request sent
        return score_grid(plan, np.zeros((0, 0), dtype=np.float32))
    return score_grid(plan, embedder.embed(plan.texts, progress=progress))


# --- tables and export -------------------------------------------------------------------------


def results_table(results: Sequence[ConfigResult], baseline: int | None = 0,
                  metric: str = MAIN_METRIC) -> list[dict[str, object]]:
    """One row per configuration: settings, mean metrics and wins/losses/ties vs `baseline`.

    Settings include mode, precision, dimensions (0 for BM25), bytes per vector and the size of
    1M searched vectors in GB (None for BM25).
    """
    rows = []
    for i, res in enumerate(results):
        # Scores first so they are visible in a narrow table; settings (and the long task text) last.
        row: dict[str, object] = {"configuration": res.config.label}
        row.update({m: round(res.metrics[m], 4) for m in METRICS})
        if baseline is not None:
            # The baseline's own counts are left empty (None), not 0 / 0 / n, to avoid misreading.
            cmp = compare_per_query(results[baseline].per_query, res.per_query, metric)
            row.update(cmp if i != baseline else dict.fromkeys(cmp))
            row["baseline"] = i == baseline
        settings = res.config.describe()
        task = settings.pop("instruction_text")
        row.update(settings)
        row["dimensions"] = res.dimensions
        row["bytes per vector"] = res.bytes_per_vector
        gb = res.store_gb_per_million
        row["1M vectors (GB)"] = None if gb is None else round(gb, 3)
        row["instruction_text"] = task
        rows.append(row)
    return rows


def per_query_table(results: Sequence[ConfigResult], dataset: LabelledSet,
                    metric: str = MAIN_METRIC) -> list[dict[str, object]]:
    """One row per query: its text and `metric` under each configuration."""
    rows = []
    for q in dataset.queries:
        row: dict[str, object] = {"query id": q.id, "query": q.text}
        for res in results:
            row[res.config.label] = round(res.per_query[q.id][metric], 4)
        rows.append(row)
    return rows


def top_documents_table(results: Sequence[ConfigResult], dataset: LabelledSet, query_id: str,
                        k: int = 5, preview_chars: int = 60) -> list[dict[str, object]]:
    """Rank by rank, each configuration's document for one query: "✓ id · text" (✓ = relevant)."""
    query = next(q for q in dataset.queries if q.id == query_id)
    texts = {d.id: d.text for d in dataset.documents}
    rows = []
    for rank in range(min(k, len(dataset.documents))):
        row: dict[str, object] = {"rank": rank + 1}
        for res in results:
            doc = res.top_ids[query_id][rank]
            mark = "✓" if query.relevant.get(doc, 0) >= 1 else "✗"
            preview = " ".join(texts[doc].split())[:preview_chars]
            row[res.config.label] = f"{mark} {doc} · {preview}"
        rows.append(row)
    return rows


@dataclass(frozen=True)
class RankChange:
    """One query's first relevant document in configuration A and in B.

    rank_a / rank_b: 1-based rank, None when it is not within the top k (or not retrieved);
    change: rank_a - rank_b with None counted as k + 1 (positive = B ranks it higher);
    label: "fixed" (B ranks it higher), "broke" (lower) or "same".
    """

    query_id: str
    query: str
    rank_a: int | None
    rank_b: int | None
    change: int
    label: str


def compare_ranks(a: ConfigResult, b: ConfigResult, dataset: LabelledSet, k: int = 100) -> list[RankChange]:
    """Per query, the rank of its first relevant document under A and under B, sorted by change:
    the queries B fixed most first, then the unchanged ones, then those B broke (worst last);
    equal changes keep query order. Raises ValueError when A and B cover different queries."""
    if set(a.first_relevant) != set(b.first_relevant) or set(a.first_relevant) != {q.id for q in dataset.queries}:
        raise ValueError("the two results cover different queries (or were computed without full rankings)")

    def cut(rank: int | None) -> int | None:
        return rank if rank is not None and rank <= k else None

    rows = []
    for q in dataset.queries:
        ra, rb = cut(a.first_relevant[q.id]), cut(b.first_relevant[q.id])
        change = (k + 1 if ra is None else ra) - (k + 1 if rb is None else rb)
        rows.append(RankChange(q.id, q.text, ra, rb, change, "fixed" if change > 0 else "broke" if change < 0 else "same"))
    return sorted(rows, key=lambda r: -r.change)  # stable: equal changes stay in query order


def rank_change_table(changes: Sequence[RankChange], k: int = 100) -> list[dict[str, object]]:
    """Rows of `compare_ranks` for display and export: a rank beyond k shows as ">k"."""
    def shown(rank: int | None) -> object:
        return f">{k}" if rank is None else rank

    return [{"query id": c.query_id, "query": c.query, "rank A": shown(c.rank_a), "rank B": shown(c.rank_b),
             "change": c.change, "result": c.label} for c in changes]


def rank_change_counts(changes: Sequence[RankChange]) -> dict[str, int]:
    """How many queries B fixed, broke and left the same."""
    out = {"fixed": 0, "broke": 0, "same": 0}
    for c in changes:
        out[c.label] += 1
    return out


def result_json(result: ConfigResult) -> dict[str, object]:
    """One configuration as the CLI prints it: mean metrics at top level, the configuration (mode,
    precision, rescore...), vector sizes, per-query metrics and first relevant ranks."""
    return {
        **{m: result.metrics[m] for m in METRICS},
        "config": {**asdict(result.config), "dimensions": result.dimensions},
        "bytes_per_vector": result.bytes_per_vector,
        "store_1m_vectors_gb": result.store_gb_per_million,
        "per_query": result.per_query,
        "first_relevant_rank": result.first_relevant,
    }


def results_json(results: Sequence[ConfigResult], dataset: LabelledSet, model_id: str = "",
                 baseline: int | None = 0) -> str:
    """The whole grid as JSON text (for the page's export)."""
    payload = {
        "dataset": dataset.name,
        "documents": len(dataset.documents),
        "queries": len(dataset.queries),
        "model": model_id,
        "baseline": results[baseline].config.label if baseline is not None and results else None,
        "results": [{"label": r.config.label, **result_json(r)} for r in results],
    }
    if baseline is not None and results:
        for entry, res in zip(payload["results"], results, strict=True):
            entry["vs_baseline"] = compare_per_query(results[baseline].per_query, res.per_query)
    return json.dumps(payload, ensure_ascii=False, indent=2)


def usable_dimensions(full: int, choices: Sequence[int | None] = DIMENSION_CHOICES) -> list[int | None]:
    """The Matryoshka sizes that fit a model of `full` dimensions (None = full)."""
    return [d for d in choices if d is None or d < full]



# --- the Evaluate page's form ------------------------------------------------------------------

MAX_CONFIGS = 48  # one click should stay affordable and the charts readable
MAX_INPUTS = 20_000  # distinct model inputs per run
FULL = "full"  # the choice meaning "no truncation" / "the model's full size"
TRUNCATIONS: dict[str, int | None] = {f"{t} tokens" if t else FULL: t for t in TRUNCATION_CHOICES}
DOCUMENT_MODES: dict[str, bool] = {"whole documents": False, "chunked (max-sim over chunks)": True}
RETRIEVAL_MODES: dict[str, str] = {
    "dense": "dense", "BM25": "bm25",
    f"hybrid (RRF, k={fusion.RRF_K})": "hybrid-rrf",
    f"hybrid (weighted, α={fusion.DEFAULT_ALPHA})": "hybrid-weighted",
}
PRECISION_CHOICES: dict[str, tuple[str, bool]] = {
    "float32": ("float32", False), "int8": ("int8", False),
    f"int8 + float rescore top {RESCORE_TOP}": ("int8", True),
    "binary": ("binary", False), f"binary + float rescore top {RESCORE_TOP}": ("binary", True),
}


class GridError(ValueError):
    """The chosen grid cannot run; str(error) says what to change."""


def dimension_options(full: int | None) -> list[str]:
    """The dimension choices for a model of `full` size: "full", then the smaller Matryoshka
    sizes as text (every size when the model's size is unknown)."""
    return [FULL, *(str(d) for d in usable_dimensions(full or 10**9) if d)]


@dataclass(frozen=True)
class GridChoices:
    """The values of the grid form, as its widgets hold them.

    instructions: (name, task) of each chosen instruction; an empty task means no instruction.
    custom: a typed task ("" = none), added as the configuration "custom".
    truncations, documents: keys of TRUNCATIONS and DOCUMENT_MODES; dimensions: from
        `dimension_options`; modes: keys of RETRIEVAL_MODES; precisions: keys of PRECISION_CHOICES.
    """

    instructions: tuple[tuple[str, str], ...]
    custom: str = ""
    truncations: tuple[str, ...] = (FULL,)
    dimensions: tuple[str, ...] = (FULL,)
    documents: tuple[str, ...] = ("whole documents",)
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    modes: tuple[str, ...] = ("dense",)
    precisions: tuple[str, ...] = ("float32",)

    def configs(self) -> list[EvalConfig]:
        """Every combination of the choices (empty when an axis has no value)."""
        instructions = [("none", "") if not task.strip() else (name, task) for name, task in self.instructions]
        if self.custom.strip():
            instructions.append(("custom", self.custom.strip()))
        return make_grid(
            instructions,
            [TRUNCATIONS[t] for t in self.truncations],
            [None if d == FULL else int(d) for d in self.dimensions],
            [DOCUMENT_MODES[m] for m in self.documents],
            int(self.chunk_tokens),
            [RETRIEVAL_MODES[m] for m in self.modes],
            [PRECISION_CHOICES[p] for p in self.precisions],
        )


def plan_choices(dataset: LabelledSet, choices: GridChoices) -> GridPlan:
    """The plan of the chosen grid (see `plan_grid`), within one run's limits.

    Raises:
        GridError: an empty axis, more than MAX_CONFIGS configurations or MAX_INPUTS inputs, or
            inputs that cannot be prepared; the message says which.
    """
    configs = choices.configs()
    if not configs:
        raise GridError("Choose at least one value on every axis (instruction, truncation, dimensions, documents, "
                        "mode, precision).")
    if len(configs) > MAX_CONFIGS:
        raise GridError(f"{len(configs)} configurations is too many for one run; choose at most {MAX_CONFIGS}.")
    try:
        plan = plan_grid(dataset, configs)
    except ValueError as exc:
        raise GridError(f"Could not prepare the inputs: {exc}") from None
    if len(plan.texts) > MAX_INPUTS:
        raise GridError(f"This grid needs {len(plan.texts):,} distinct inputs; at most {MAX_INPUTS:,} per run.")
    return plan


@dataclass(frozen=True)
class RunInfo:
    """What one run of the page's grid did, for the lines above its results."""

    model: str
    texts: int  # distinct inputs of the plan
    new: int  # of those, embedded during the run (the rest came from the cache)
    seconds: float
    skipped: tuple[str, ...] = ()  # labels of configurations asking for more dimensions than the model gives

    @classmethod
    def of(cls, plan: GridPlan, full_dim: int, model: str, new: int, seconds: float) -> RunInfo:
        """The info of a run that embedded `plan` at `full_dim` dimensions."""
        return cls(model, len(plan.texts), new, seconds, tuple(c.label for c in oversized(plan.configs, full_dim)))

    @property
    def inputs_line(self) -> str:
        """How many inputs the run needed, how many were new, and its time."""
        return (f"{self.texts:,} distinct inputs: {self.new:,} embedded now, "
                f"{self.texts - self.new:,} from the cache · {self.seconds:.1f} s")

    @property
    def skipped_line(self) -> str:
        """The warning about skipped configurations; "" when none was skipped."""
        if not self.skipped:
            return ""
        return (f"Skipped {len(self.skipped)} configuration(s) asking for more dimensions than the model "
                "gives: " + "; ".join(self.skipped))


def describe_set(dataset: LabelledSet, model: str) -> str:
    """One line naming the set, its size and the model."""
    return (f"Set: {dataset.name} · {len(dataset.documents)} documents · {len(dataset.queries)} queries · "
            f"model {model}")


def preview_rows(dataset: LabelledSet) -> list[dict[str, str]]:
    """One row per query: id, text and its judged documents as "id (grade)"."""
    return [{"id": q.id, "query": q.text, "relevant": ", ".join(f"{d} ({g})" for d, g in q.relevant.items())}
            for q in dataset.queries]


def query_choices(dataset: LabelledSet, width: int = 80) -> dict[str, str]:
    """Query id -> "id · first words" (one line, at most `width` characters of text), in query order."""
    from embedlab.text import one_line

    return {q.id: f"{q.id} · {one_line(q.text, width)}" for q in dataset.queries}


def sweeps_dimensions(results: Sequence[ConfigResult]) -> bool:
    """True when some set-up (instruction, truncation, documents) was measured at two or more sizes."""
    sizes: dict[tuple, set[int]] = {}
    for res in results:
        cfg = res.config
        if not cfg.uses_vectors:
            continue
        key = (cfg.instruction_name, cfg.instruction, cfg.max_tokens, cfg.chunked and cfg.chunk_tokens,
               cfg.mode, cfg.precision, cfg.rescore)
        sizes.setdefault(key, set()).add(res.dimensions)
    return any(len(s) > 1 for s in sizes.values())
