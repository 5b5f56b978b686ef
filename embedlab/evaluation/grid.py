"""A grid of retrieval configurations scored on a labelled set.

A grid of configurations (instruction x truncation x dimensions x chunking) is run in two steps so
that a page can show progress with its own widget: `plan_grid` lists every distinct input string
the grid needs (embed them once, through the cache, at the model's full size), then `score_grid`
computes every configuration from those vectors. Matryoshka sizes are derived client-side by
truncating and re-normalising the full vectors, so a dimension sweep costs no extra request.

Two more axes: the retrieval `mode` (dense embeddings; BM25 over the same document inputs, see
embedlab.keyword; hybrid by reciprocal-rank or weighted fusion, see embedlab.fusion) and the vector
`precision` (float32, int8, binary, optionally rescoring the top 100 in float32, see
embedlab.quantize). BM25 needs no embeddings: a BM25-only configuration adds no input to embed.
Documents are always scored by their best input (max over chunks), for BM25 as for dense.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from embedlab import fusion, quantize
from embedlab.backends import Embedder, ProgressCallback, normalize_rows
from embedlab.chunking import chunk_text
from embedlab.evaluation.datasets import LabelledSet, Query
from embedlab.evaluation.metrics import evaluate_scores, mean_metrics
from embedlab.instructions import format_query
from embedlab.keyword import DEFAULT_CACHE, IndexCache
from embedlab.messages import N_
from embedlab.ranking import rank_order, reciprocal_rank
from embedlab.tokens import truncate

TRUNCATION_CHOICES: tuple[int | None, ...] = (None, 2048, 512)
DIMENSION_CHOICES: tuple[int | None, ...] = (None, 512, 256, 128, 64, 32)
DEFAULT_CHUNK_TOKENS = 256
MODES = ("dense", "bm25", "hybrid-rrf", "hybrid-weighted")
PRECISIONS = quantize.PRECISIONS
RESCORE_TOP = quantize.RESCORE_TOP
_MODE_LABELS = {"bm25": "BM25", "hybrid-rrf": N_("hybrid RRF k={k}"), "hybrid-weighted": N_("hybrid weighted α={alpha}")}


def _same(text: str) -> str:
    return text



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

    def precision_text(self, gettext: Callable[[str], str] = _same) -> str:
        """"float32", "int8", "binary + rescore 100"...; "" for BM25 (no vectors)."""
        if not self.uses_vectors:
            return ""
        if self.rescore and self.precision != "float32":
            return gettext(N_("{precision} + rescore {n}")).format(precision=self.precision, n=RESCORE_TOP)
        return self.precision

    @property
    def precision_label(self) -> str:
        """The precision in English (tables, exports); see `precision_text`."""
        return self.precision_text()

    def display_label(self, gettext: Callable[[str], str] = _same) -> str:
        """The configuration in a few words ("HR policy · ≤512 tok · 256 d"), in the language of
        `gettext`; instruction names pass through it too (preset names are in the catalog, a
        user's own name comes back unchanged)."""
        instr = (gettext(self.instruction_name) if self.instruction_name
                 else gettext(N_("custom")) if self.instruction.strip() else gettext(N_("no instruction")))
        parts = [
            instr,
            gettext(N_("≤{n} tok")).format(n=self.max_tokens) if self.max_tokens else gettext(N_("full text")),
            gettext(N_("{n} d")).format(n=self.dimensions) if self.dimensions else gettext(N_("full dim")),
        ]
        if not self.uses_vectors:
            parts = [_MODE_LABELS["bm25"], parts[1]]
        elif self.mode != "dense":
            parts.insert(0, gettext(_MODE_LABELS[self.mode]).format(k=fusion.RRF_K, alpha=fusion.DEFAULT_ALPHA))
        if self.chunked:
            parts.append(gettext(N_("chunks {n}")).format(n=self.chunk_tokens))
        if self.uses_vectors and self.precision != "float32":
            parts.append(self.precision_text(gettext))
        return " · ".join(parts)

    @property
    def label(self) -> str:
        """The configuration in a few English words (tables, exports, the CLI); see `display_label`."""
        return self.display_label()

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
    return truncate(text, max_tokens)


def _chunks(text: str, chunk_tokens: int) -> list[str]:
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
    metrics: dict[str, float]  # macro averages, keys metrics.METRICS
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

def usable_dimensions(full: int, choices: Sequence[int | None] = DIMENSION_CHOICES) -> list[int | None]:
    """The Matryoshka sizes that fit a model of `full` dimensions (None = full)."""
    return [d for d in choices if d is None or d < full]
