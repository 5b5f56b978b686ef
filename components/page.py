"""Common set-up of every page: page config, declared state, the sidebar, and the page context."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitPageNotFoundError

from components import i18n, nav, resources, sidebar, state
from components.i18n import _, tr
from components.widgets import literal
from embedlab.cache import CachedEmbedder
from embedlab.config import Settings
from embedlab.instructions import InstructionLibrary, load_library
from embedlab.stores.base import VectorStore


@dataclass
class PageContext:
    """What every page works with, built once per run by `setup`.

    Attributes:
        settings: this browser session's settings (env, secrets.toml, sidebar overrides).
        embedder: the cached embedder for those settings, shared by every session.
        library: the instruction library under the data directory (read when its file changes).
    """

    settings: Settings
    embedder: CachedEmbedder
    library: InstructionLibrary
    cache_line: DeltaGenerator  # the sidebar's cache figures, redrawn after a page embeds

    @functools.cached_property
    def store(self) -> VectorStore:
        """The vector store of these settings (Chroma, or Milvus with MILVUS_URI), opened on first use in a run.

        Raises:
            StoreError: it cannot be opened (locked by another process, server down).
        """
        return resources.get_store(self.settings)

    def refresh_cache_stats(self) -> None:
        """Redraw the sidebar's cache line (after this run embedded something)."""
        sidebar.draw_cache_stats(self.cache_line, self.embedder.cache)


def setup(title: str, icon: str = "🧭") -> PageContext:
    """Configure the page, seed the declared state, draw the menu and the sidebar; returns the context."""
    state.init_state()
    i18n.init_language()  # before the first string is drawn
    st.set_page_config(page_title=_("{title} · Qwen3-Embedding Playground").format(title=_(title)),
                       page_icon=icon, layout="wide")
    _navigation()
    settings = resources.current_settings()
    settings, embedder, cache_line = sidebar.connection_panel(settings)
    library = load_library(settings.data_path)
    library.all()  # reads the file once, so that a broken one is reported here
    if library.warning:
        st.warning(literal(tr(library.warning)), icon=":material/warning:")
    return PageContext(settings, embedder, library, cache_line)


def _navigation() -> None:
    # Our own menu (Streamlit's is off in config.toml) so that the home page is called "Home".
    with st.sidebar:
        i18n.language_switch()
        try:
            st.page_link("app.py", label=_("Home"), icon=":material/home:")
            for entry in nav.page_entries():
                st.page_link(entry.path, label=_(entry.title))
        except StreamlitPageNotFoundError:
            # Only when a page file is itself the entrypoint (AppTest of one page): no menu then.
            return
        st.divider()
