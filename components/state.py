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

# --- Clusters (umap.) ---------------------------------------------------------------------------

# --- Search (search.) ---------------------------------------------------------------------------

# --- Evaluate (eval.) ---------------------------------------------------------------------------

# --- Benchmark (bench.) -------------------------------------------------------------------------
BENCH_RESULTS = "bench.results"  # list of Measurement dicts from the last (possibly stopped) run
BENCH_RUN_INFO = "bench.run_info"  # what was asked for in the last run, for the summary line
DEFAULTS.update({BENCH_RESULTS: [], BENCH_RUN_INFO: {}})


def init_state() -> None:
    """Give every declared key its default once per browser session."""
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, dict | list) else value
