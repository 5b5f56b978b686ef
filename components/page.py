"""Common set-up of every page: page config, declared state, the sidebar, and the page context."""

from __future__ import annotations

import contextlib
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
from embedlab.served import Verdict, is_reference
from embedlab.stores.base import VectorStore


@dataclass
class PageContext:
    """What every page works with, built once per run by `setup`.

    Attributes:
        settings: this browser session's settings (env, secrets.toml, sidebar overrides).
        embedder: the cached embedder for those settings, shared by every session.
        library: the instruction library under the data directory (read when its file changes).
        verdict: what is known about the model behind the connection (None: the server did not answer).
    """

    settings: Settings
    embedder: CachedEmbedder
    library: InstructionLibrary
    cache_line: DeltaGenerator  # the sidebar's cache figures, redrawn after a page embeds
    verdict: Verdict | None = None

    @property
    def configured_model(self) -> str:
        """The model name the settings ask for (the local model's name without a server)."""
        if self.settings.backend == "server":
            return self.settings.embedding_model
        return getattr(self.embedder.inner, "model_name", self.embedder.model_id)

    def model_caption(self, served: str | None = None) -> None:
        """The caption above a page's results: the configured model and the one that answered
        (`served`, as a run recorded it, else the latest answer's)."""
        st.caption(sidebar.served_line(self.configured_model, served or self.embedder.served_model))

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
    settings, embedder, cache_line, probe = sidebar.connection_panel(settings)
    verdict = resources.model_verdict(settings, embedder, probe)
    if verdict is not None and verdict.warns:
        model_banner(verdict, link=title != SERVER_CHECK_TITLE)
    library = load_library(settings.data_path)
    library.all()  # reads the file once, so that a broken one is reported here
    if library.warning:
        st.warning(literal(tr(library.warning)), icon=":material/warning:")
    return PageContext(settings, embedder, library, cache_line, verdict)


SERVER_CHECK_TITLE = "Server check"


def model_banner(verdict: Verdict, link: bool = True) -> None:
    """The banner of every page whose figures are not Qwen3-Embedding-0.6B's: which model answered,
    and a link to the Server check page."""
    configured = literal(verdict.configured)
    served = literal(verdict.served or verdict.configured)
    if verdict.kind == "mismatch" and is_reference(verdict.served):
        st.info(_("The server answers with {served}, not with the configured {configured}: the figures on these "
                  "pages are {served}'s. Set the model name in the sidebar to the served one.").format(
                      served=served, configured=configured), icon=":material/info:")
    elif verdict.kind == "mismatch":
        st.warning(_("**The figures on these pages are not Qwen3-Embedding-0.6B's.** The server answers with "
                     "{served}, not with the configured {configured}: every similarity, map and score here is "
                     "{served}'s.").format(served=served, configured=configured), icon=":material/warning:")
    elif verdict.kind == "identity":
        st.warning(_("**The figures on these pages are not Qwen3-Embedding-0.6B's.** The server names its model "
                     "{served}, but its vectors do not reproduce the model card's example scores: another model "
                     "answers, or the server computes the vectors differently.").format(served=served),
                   icon=":material/warning:")
    else:
        st.info(_("This playground is set to {served}, not Qwen3-Embedding-0.6B: every figure here is {served}'s, not "
                  "Qwen3-Embedding-0.6B's. What the pages say about Qwen3-Embedding (instruction format, 1024 dimensions, 32k context) "
                  "may not hold for it.").format(served=served), icon=":material/info:")
    # A page run alone (AppTest of one page file) has no other pages to link to.
    with contextlib.suppress(StreamlitPageNotFoundError):
        if link:
            st.page_link(nav.SERVER_CHECK_PAGE, label=_("Server check: what exactly answers"),
                         icon=":material/fact_check:")


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
