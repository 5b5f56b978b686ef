"""Home page: what the playground is, the connection, and a link to every page."""

from __future__ import annotations

import streamlit as st

from components import nav
from components.i18n import _
from components.page import PageContext
from components.widgets import literal


def render(ctx: PageContext) -> None:
    embedder = ctx.embedder
    st.title("Qwen3-Embedding Playground")
    st.markdown(
        "See what **Qwen3-Embedding-0.6B** does with your texts: how a task instruction moves "
        "similarities, how long documents are tokenized and chunked, how a corpus clusters, how a "
        "small per-domain vector store answers questions, and how good and fast retrieval really is."
    )
    st.subheader("Connection")
    st.markdown(
        f"Backend model: {literal(embedder.model_id)} · dimensions: "
        f"{embedder.dimensions or 'full'} · status and settings are in the sidebar on every page."
    )
    st.caption(
        "Queries are sent as `Instruct: {task}\\nQuery:{query}`; documents are embedded as they are. "
        "Vectors are L2-normalised, so cosine similarity is a dot product. Every embedding is cached "
        "on disk by (model, dimensions, exact text): nothing is embedded twice."
    )
    entries = nav.page_entries()
    if entries:
        st.subheader("Pages")
        for entry in entries:
            st.page_link(entry.path, label=_(entry.title))
            st.caption(_(entry.summary))
