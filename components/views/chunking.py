"""Chunking page: document input, token summary, chunk view, matching a query against the chunks."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from components import state
from components.instruction_picker import pick_instruction
from components.page import PageContext
from components.widgets import download_figure, download_table, embed_with_progress, error_text, literal
from embedlab import chunking, chunkview, figures, tokens
from embedlab.chunking import Chunk, ChunkMatch, TokenIndex
from embedlab.config import Settings
from embedlab.instructions import format_query
from embedlab.textio import UploadError, extract_text

ss = st.session_state
MAX_CHARS = 2_000_000  # about 400K tokens: far past the model's limit, still quick to tokenize
MAX_MATCH_CHUNKS = 2_000  # one click should not embed more than this
SIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
DOC_LIMITS = [512, 2_048, 8_192, 32_768]
STRATEGY_NAMES = {
    "tokens": "Fixed token windows",
    "recursive": "Recursive (paragraph → sentence → tokens)",
    "markdown": "Markdown sections (recursive when too big)",
}
SOURCES = ["Sample", "Paste", "Upload"]


def render(ctx: PageContext) -> None:
    st.title("Chunking")
    st.caption(
        "Qwen3-Embedding accepts 32,768 tokens, but quality drops past about 2,048 and the ends of a text "
        "fade past about 8,192. See where a long document would be cut, how each strategy splits it, "
        "and which chunk answers a question."
    )
    st.subheader("1 · Document")
    text, name = _document_input()
    if len(text) > MAX_CHARS:
        st.error(f"This text has {len(text):,} characters; the page handles up to {MAX_CHARS:,}. "
                 "Use a shorter part of it.", icon=":material/error:")
        return
    if not text.strip():
        st.info("Choose a sample, paste a text or upload a file to begin.", icon=":material/info:")
        return
    index = token_index(text)

    st.subheader("2 · Tokens")
    _token_summary(ctx.settings, text, index)

    st.subheader("3 · Chunks")
    strategy, size, overlap = _chunk_settings()
    chunks = chunk_spans(text, strategy, size, overlap)
    st.caption(f"{len(chunks):,} chunks. Colours alternate per chunk; stripes mark text two chunks share; "
               "the step slider underlines one chunk and fades the rest.")
    _step_view(text, index, chunks)
    _chunk_details(text, chunks, size, name)

    st.subheader("4 · Which chunk answers a query?")
    _matching(ctx, text, chunks, (strategy, size, overlap))


@st.cache_resource(max_entries=4, show_spinner=False)
def token_index(text: str) -> TokenIndex:
    """The document tokenized once, shared by the token view and every chunking of it."""
    return TokenIndex(text)


@st.cache_data(max_entries=16, show_spinner=False)
def chunk_spans(text: str, strategy: str, max_tokens: int, overlap: int) -> list[Chunk]:
    return chunking.chunk_text(text, strategy, max_tokens, overlap, index=token_index(text))


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def server_count(base_url: str, model: str, text: str, _api_key: str | None) -> int | None:
    return tokens.server_token_count(base_url, model, text, api_key=_api_key)


# --- 1. Document ---------------------------------------------------------------------------------


def _read_upload(file: UploadedFile | None) -> None:
    """Decode a new upload; a bad file leaves its message and keeps the last good document."""
    if file is None:
        return
    current = ss[state.CHUNK_UPLOADED]
    if current and current.get("file_id") == file.file_id:
        return  # already read (every rerun returns the same file)
    try:
        decoded = extract_text(file.getvalue(), file.name)
    except UploadError as exc:
        ss[state.CHUNK_UPLOAD_ERROR] = f"{file.name}: {error_text(exc)}"
        return
    ss[state.CHUNK_UPLOAD_ERROR] = ""
    ss[state.CHUNK_UPLOADED] = {"file_id": file.file_id, "name": file.name, "text": decoded.text,
                                "encoding": decoded.encoding}


def _document_input() -> tuple[str, str]:
    """The document chosen by the user: (text, short description); text may be empty."""
    source = st.radio("Document", SOURCES, key=state.CHUNK_SOURCE, persist_state="session", horizontal=True)
    if source == "Sample":
        titles = list(chunking.SAMPLES)
        state.keep_valid(state.CHUNK_SAMPLE, titles)
        title = st.selectbox("Bundled sample (written for this playground)", titles, key=state.CHUNK_SAMPLE, persist_state="session")
        return chunking.load_sample_document(title), f"sample: {title}"
    if source == "Paste":
        pasted = st.text_area("Paste a long text (Ctrl+Enter to apply)", key=state.CHUNK_PASTED, persist_state="session", height=200,
                              placeholder="Paste a policy, a manual, an article…")
        return pasted, "pasted text"
    _read_upload(st.file_uploader(
        "Upload a .txt, .md or .pdf file (UTF-8, UTF-16, GB18030/GBK or Latin-1; PDFs need a text layer)",
        type=["txt", "md", "pdf"], key="chunk.w.upload",
    ))
    if error := ss[state.CHUNK_UPLOAD_ERROR]:
        st.error(literal(error), icon=":material/error:")
    uploaded = ss[state.CHUNK_UPLOADED]
    if not uploaded:
        return "", "no file"
    st.caption(f"Showing **{literal(uploaded['name'])}** (read as {literal(uploaded['encoding'])}).")
    return uploaded["text"], f"file: {uploaded['name']}"


# --- 2. Token view -------------------------------------------------------------------------------


def _token_summary(settings: Settings, text: str, index: TokenIndex) -> None:
    """Totals, the server's own count when it offers one, where the context marks fall, tokens."""
    cols = st.columns(4)
    cols[0].metric("Characters", f"{len(text):,}")
    cols[1].metric("Tokens (Qwen3 tokenizer)", f"{index.n_tokens:,}")
    counted = None
    if settings.backend == "server" and settings.embedding_base_url:
        counted = server_count(settings.embedding_base_url, settings.embedding_model, text,
                               settings.embedding_api_key)
    if counted is None:
        cols[2].metric("Server's count", "—", help="The server offers no /v1/tokenize (sglang) or /tokenize (vLLM).")
    else:
        cols[2].metric("Server's count", f"{counted:,}", delta=f"{counted - index.n_tokens:+,} vs ours",
                       delta_color="off")
    cols[3].metric("Model context", "32,768")
    st.markdown(chunkview.marks_sentence(len(text), index.marks()))
    if advice := chunkview.length_advice(index.n_tokens):
        kind, message = advice
        if kind == "warning":
            st.warning(message, icon=":material/warning:")
        else:
            st.info(message, icon=":material/info:")
    with st.expander("Token view: the first 400 tokens, as the model sees them"):
        st.html(chunkview.tokens_html(chunkview.first_token_pieces(text, index.starts)))


# --- 3. Chunks ----------------------------------------------------------------------------------


def _chunk_settings() -> tuple[str, int, int]:
    """Strategy, chunk size and overlap chosen by the user (overlap clamped to half the size)."""
    cols = st.columns([2, 2, 2])
    strategy = cols[0].selectbox("Strategy", chunking.STRATEGIES, key=state.CHUNK_STRATEGY, persist_state="session",
                                 format_func=STRATEGY_NAMES.get)
    size = cols[1].select_slider("Chunk size (tokens)", SIZES, key=state.CHUNK_SIZE, persist_state="session")
    # The overlap slider's range follows the size: a kept overlap past it is clamped before drawing.
    if ss[state.CHUNK_OVERLAP] > size // 2:
        ss[state.CHUNK_OVERLAP] = size // 2
    overlap = cols[2].slider("Overlap (tokens)", 0, size // 2, key=state.CHUNK_OVERLAP, persist_state="session", step=max(1, size // 32))
    return strategy, size, overlap


@st.fragment
def _step_view(text: str, index: TokenIndex, chunks: list[Chunk]) -> None:
    """The coloured document and a step slider; moving the slider reruns only this fragment."""
    n = len(chunks)
    step = 1
    if n > 1:
        # A step kept from a longer chunking is clamped before the slider is drawn.
        if not 1 <= ss[state.CHUNK_STEP] <= n:
            ss[state.CHUNK_STEP] = min(max(ss[state.CHUNK_STEP], 1), n)
        step = st.slider("Step through the chunks", 1, n, key=state.CHUNK_STEP, persist_state="session")
    chunk = chunks[step - 1]
    st.html(chunkview.chunk_html(text, chunks, index.marks(), selected=step - 1))
    st.markdown(f"**Chunk {step} of {n}** · {chunk.tokens:,} tokens · {chunk.end - chunk.start:,} characters "
                f"· characters {chunk.start:,}–{chunk.end:,} (striped parts are shared with a neighbour)")
    st.html(chunkview.chunk_html(text, chunks, span=(chunk.start, chunk.end), max_height_px=220))


def _chunk_details(text: str, chunks: list[Chunk], max_tokens: int, name: str) -> None:
    """Per-chunk table and size histogram, each with a download."""
    left, right = st.columns([3, 2])
    with left:
        table = pd.DataFrame(chunking.chunk_rows(text, chunks))
        st.dataframe(table, hide_index=True, height=300, key="chunk.table")
        download_table(table, f"chunks-{name}", key="chunk.dl.table")
    with right:
        fig = figures.chunk_size_histogram([c.tokens for c in chunks], max_tokens)
        st.plotly_chart(fig, key="chunk.hist")
        download_figure(fig, "chunk-sizes", key="chunk.dl.hist")


# --- 4. Matching --------------------------------------------------------------------------------


def _matching(ctx: PageContext, text: str, chunks: list[Chunk], params: tuple[str, int, int]) -> None:
    """Query + instruction -> similarity per chunk, the best chunk, and whole-document pooling."""
    instruction = pick_instruction(ctx.library, state.CHUNK_INSTRUCTION, label="Instruction for the query")
    task = instruction.task if instruction else ""
    cols = st.columns([4, 2])
    query = cols[0].text_input("Query", key=state.CHUNK_QUERY, persist_state="session",
                               placeholder="e.g. How is a penetration test approved?")
    limit = cols[1].selectbox("Whole document cut at (tokens)", DOC_LIMITS, key=state.CHUNK_DOC_LIMIT, persist_state="session",
                              format_func=lambda n: f"{n:,}")
    key = chunking.match_key(text, *params, query, task, limit)
    if st.button("Embed chunks and match", type="primary", key="chunk.w.match"):
        if not query.strip():
            st.error("Enter a query to match against the chunks.", icon=":material/error:")
        elif len(chunks) > MAX_MATCH_CHUNKS:
            st.error(f"{len(chunks):,} chunks is more than {MAX_MATCH_CHUNKS:,} for one click: "
                     "choose a bigger chunk size.", icon=":material/error:")
        else:
            _run_match(ctx, text, chunks, format_query(task, query), limit, key)
    result: ChunkMatch | None = ss[state.CHUNK_MATCH]
    if not result:
        return
    if result.key != key:
        st.info("The document, chunks, query or instruction changed since the last match: "
                "click the button to match again.", icon=":material/info:")
        return
    ctx.model_caption()
    _show_match(text, chunks, result, limit)


def _run_match(ctx: PageContext, text: str, chunks: list[Chunk], query_input: str, limit: int,
               key: tuple[object, ...]) -> None:
    chunk_vectors = embed_with_progress(ctx, chunking.chunk_texts(text, chunks), "Embedding chunks")
    if chunk_vectors is None:
        return
    whole = tokens.truncate(text, limit)
    vectors = embed_with_progress(ctx, [query_input, whole], "Embedding query and document")
    if vectors is None:
        return
    ss[state.CHUNK_MATCH] = chunking.score_match(vectors[0], vectors[1], chunk_vectors, chunks,
                                                 tokens.count_tokens(whole), key)


def _show_match(text: str, chunks: list[Chunk], result: ChunkMatch, limit: int) -> None:
    best, chunk = result.best, chunks[result.best]
    st.markdown(f"**Best chunk: {best + 1} of {len(chunks)}** · similarity {result.sims[best]:.3f} · "
                f"{chunk.tokens:,} tokens")
    st.html(chunkview.chunk_html(text, chunks, span=(chunk.start, chunk.end), max_height_px=220))
    fig = figures.chunk_similarity_bars(list(result.sims), chunking.chunk_texts(text, chunks), best)
    st.plotly_chart(fig, key="chunk.sims")
    download_figure(fig, "chunk-similarity", key="chunk.dl.sims")
    left, right = st.columns([3, 2])
    with left:
        fig = figures.pooling_comparison_bars(result.labelled_scores())
        st.plotly_chart(fig, key="chunk.pooling")
        download_figure(fig, "whole-vs-chunks", key="chunk.dl.pooling")
    with right:
        table = pd.DataFrame(result.pooling_rows())
        st.dataframe(table, hide_index=True, key="chunk.pooling_table")
        download_table(table, "whole-vs-chunks", key="chunk.dl.pooling_table")
        st.caption("Max-sim keeps the one passage that answers; averaging dilutes it with the rest of "
                   f"the document, and one input cut at {limit:,} tokens never sees what comes later.")
