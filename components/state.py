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

# --- Chunking (chunk.) --------------------------------------------------------------------------

# --- Clusters (umap.) ---------------------------------------------------------------------------

# --- Search (search.) ---------------------------------------------------------------------------

# --- Evaluate (eval.) ---------------------------------------------------------------------------

# --- Benchmark (bench.) -------------------------------------------------------------------------


def init_state() -> None:
    """Give every declared key its default once per browser session."""
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, dict | list) else value
