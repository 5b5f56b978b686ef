"""Per-domain vector collections in Chroma: ingest documents, ask questions, compare instructions, rerank."""

import streamlit as st

from components import page, search_ui

embedder = page.setup("Search", "🔎")

st.title("Search")
st.markdown(
    "One collection per business domain, each with its own **instruction** and **similarity threshold**; "
    "two-stage retrieval (embedding recall, then an optional reranker). Documents are chunked, embedded "
    "once and stored with content-hash ids, so adding the same file again changes nothing."
)
search_ui.render(embedder)
