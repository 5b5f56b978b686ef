"""Chunking: see how long texts are tokenized, cut into chunks and matched against a query."""

import streamlit as st

from components import chunk_view as cv
from components import page

embedder = page.setup("Chunking", "✂️")
st.title("Chunking")
st.caption(
    "Qwen3-Embedding accepts 32,768 tokens, but quality drops past about 2,048 and the ends of a text "
    "fade past about 8,192. See where a long document would be cut, how each strategy splits it, "
    "and which chunk answers a question."
)

st.subheader("1 · Document")
text, name = cv.document_input()
if len(text) > cv.MAX_CHARS:
    st.error(f"This text has {len(text):,} characters; the page handles up to {cv.MAX_CHARS:,}. "
             "Use a shorter part of it.", icon=":material/error:")
    st.stop()
if not text.strip():
    st.info("Choose a sample, paste a text or upload a file to begin.", icon=":material/info:")
    st.stop()
index = cv.token_index(text)

st.subheader("2 · Tokens")
cv.token_summary(text, index)

st.subheader("3 · Chunks")
strategy, size, overlap = cv.chunk_settings()
chunks = cv.chunk_spans(text, strategy, size, overlap)
st.caption(f"{len(chunks):,} chunks. Colours alternate per chunk; stripes mark text two chunks share; "
           "the step slider underlines one chunk and fades the rest.")
cv.chunk_view(text, index, chunks)
cv.chunk_details(text, chunks, size, name)

st.subheader("4 · Which chunk answers a query?")
cv.matching(embedder, text, chunks, (strategy, size, overlap))
