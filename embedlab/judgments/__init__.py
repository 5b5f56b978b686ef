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

Modules: `base` (JudgeError, grades, chunk and query keys), `configs` (JudgeConfig and its checks),
`queries` (query input, rater names), `pools` (build_pools), `store` (JudgmentStore), `grades`
(whose grades count, what to judge next), `exports` (qrels, runs, labelled sets, qrels import).
Every public name is importable from here: `from embedlab import judgments as jd; jd.build_pools(...)`.
"""

from __future__ import annotations

from embedlab.judgments.base import (
    GRADE_LABELS,
    GRADES,
    LLM,
    LLM_PREFIX,
    PERSON,
    JudgeError,
    chunk_key,
    query_id,
)
from embedlab.judgments.configs import (
    COLLECTION_INSTRUCTION,
    CONFIG_NAMES,
    DIMENSION_CHOICES,
    LENGTH_CHOICES,
    MAX_CONFIGS,
    MIN_CONFIGS,
    MODE_LABELS,
    MODES,
    JudgeConfig,
    check_configs,
    config_name,
    guide_configs,
)
from embedlab.judgments.exports import (
    LabelledExport,
    QrelsImport,
    labelled_set,
    parse_qrels,
    qrels_lines,
    run_lines,
)
from embedlab.judgments.grades import (
    LLM_SOURCE,
    PEOPLE,
    judged_by,
    next_item,
    raters,
    select_grades,
)
from embedlab.judgments.pools import (
    CONTEXT_CHARS,
    DEDUPE_SLACK,
    DEFAULT_K,
    MAX_K,
    RERANK_FETCH,
    Experiment,
    PoolBuild,
    PoolItem,
    StageProgress,
    build_pools,
)
from embedlab.judgments.queries import (
    MAX_QUERIES,
    MAX_QUERY_CHARS,
    MAX_RATER_CHARS,
    bundled_for_collection,
    bundled_queries,
    bundled_query_sets,
    clean_queries,
    queries_from_file,
    queries_from_text,
    validate_rater,
)
from embedlab.judgments.store import (
    DB_FILE,
    Judgment,
    JudgmentStore,
    LLMCall,
)

__all__ = [
    "COLLECTION_INSTRUCTION",
    "CONFIG_NAMES",
    "CONTEXT_CHARS",
    "DB_FILE",
    "DEDUPE_SLACK",
    "DEFAULT_K",
    "DIMENSION_CHOICES",
    "Experiment",
    "GRADES",
    "GRADE_LABELS",
    "JudgeConfig",
    "JudgeError",
    "Judgment",
    "JudgmentStore",
    "LENGTH_CHOICES",
    "LLM",
    "LLMCall",
    "LLM_PREFIX",
    "LLM_SOURCE",
    "LabelledExport",
    "MAX_CONFIGS",
    "MAX_K",
    "MAX_QUERIES",
    "MAX_QUERY_CHARS",
    "MAX_RATER_CHARS",
    "MIN_CONFIGS",
    "MODES",
    "MODE_LABELS",
    "PEOPLE",
    "PERSON",
    "PoolBuild",
    "PoolItem",
    "QrelsImport",
    "RERANK_FETCH",
    "StageProgress",
    "build_pools",
    "bundled_for_collection",
    "bundled_queries",
    "bundled_query_sets",
    "check_configs",
    "chunk_key",
    "clean_queries",
    "config_name",
    "guide_configs",
    "judged_by",
    "labelled_set",
    "next_item",
    "parse_qrels",
    "qrels_lines",
    "queries_from_file",
    "queries_from_text",
    "query_id",
    "raters",
    "run_lines",
    "select_grades",
    "validate_rater",
]
