"""Session-state keys, declared in one place, prefixed by page, and the one way to keep them.

Two kinds of keys:
- `value(key, default)`: state the app writes itself (applied texts, results). It lives until the
  browser session ends.
- `widget(key, default)`: the key of an input widget, drawn with `key=` and
  `persist_state="session"` only (no `value=`/`index=`): Streamlit then keeps its value while the
  widget is not drawn (another page, a closed tab, a hidden source), without sending it back to
  the browser on every run, where it would replace what the user is typing. Its starting value is
  the default given here, seeded once per session by `init_state()`. `UNSET` means no seed: the
  widget starts from its own default (an empty text, the first option). Text boxes that start
  empty are not seeded: a seeded value reaches the browser a moment after the box appears.
- `transient(key)`: a widget whose value is read through st.session_state but cannot be kept
  (file uploaders and buttons: Streamlit refuses to set them).

Buttons, uploaders, downloads and charts that are only drawn keep literal keys. Every key whose
value a component reads or writes through st.session_state is declared here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from embedlab.evaluation.calibration import DEFAULT_PRECISION
from embedlab.evaluation.grid import DEFAULT_CHUNK_TOKENS
from embedlab.evaluation.metrics import MAIN_METRIC
from embedlab.fusion import DEFAULT_ALPHA
from embedlab.instructions import DEFAULT_TEMPLATE, PRESETS
from embedlab.stores.base import DEFAULT_THRESHOLD

UNSET: Any = object()  # widget default meaning "let the widget choose"
NO_INSTRUCTION = "(no instruction)"  # an instruction picker's value that means "embed the text as it is"
DEFAULT_INSTRUCTION = PRESETS[0].name  # Qwen's web-search instruction, where a picker starts

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


def keep_valid(key: str, options: Sequence[Any], fallback: Any = UNSET) -> None:
    """Before drawing a choice widget: drop (or replace by `fallback`) a kept value that is no
    longer an option (a deleted collection or instruction), which the widget would refuse."""
    ss = st.session_state
    if key in ss and ss[key] not in options:
        if fallback is UNSET or fallback not in options:
            del ss[key]
        else:
            ss[key] = fallback


# --- Language (sidebar, every page) --------------------------------------------------------------
# The 中文 / English switch; its key is also the URL's ?lang= parameter. Seeded by i18n.init_language.
APP_LANG = widget("lang")

# --- Connection panel (sidebar, every page) --------------------------------------------------------
CONN_OVERRIDES = value("conn.overrides", {})  # Settings field -> value chosen in the sidebar
CONN_PROBE_NONCE = value("conn.probe_nonce", 0)  # bumped by "Test connection" to re-probe
# Generation of the API key box, bumped by Apply: a new, empty box, so a key typed for one base URL
# is never sent again with a URL typed later (emptying the old box does not reach the browser).
CONN_KEY_BOX = value("conn.key_box", 0)

# --- Instruction Lab (instr.) ----------------------------------------------------------------------
# Applied values: texts, labels and the template count once applied (their inputs are in forms).
INSTR_QUERIES = value("instr.queries", None)  # list[str] applied queries; None = load the default sample
INSTR_DOCUMENTS = value("instr.documents", [])  # list[str] applied documents
INSTR_PAIRS = value("instr.pairs", [])  # list[[query text, document text]] relevance labels
INSTR_TEMPLATE = value("instr.template", DEFAULT_TEMPLATE)  # applied (validated) template
INSTR_ACTIVE = value("instr.active", False)  # bool: "Compare" was clicked, results are shown from then on
INSTR_RESULT = value("instr.result", None)  # (inputs, similarity.Comparison) of the last comparison
INSTR_FLASH = value("instr.flash", [])  # (kind, message) pairs to show once after a callback
INSTR_SAMPLE = widget("instr.w.sample", "IT service desk: ambiguous questions (English)")  # sample set to load
INSTR_QUERIES_INPUT = widget("instr.w.queries")  # queries text area (filled from the sample on first visit)
INSTR_DOCUMENTS_INPUT = widget("instr.w.documents")  # documents text area
INSTR_TEMPLATE_INPUT = widget("instr.w.template", DEFAULT_TEMPLATE)  # template text area
INSTR_SYMMETRIC = widget("instr.w.mode", False)  # bool: instruct documents too
INSTR_PICK = widget("instr.w.pick", DEFAULT_INSTRUCTION)  # name of the chosen instruction
INSTR_COMPARE = widget("instr.w.compare", [])  # up to three instruction names for the bar chart
INSTR_TOP_K = widget("instr.w.top_k", 3)  # documents per query in the ranking table
INSTR_EDIT_TARGET = widget("instr.w.edit_target", "(new instruction)")  # library entry being edited
INSTR_EDIT_NAME = widget("instr.w.edit_name")
INSTR_EDIT_TASK = widget("instr.w.edit_task")
INSTR_EDIT_NOTE = widget("instr.w.edit_note")
INSTR_IMPORT_FILE = transient("instr.w.import_file")  # library JSON to import
# Prefix of the labels grid's key: one key per text set, so edits of one set never land on another.
INSTR_LABELS_GRID = "instr.labels"

# --- Chunking (chunk.) -----------------------------------------------------------------------------
CHUNK_UPLOADED = value("chunk.uploaded", None)  # {"name", "text", "encoding", "file_id"} of the last good upload
CHUNK_UPLOAD_ERROR = value("chunk.upload_error", "")  # why the last upload was refused ("" when it was read)
CHUNK_MATCH = value("chunk.match", None)  # embedlab.chunking.ChunkMatch of the last "Embed chunks and match"
CHUNK_SOURCE = widget("chunk.w.source", "Sample")  # "Sample", "Paste" or "Upload"
CHUNK_SAMPLE = widget("chunk.w.sample")  # title of the bundled sample shown (the first to start with)
CHUNK_PASTED = widget("chunk.w.pasted")  # the pasted text
CHUNK_STRATEGY = widget("chunk.w.strategy", "recursive")  # one of embedlab.chunking.STRATEGIES
CHUNK_SIZE = widget("chunk.w.size", 256)  # token budget per chunk
CHUNK_OVERLAP = widget("chunk.w.overlap", 0)  # overlap in tokens, at most half the size
CHUNK_STEP = widget("chunk.w.step", 1)  # 1-based chunk highlighted by the step slider
CHUNK_INSTRUCTION = widget("chunk.w.instruction", DEFAULT_INSTRUCTION)  # picker: an instruction name
CHUNK_QUERY = widget("chunk.w.query")  # the matching query
CHUNK_DOC_LIMIT = widget("chunk.w.doc_limit", 2048)  # token limit for embedding the whole document

# --- Clusters (umap.) ------------------------------------------------------------------------------
UMAP_REQUEST = value("umap.request", None)  # embedlab.projection.mapdata.MapRequest of the last "Build maps"
UMAP_VECTORS = value("umap.vectors", None)  # {"key", "plain", "instructed"} vectors of the request's data
UMAP_UPLOAD_SEEN = value("umap.upload_seen", None)  # file id of the upload whose columns were guessed
UMAP_SOURCE = widget("umap.w.source", "Sample corpus")  # a key of views.clusters.SOURCES
UMAP_PER_TOPIC = widget("umap.w.per_topic", 52)  # every text of the sample corpus (52 per topic)
UMAP_TEXT_COL = widget("umap.w.text_col")  # set to a guess for each new upload
UMAP_LABEL_COL = widget("umap.w.label_col")  # likewise
UMAP_COLLECTION = widget("umap.w.collection")
UMAP_COLLECTION_LABEL = widget("umap.w.collection_label", "source")  # metadata field naming the document
UMAP_INSTRUCTION = widget("umap.w.instruction", "Clustering")  # instruction picker of the second map
UMAP_DIMS = widget("umap.w.dims", "2-D")
UMAP_N_NEIGHBORS = widget("umap.w.n_neighbors", 15)
UMAP_MIN_DIST = widget("umap.w.min_dist", 0.1)
UMAP_FIXED_SEED = widget("umap.w.fixed_seed", True)
UMAP_SEED = widget("umap.w.seed", 42)
UMAP_METHOD = widget("umap.w.method", "k-means")
UMAP_K_MODE = widget("umap.w.k_mode", "best silhouette")
UMAP_K = widget("umap.w.k", 6)
UMAP_MIN_CLUSTER_SIZE = widget("umap.w.min_cluster_size", 5)
UMAP_COLOUR_BY = widget("umap.w.colour_by", "label")  # "label" or "found cluster"
UMAP_QUERIES = widget("umap.w.queries")  # text of the queries box (one query per line)
UMAP_SEARCH = widget("umap.w.search")  # words to find in the mapped texts (highlighted on both maps)
UMAP_NAME_CLUSTERS = widget("umap.w.name_clusters", True)  # found clusters named by their terms on the maps
UMAP_EXPLORED = value("umap.explored", None)  # corpus key the selection and the picked text belong to
UMAP_LINKED = value("umap.linked", None)  # (map index, row tuple): texts selected on one map, ringed on both
UMAP_PICK = widget("umap.w.pick", -1)  # row of the text whose nearest neighbours are shown; -1: none
UMAP_LARGE = value("umap.large", None)  # name of the large stored collection whose map was asked for
UMAP_LARGE_COLOUR_BY = widget("umap.w.large_colour_by", "label")  # "label" (source) or "found cluster"
UMAP_LARGE_EXPLORED = value("umap.large_explored", None)  # (collection, version) the large map's pick belongs to
UMAP_LARGE_FIND = widget("umap.w.large_find")  # words narrowing the large map's chunk picker
UMAP_LARGE_PICK = widget("umap.w.large_pick", -1)  # row of the chunk whose nearest neighbours are shown; -1: none
UMAP_OVERLAY_QUERY = widget("umap.w.overlay_query")  # the question whose retrieval is drawn on the maps
UMAP_OVERLAY_K = widget("umap.w.overlay_k", 10)  # its top k per retrieval mode
UMAP_OVERLAY_SET_QUERY = widget("umap.w.overlay_set_query", -1)  # index of a labelled-set question (-1: own)
UMAP_OVERLAY_ASKED = value("umap.overlay_asked", None)  # (collection, question, k) of the last submitted question
UMAP_OVERLAY = value("umap.overlay", None)  # (key, views.clusters.overlay.Retrieved) of the drawn question

# --- Search (search.) ------------------------------------------------------------------------------
SEARCH_ACTIVE = value("search.active", None)  # name of the collection being worked on
SEARCH_RESULT = value("search.result", None)  # embedlab.retrieval.QueryOutcome of the last query
SEARCH_INGEST_REPORT = value("search.ingest_report", [])  # IngestReports of the last run
SEARCH_READ_AS = value("search.read_as", [])  # {"file", "read as", "documents"} per file of the last upload run
SEARCH_EXPORT = value("search.export", None)  # {"name", "vectors", "data", "rows"} prepared JSONL export
SEARCH_NOTICE = value("search.notice", "")  # a one-off success message shown after a rerun
SEARCH_EDIT_SEED = value("search.edit_seed", None)  # (name, description, threshold) the Manage form shows
SEARCH_COLLECTION = widget("search.w.collection")  # the collection picker; follows SEARCH_ACTIVE
SEARCH_NEW_NAME = widget("search.w.new_name")
SEARCH_NEW_DESCRIPTION = widget("search.w.new_description")
SEARCH_NEW_INSTRUCTION = widget("search.w.new_instruction", DEFAULT_INSTRUCTION)
SEARCH_NEW_THRESHOLD = widget("search.w.new_threshold", DEFAULT_THRESHOLD)
SEARCH_INGEST_SOURCE = widget("search.w.ingest_source", "Upload files")
SEARCH_PASTE_NAME = widget("search.w.paste_name", "pasted.txt")
SEARCH_PASTE_TEXT = widget("search.w.paste_text")
SEARCH_SAMPLE = widget("search.w.sample", "hr_policy")
SEARCH_STRATEGY = widget("search.w.strategy", "recursive")
SEARCH_MAX_TOKENS = widget("search.w.max_tokens", 256)
SEARCH_OVERLAP = widget("search.w.overlap", 0)
SEARCH_QUERY = widget("search.w.query")
SEARCH_K = widget("search.w.k", 5)
SEARCH_SOURCES = widget("search.w.sources", [])  # filtered to the open collection's sources before drawing
SEARCH_COMPARE = widget("search.w.compare", False)
SEARCH_RERANK = widget("search.w.rerank", False)
SEARCH_FETCH_N = widget("search.w.fetch_n", 50)
SEARCH_DETAIL = widget("search.w.detail", 0)  # index of the hit shown under "Why it matched"
SEARCH_EDIT_DESCRIPTION = widget("search.w.edit_description")  # seeded from the spec (SEARCH_EDIT_SEED)
SEARCH_EDIT_THRESHOLD = widget("search.w.edit_threshold")  # seeded from the spec (SEARCH_EDIT_SEED)
SEARCH_EDIT_INSTRUCTION = widget("search.w.edit_instruction", DEFAULT_INSTRUCTION)
SEARCH_EXPORT_VECTORS = widget("search.w.export_vectors", False)
SEARCH_DELETE_CONFIRM = widget("search.w.delete_confirm")
SEARCH_MODES = value("search.modes", None)  # (collection, retrieval.ModeLists) of the last hybrid query
SEARCH_MODE = widget("search.w.mode", "dense")  # a key of views.search.names.MODES
SEARCH_FUSION = widget("search.w.fusion", "rrf")  # one of embedlab.fusion.METHODS
SEARCH_ALPHA = widget("search.w.alpha", DEFAULT_ALPHA)  # weight of the dense side in weighted fusion

# --- Evaluate (eval.) ------------------------------------------------------------------------------
EVAL_RESULTS = value("eval.results", [])  # list[evaluation.grid.ConfigResult] of the last run
EVAL_DATASET = value("eval.dataset", None)  # the evaluation.datasets.LabelledSet of those results
EVAL_RUN_INFO = value("eval.run_info", None)  # evaluation.form.RunInfo of that run
EVAL_SOURCE = widget("eval.w.source", "Bundled set")  # or "Upload my own"
EVAL_BUNDLED = widget("eval.w.bundled")  # a key of evaluation.datasets.BUNDLED
EVAL_MAX_QUERIES = widget("eval.w.max_queries", 0)  # 0 = all
EVAL_INSTRUCTIONS = widget("eval.w.instructions", [NO_INSTRUCTION, "IT security policy"])  # picker names
EVAL_CUSTOM = widget("eval.w.custom")
EVAL_TRUNCATION = widget("eval.w.truncation", ["full"])  # keys of evaluation.form.TRUNCATIONS
EVAL_DIMENSIONS = widget("eval.w.dimensions", ["full"])  # from evaluation.form.dimension_options
EVAL_DOCUMENTS = widget("eval.w.documents", ["whole documents"])  # keys of evaluation.form.DOCUMENT_MODES
EVAL_CHUNK_TOKENS = widget("eval.w.chunk_tokens", DEFAULT_CHUNK_TOKENS)
EVAL_BASELINE = widget("eval.w.baseline", 0)  # index of the baseline configuration in the results
EVAL_METRIC = widget("eval.w.metric", MAIN_METRIC)
EVAL_DETAIL_QUERY = widget("eval.w.detail_query")  # query id of "Top documents for one query"
EVAL_MODES = widget("eval.w.modes", ["dense"])  # keys of evaluation.form.RETRIEVAL_MODES
EVAL_PRECISIONS = widget("eval.w.precisions", ["float32"])  # keys of evaluation.form.PRECISION_CHOICES
EVAL_COMPARE_A = widget("eval.w.compare_a", 0)  # index of configuration A in the results
EVAL_COMPARE_B = widget("eval.w.compare_b", 1)  # index of configuration B (reset to the last one per run)
EVAL_CALIBRATIONS = value("eval.calibrations", {})  # result index -> calibration.Calibration of the last run
EVAL_CALIB_CONFIG = widget("eval.w.calib_config")  # index of the dense configuration calibrated
EVAL_CALIB_PRECISION = widget("eval.w.calib_precision", DEFAULT_PRECISION)  # target precision
EVAL_APPLY_COLLECTION = widget("eval.w.apply_collection")  # Search collection whose threshold is set
EVAL_APPLY_WHICH = widget("eval.w.apply_which", "best F1")  # "best F1" or "precision target"

# --- Judge (judge.) --------------------------------------------------------------------------------
JUDGE_CONFIGS = value("judge.configs", None)  # list[judgments.JudgeConfig] of the next experiment; None = the guide's two
JUDGE_SKIPPED = value("judge.skipped", {})  # (experiment id, rater) -> [(query, chunk key)] skipped in this session
JUDGE_FLASH = value("judge.flash", [])  # (kind, message) pairs to show once after a callback
JUDGE_LAST = value("judge.last", "")  # what the last grade, skip or undo did, shown once under the buttons
JUDGE_COLLECTION = widget("judge.w.collection")  # the judged collection
JUDGE_EXPERIMENT = widget("judge.w.experiment")  # id of the open experiment; set to a new one when it is built
JUDGE_RATER = widget("judge.w.rater")  # this session's rater name
JUDGE_QUERY_SOURCE = widget("judge.w.query_source", "Type them")  # a key of views.judge.QUERY_SOURCES
JUDGE_QUERIES = widget("judge.w.queries")  # typed queries, one per line
JUDGE_QUERY_FILE = transient("judge.w.query_file")  # uploaded queries (.txt, .csv, .jsonl)
JUDGE_BUNDLED = widget("judge.w.bundled")  # a key of judgments.bundled_query_sets(); guessed from the collection
JUDGE_K = widget("judge.w.k", 5)  # depth k of every configuration's top k (the guide's TopK)
JUDGE_NAME = widget("judge.w.name")  # the new experiment's name (optional)
JUDGE_NEW_INSTRUCTION = widget("judge.w.new_instruction", NO_INSTRUCTION)  # "Add a configuration" form
JUDGE_NEW_LENGTH = widget("judge.w.new_length", 0)  # document input length in tokens; 0 = full
JUDGE_NEW_DIMS = widget("judge.w.new_dims", 0)  # Matryoshka size; 0 = full
JUDGE_NEW_MODE = widget("judge.w.new_mode", "dense")  # one of judgments.MODES
JUDGE_NEW_RERANK = widget("judge.w.new_rerank", False)
JUDGE_SOURCE = widget("judge.w.source", "people")  # whose grades the results use: judgments.PEOPLE, LLM_SOURCE or a rater
JUDGE_A = widget("judge.w.a", 0)  # configuration index of A in "A vs B"
JUDGE_B = widget("judge.w.b", 1)
JUDGE_METRIC = widget("judge.w.metric", "precision")  # one of judge_metrics.METRICS
JUDGE_IMPORT_FILE = transient("judge.w.import_file")  # TREC qrels to import
JUDGE_IMPORT_RATER = widget("judge.w.import_rater", "qrels import")  # rater name of imported grades

# --- Benchmark (bench.) ----------------------------------------------------------------------------
BENCH_RESULTS = value("bench.results", [])  # Measurement dicts of the last (possibly stopped) run
BENCH_RUN_INFO = value("bench.run_info", {})  # what the last run asked for, for the summary line
BENCH_LENGTHS = widget("bench.lengths", ["short", "medium"])
BENCH_BATCHES = widget("bench.batches", [1, 8, 32])
BENCH_CONCURRENCY = widget("bench.concurrency", [1, 2, 4])
BENCH_REQUESTS = widget("bench.requests", 4)
BENCH_BUDGET = widget("bench.budget", 90)
BENCH_TARGET = widget("bench.target", 50.0)

# --- Server check (check.) -------------------------------------------------------------------------
CHECK_REPORT = value("check.report", None)  # embedlab.servercheck.report.Report of the last run
CHECK_ONLY = widget("check.w.only", [])  # check ids to run; empty = all


def mark_bench_stopped() -> None:
    """Callback of the benchmark's Stop button: the last run was cut short on purpose."""
    st.session_state[BENCH_RUN_INFO] = {**st.session_state[BENCH_RUN_INFO], "stopped": True}
