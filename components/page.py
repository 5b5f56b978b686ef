"""Common set-up of every page: page config, state defaults and the connection panel."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from components import nav, sidebar, state
from embedlab.cache import CachedEmbedder


def setup(title: str, icon: str = "🧭") -> CachedEmbedder:
    """Configure the page and draw the sidebar; returns the session's embedder."""
    st.set_page_config(page_title=f"{title} · Qwen3-Embedding Playground", page_icon=icon, layout="wide")
    state.init_state()
    _navigation()
    return sidebar.connection_panel()


def _navigation() -> None:
    # Our own menu (Streamlit's is off in config.toml) so that the home page is called "Home".
    with st.sidebar:
        try:
            st.page_link("app.py", label="Home", icon=":material/home:")
            for entry in nav.page_entries():
                st.page_link(entry.path, label=entry.title)
        except StreamlitPageNotFoundError:
            # Only when a page file is itself the entrypoint (AppTest of one page): no menu then.
            return
        st.divider()
