"""Common set-up of every page: page config, state defaults and the connection panel."""

from __future__ import annotations

import streamlit as st

from components import sidebar, state
from embedlab.cache import CachedEmbedder


def setup(title: str, icon: str = "🧭") -> CachedEmbedder:
    """Configure the page and draw the sidebar; returns the session's embedder."""
    st.set_page_config(page_title=f"{title} · Qwen3-Embedding Playground", page_icon=icon, layout="wide")
    state.init_state()
    return sidebar.connection_panel()
