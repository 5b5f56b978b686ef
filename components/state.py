"""Session-state keys, declared in one place, prefixed by page.

Widget keys vanish when a widget is not drawn (for example after a page switch), so values that
must survive navigation are kept under non-widget keys listed here.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

# Connection panel (sidebar, every page).
CONN_OVERRIDES = "conn.overrides"  # dict of Settings field -> value chosen in the sidebar
CONN_PROBE_NONCE = "conn.probe_nonce"  # bumped by "Test connection" to re-probe

DEFAULTS: dict[str, Any] = {
    CONN_OVERRIDES: {},
    CONN_PROBE_NONCE: 0,
}

# --- Instruction Lab (instr.) -------------------------------------------------------------------
# Applied values (non-widget keys: they survive page switches); widgets use "instr.w.*" keys.
INSTR_SAMPLE = "instr.sample"  # name of the sample set last loaded
INSTR_QUERIES = "instr.queries"  # list[str] applied queries; None = load the default sample
INSTR_DOCUMENTS = "instr.documents"  # list[str] applied documents
INSTR_PAIRS = "instr.pairs"  # list[[query text, document text]] relevance labels
INSTR_TEMPLATE = "instr.template"  # applied (validated) template
INSTR_SYMMETRIC = "instr.symmetric"  # bool: instruct documents too
INSTR_CHOICE = "instr.choice"  # name of the chosen instruction (picker value)
INSTR_COMPARE = "instr.compare"  # list of up to three instruction names for the bar chart
INSTR_ACTIVE = "instr.active"  # bool: "Compare" was clicked, results are shown from then on
INSTR_TOP_K = "instr.top_k"  # documents per query in the ranking table
INSTR_FLASH = "instr.flash"  # list of (kind, message) to show once after a callback
DEFAULTS.update(
    {
        INSTR_SAMPLE: "HR policy questions (English)",
        INSTR_QUERIES: None,
        INSTR_DOCUMENTS: [],
        INSTR_PAIRS: [],
        INSTR_TEMPLATE: "Instruct: {task}\nQuery:{query}",
        INSTR_SYMMETRIC: False,
        INSTR_CHOICE: "Web search (Qwen default)",
        INSTR_COMPARE: [],
        INSTR_ACTIVE: False,
        INSTR_TOP_K: 3,
        INSTR_FLASH: [],
    }
)

# --- Chunking (chunk.) --------------------------------------------------------------------------
# Applied values survive page switches; widgets use "chunk.w.*" keys, seeded from these.
CHUNK_SOURCE = "chunk.source"  # "Sample", "Paste" or "Upload"
CHUNK_SAMPLE = "chunk.sample"  # title of the bundled sample shown
CHUNK_PASTED = "chunk.pasted"  # the pasted text
CHUNK_UPLOADED = "chunk.uploaded"  # {"name", "text", "encoding"} of the last good upload, or None
CHUNK_STRATEGY = "chunk.strategy"  # one of embedlab.chunking.STRATEGIES
CHUNK_SIZE = "chunk.size"  # token budget per chunk
CHUNK_OVERLAP = "chunk.overlap"  # overlap in tokens
CHUNK_STEP = "chunk.step"  # 1-based chunk highlighted by the step slider
CHUNK_QUERY = "chunk.query"  # the matching query
CHUNK_DOC_LIMIT = "chunk.doc_limit"  # token limit for embedding the whole document
CHUNK_MATCH = "chunk.match"  # dict with the last matching results and the inputs they belong to
DEFAULTS.update(
    {
        CHUNK_SOURCE: "Sample",
        CHUNK_SAMPLE: "",
        CHUNK_PASTED: "",
        CHUNK_UPLOADED: None,
        CHUNK_STRATEGY: "recursive",
        CHUNK_SIZE: 256,
        CHUNK_OVERLAP: 0,
        CHUNK_STEP: 1,
        CHUNK_QUERY: "",
        CHUNK_DOC_LIMIT: 2048,
        CHUNK_MATCH: None,
    }
)

# --- Clusters (umap.) ---------------------------------------------------------------------------
# Widgets use "umap.w.*" keys; these non-widget keys survive page switches.
UMAP_REQUEST = "umap.request"  # components.clusters.MapRequest of the last "Build maps", or None
UMAP_VECTORS = "umap.vectors"  # {"key": ..., "plain": array, "instructed": array} for the request's data
UMAP_QUERIES = "umap.queries"  # text of the queries box (one query per line)
DEFAULTS.update({UMAP_REQUEST: None, UMAP_VECTORS: None, UMAP_QUERIES: ""})

# --- Search (search.) ---------------------------------------------------------------------------
# Widgets use "search.w.*" keys; these non-widget keys survive page switches.
SEARCH_ACTIVE = "search.active"  # name of the collection being worked on, or None
SEARCH_RESULT = "search.result"  # components.search_ui.QueryOutcome of the last query, or None
SEARCH_INGEST_REPORT = "search.ingest_report"  # list of embedlab.ingest.IngestReport of the last run
SEARCH_EXPORT = "search.export"  # {"name", "vectors", "data"} prepared JSONL export, or None
SEARCH_NOTICE = "search.notice"  # a one-off success message shown after a rerun, or ""
DEFAULTS.update(
    {SEARCH_ACTIVE: None, SEARCH_RESULT: None, SEARCH_INGEST_REPORT: [], SEARCH_EXPORT: None, SEARCH_NOTICE: ""}
)

# --- Evaluate (eval.) ---------------------------------------------------------------------------
# Results survive page switches; widgets use "eval.w.*" keys.
EVAL_RESULTS = "eval.results"  # list[evaluation.ConfigResult] of the last run, [] before any
EVAL_DATASET = "eval.dataset"  # the evaluation.LabelledSet those results were computed on
EVAL_RUN_INFO = "eval.run_info"  # dict: model, texts, new (embedded this run), seconds, skipped
DEFAULTS.update({EVAL_RESULTS: [], EVAL_DATASET: None, EVAL_RUN_INFO: {}})

# --- Benchmark (bench.) -------------------------------------------------------------------------
BENCH_RESULTS = "bench.results"  # list of Measurement dicts from the last (possibly stopped) run
BENCH_RUN_INFO = "bench.run_info"  # what was asked for in the last run, for the summary line
DEFAULTS.update({BENCH_RESULTS: [], BENCH_RUN_INFO: {}})


def mark_bench_stopped() -> None:
    """Callback of the benchmark's Stop button: the last run was cut short on purpose."""
    st.session_state[BENCH_RUN_INFO] = {**st.session_state[BENCH_RUN_INFO], "stopped": True}


def init_state() -> None:
    """Give every declared key its default once per browser session."""
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, dict | list) else value
