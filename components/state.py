"""Session-state keys, declared in one place, prefixed by page, and the one way to keep them.

Two kinds of keys:
- `value(key, default)`: state the app writes itself (applied texts, results). It lives until the
  browser session ends.
- `widget(key, default)`: the key of an input widget. Streamlit drops a widget's value when the
  widget is not drawn in a run (another page is open), so `keep_widget_values()`, called by
  `page.setup` before anything is drawn, re-saves every declared widget key that has a value.
  Widgets declared here are drawn with `key=` only (no `value=`/`index=`): their starting value is
  the default given here, seeded once per session by `init_state()`. `UNSET` means no seed: the
  widget starts from its own first option, and is kept from then on.

- `transient(key)`: a widget whose value is read through st.session_state but cannot be kept
  (file uploaders and buttons: Streamlit refuses to set them).

Buttons, uploaders, downloads and charts that are only drawn keep literal keys. Every key whose
value a component reads or writes through st.session_state is declared here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

UNSET: Any = object()  # widget default meaning "let the widget choose"

VALUES: dict[str, Any] = {}
WIDGETS: dict[str, Any] = {}
TRANSIENT: set[str] = set()


def value(key: str, default: Any) -> str:
    """Declare a non-widget key with its default; returns the key."""
    assert key not in VALUES and key not in WIDGETS and key not in TRANSIENT, f"{key} declared twice"
    VALUES[key] = default
    return key


def widget(key: str, default: Any = UNSET) -> str:
    """Declare a widget key whose value is kept across page switches; returns the key."""
    assert key not in VALUES and key not in WIDGETS and key not in TRANSIENT, f"{key} declared twice"
    WIDGETS[key] = default
    return key


def transient(key: str) -> str:
    """Declare an uploader or button key that is read through st.session_state; returns the key."""
    assert key not in VALUES and key not in WIDGETS and key not in TRANSIENT, f"{key} declared twice"
    TRANSIENT.add(key)
    return key


def _fresh(default: Any) -> Any:
    return default.copy() if isinstance(default, dict | list | set) else default


def init_state() -> None:
    """Give every declared key its default once per browser session."""
    ss = st.session_state
    for key, default in VALUES.items():
        if key not in ss:
            ss[key] = _fresh(default)
    for key, default in WIDGETS.items():
        if key not in ss and default is not UNSET:
            ss[key] = _fresh(default)


def keep_widget_values() -> None:
    """Re-save the declared widget keys, so a page that is not drawn keeps its inputs.

    Writing a widget key back before its widget is drawn turns it into plain session state,
    which Streamlit does not clean up (its documented way to keep widget values across pages).
    """
    ss = st.session_state
    for key in WIDGETS:
        if key in ss:
            ss[key] = ss[key]


def keep_valid(key: str, options: Sequence[Any], fallback: Any = UNSET) -> None:
    """Before drawing a choice widget: drop (or replace by `fallback`) a kept value that is no
    longer an option (a deleted collection or instruction), which the widget would refuse."""
    ss = st.session_state
    if key in ss and ss[key] not in options:
        if fallback is UNSET or fallback not in options:
            del ss[key]
        else:
            ss[key] = fallback


# --- Connection panel (sidebar, every page) --------------------------------------------------------
CONN_OVERRIDES = value("conn.overrides", {})  # Settings field -> value chosen in the sidebar
CONN_PROBE_NONCE = value("conn.probe_nonce", 0)  # bumped by "Test connection" to re-probe

# --- Instruction Lab (instr.) ----------------------------------------------------------------------
INSTR_SAMPLE = value("instr.sample", "HR policy questions (English)")  # sample set last loaded
INSTR_QUERIES = value("instr.queries", None)  # list[str] applied queries; None = load the default sample
INSTR_DOCUMENTS = value("instr.documents", [])  # list[str] applied documents
INSTR_PAIRS = value("instr.pairs", [])  # list[[query text, document text]] relevance labels
INSTR_TEMPLATE = value("instr.template", "Instruct: {task}\nQuery:{query}")  # applied (validated) template
INSTR_SYMMETRIC = value("instr.symmetric", False)  # bool: instruct documents too
INSTR_CHOICE = value("instr.choice", "Web search (Qwen default)")  # name of the chosen instruction
INSTR_COMPARE = value("instr.compare", [])  # up to three instruction names for the bar chart
INSTR_ACTIVE = value("instr.active", False)  # bool: "Compare" was clicked, results are shown from then on
INSTR_TOP_K = value("instr.top_k", 3)  # documents per query in the ranking table
INSTR_FLASH = value("instr.flash", [])  # (kind, message) pairs to show once after a callback

# --- Chunking (chunk.) -----------------------------------------------------------------------------
CHUNK_SOURCE = value("chunk.source", "Sample")  # "Sample", "Paste" or "Upload"
CHUNK_SAMPLE = value("chunk.sample", "")  # title of the bundled sample shown
CHUNK_PASTED = value("chunk.pasted", "")  # the pasted text
CHUNK_UPLOADED = value("chunk.uploaded", None)  # {"name", "text", "encoding", "file_id"} of the last good upload
CHUNK_STRATEGY = value("chunk.strategy", "recursive")  # one of embedlab.chunking.STRATEGIES
CHUNK_SIZE = value("chunk.size", 256)  # token budget per chunk
CHUNK_OVERLAP = value("chunk.overlap", 0)  # overlap in tokens
CHUNK_STEP = value("chunk.step", 1)  # 1-based chunk highlighted by the step slider
CHUNK_QUERY = value("chunk.query", "")  # the matching query
CHUNK_DOC_LIMIT = value("chunk.doc_limit", 2048)  # token limit for embedding the whole document
CHUNK_MATCH = value("chunk.match", None)  # the last matching results and the inputs they belong to

# --- Clusters (umap.) ------------------------------------------------------------------------------
UMAP_REQUEST = value("umap.request", None)  # components.clusters.MapRequest of the last "Build maps"
UMAP_VECTORS = value("umap.vectors", None)  # {"key", "plain", "instructed"} vectors of the request's data
UMAP_QUERIES = value("umap.queries", "")  # text of the queries box (one query per line)

# --- Search (search.) ------------------------------------------------------------------------------
SEARCH_ACTIVE = value("search.active", None)  # name of the collection being worked on
SEARCH_RESULT = value("search.result", None)  # QueryOutcome of the last query
SEARCH_INGEST_REPORT = value("search.ingest_report", [])  # IngestReports of the last run
SEARCH_EXPORT = value("search.export", None)  # {"name", "vectors", "data", "rows"} prepared JSONL export
SEARCH_NOTICE = value("search.notice", "")  # a one-off success message shown after a rerun

# --- Evaluate (eval.) ------------------------------------------------------------------------------
EVAL_RESULTS = value("eval.results", [])  # list[evaluation.ConfigResult] of the last run
EVAL_DATASET = value("eval.dataset", None)  # the evaluation.LabelledSet those results were computed on
EVAL_RUN_INFO = value("eval.run_info", {})  # model, texts, new (embedded this run), seconds, skipped

# --- Benchmark (bench.) ----------------------------------------------------------------------------
BENCH_RESULTS = value("bench.results", [])  # Measurement dicts of the last (possibly stopped) run
BENCH_RUN_INFO = value("bench.run_info", {})  # what the last run asked for, for the summary line
BENCH_LENGTHS = widget("bench.lengths", ["short", "medium"])
BENCH_BATCHES = widget("bench.batches", [1, 8, 32])
BENCH_CONCURRENCY = widget("bench.concurrency", [1, 2, 4])
BENCH_REQUESTS = widget("bench.requests", 4)
BENCH_BUDGET = widget("bench.budget", 90)
BENCH_TARGET = widget("bench.target", 50.0)


def mark_bench_stopped() -> None:
    """Callback of the benchmark's Stop button: the last run was cut short on purpose."""
    st.session_state[BENCH_RUN_INFO] = {**st.session_state[BENCH_RUN_INFO], "stopped": True}
