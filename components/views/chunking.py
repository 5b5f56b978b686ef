"""Chunking page: document input, token summary, chunk view, matching a query against the chunks."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from components import state
from components.i18n import _, tr
from components.instruction_picker import pick_instruction
from components.page import PageContext
from components.widgets import download_figure, download_table, embed_with_progress, error_text, literal
from embedlab import chunking, chunkview, figures, tokens
from embedlab.chunking import Chunk, ChunkMatch, TokenIndex
from embedlab.config import Settings
from embedlab.instructions import format_query
from embedlab.messages import N_
from embedlab.textio import UploadError, extract_text

ss = st.session_state
MAX_CHARS = 2_000_000  # about 400K tokens: far past the model's limit, still quick to tokenize
MAX_MATCH_CHUNKS = 2_000  # one click should not embed more than this
SIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
DOC_LIMITS = [512, 2_048, 8_192, 32_768]
SOURCES = {"Sample": N_("Sample"), "Paste": N_("Paste"), "Upload": N_("Upload")}  # kept value -> label


def render(ctx: PageContext) -> None:
    st.title(_("Chunking"))
    st.caption(_(
        "Qwen3-Embedding accepts 32,768 tokens, but quality drops past about 2,048 and the ends of a text "
        "fade past about 8,192. See where a long document would be cut, how each strategy splits it, "
        "and which chunk answers a question."
    ))
    st.subheader(_("1 · Document"))
    text, name = _document_input()
    if len(text) > MAX_CHARS:
        st.error(_("This text has {n:,} characters; the page handles up to {limit:,}. Use a shorter part of it.")
                 .format(n=len(text), limit=MAX_CHARS), icon=":material/error:")
        return
    if not text.strip():
        st.info(_("Choose a sample, paste a text or upload a file to begin."), icon=":material/info:")
        return
    index = token_index(text)

    st.subheader(_("2 · Tokens"))
    _token_summary(ctx.settings, text, index)

    st.subheader(_("3 · Chunks"))
    strategy, size, overlap = _chunk_settings()
    chunks = chunk_spans(text, strategy, size, overlap)
    st.caption(_("{n:,} chunks. Colours alternate per chunk; stripes mark text two chunks share; "
                 "the step slider underlines one chunk and fades the rest.").format(n=len(chunks)))
    _step_view(text, index, chunks)
    _chunk_details(text, chunks, size, name)

    st.subheader(_("4 · Which chunk answers a query?"))
    _matching(ctx, text, chunks, index.n_tokens, (strategy, size, overlap))


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
    # Labels translated here, not inside format_func: it must give this run's language wherever it is called.
    sources = {k: _(v) for k, v in SOURCES.items()}
    source = st.radio(_("Document"), list(SOURCES), key=state.CHUNK_SOURCE, persist_state="session", horizontal=True,
                      format_func=sources.__getitem__)
    if source == "Sample":
        titles = {t: _(t) for t in chunking.SAMPLES}
        state.keep_valid(state.CHUNK_SAMPLE, list(titles))
        title = st.selectbox(_("Bundled sample (written for this playground)"), list(titles), key=state.CHUNK_SAMPLE,
                             persist_state="session", format_func=titles.__getitem__)
        return chunking.load_sample_document(title), f"sample: {title}"
    if source == "Paste":
        pasted = st.text_area(_("Paste a long text (Ctrl+Enter to apply)"), key=state.CHUNK_PASTED, persist_state="session",
                              height=200, placeholder=_("Paste a policy, a manual, an article…"))
        return pasted, "pasted text"
    _read_upload(st.file_uploader(
        _("Upload a .txt, .md or .pdf file (UTF-8, UTF-16, GB18030/GBK or Latin-1; PDFs need a text layer)"),
        type=["txt", "md", "pdf"], key="chunk.w.upload",
    ))
    if error := ss[state.CHUNK_UPLOAD_ERROR]:
        st.error(literal(error), icon=":material/error:")
    uploaded = ss[state.CHUNK_UPLOADED]
    if not uploaded:
        return "", "no file"
    st.caption(_("Showing **{name}** (read as {encoding}).").format(name=literal(uploaded["name"]),
                                                                   encoding=literal(uploaded["encoding"])))
    return uploaded["text"], f"file: {uploaded['name']}"


# --- 2. Token view -------------------------------------------------------------------------------


def _token_summary(settings: Settings, text: str, index: TokenIndex) -> None:
    """Totals, the server's own count when it offers one, where the context marks fall, tokens."""
    cols = st.columns(4)
    cols[0].metric(_("Characters"), f"{len(text):,}")
    cols[1].metric(_("Tokens (Qwen3 tokenizer)"), f"{index.n_tokens:,}")
    counted = None
    if settings.backend == "server" and settings.embedding_base_url:
        counted = server_count(settings.embedding_base_url, settings.embedding_model, text,
                               settings.embedding_api_key)
    if counted is None:
        cols[2].metric(_("Server's count"), "—", help=_("The server offers no /v1/tokenize (sglang) or /tokenize (vLLM)."))
    else:
        cols[2].metric(_("Server's count"), f"{counted:,}", delta=_("{diff:+,} vs ours").format(diff=counted - index.n_tokens),
                       delta_color="off")
    cols[3].metric(_("Model context"), "32,768")
    st.markdown(chunkview.marks_sentence(len(text), index.marks(), gettext=_))
    if advice := chunkview.length_advice(index.n_tokens):
        kind, message = advice
        if kind == "warning":
            st.warning(tr(message), icon=":material/warning:")
        else:
            st.info(tr(message), icon=":material/info:")
    with st.expander(_("Token view: the first 400 tokens, as the model sees them")):
        st.html(chunkview.tokens_html(chunkview.first_token_pieces(text, index.starts)))


# --- 3. Chunks ----------------------------------------------------------------------------------


def _chunk_settings() -> tuple[str, int, int]:
    """Strategy, chunk size and overlap chosen by the user (overlap clamped to half the size)."""
    cols = st.columns([2, 2, 2])
    labels = {k: _(v) for k, v in chunking.STRATEGY_LABELS.items()}
    strategy = cols[0].selectbox(_("Strategy"), chunking.STRATEGIES, key=state.CHUNK_STRATEGY, persist_state="session",
                                 format_func=labels.__getitem__)
    size = cols[1].select_slider(_("Chunk size (tokens)"), SIZES, key=state.CHUNK_SIZE, persist_state="session")
    # The overlap slider's range follows the size: a kept overlap past it is clamped before drawing.
    if ss[state.CHUNK_OVERLAP] > size // 2:
        ss[state.CHUNK_OVERLAP] = size // 2
    overlap = cols[2].slider(_("Overlap (tokens)"), 0, size // 2, key=state.CHUNK_OVERLAP, persist_state="session", step=max(1, size // 32))
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
        step = st.slider(_("Step through the chunks"), 1, n, key=state.CHUNK_STEP, persist_state="session")
    chunk = chunks[step - 1]
    st.html(chunkview.chunk_html(text, chunks, index.marks(), selected=step - 1, gettext=_))
    st.markdown(_("**Chunk {step} of {n}** · {tokens:,} tokens · {length:,} characters · characters {start:,}–{end:,} "
                  "(striped parts are shared with a neighbour)").format(
        step=step, n=n, tokens=chunk.tokens, length=chunk.end - chunk.start, start=chunk.start, end=chunk.end))
    st.html(chunkview.chunk_html(text, chunks, span=(chunk.start, chunk.end), max_height_px=220))


def _chunk_details(text: str, chunks: list[Chunk], max_tokens: int, name: str) -> None:
    """Per-chunk table and size histogram, each with a download."""
    left, right = st.columns([3, 2])
    with left:
        table = pd.DataFrame(chunking.chunk_rows(text, chunks))
        st.dataframe(table.rename(columns=_), hide_index=True, height=300, key="chunk.table")
        download_table(table, f"chunks-{name}", key="chunk.dl.table", label=_("Download CSV"))
    with right:
        fig = figures.chunk_size_histogram([c.tokens for c in chunks], max_tokens, gettext=_)
        st.plotly_chart(fig, key="chunk.hist")
        download_figure(fig, "chunk-sizes", key="chunk.dl.hist", label=_("Download HTML"))


# --- 4. Matching --------------------------------------------------------------------------------


def _matching(ctx: PageContext, text: str, chunks: list[Chunk], n_tokens: int, params: tuple[str, int, int]) -> None:
    """Query + instruction -> similarity per chunk, the best chunk, and whole-document pooling."""
    instruction = pick_instruction(ctx.library, state.CHUNK_INSTRUCTION, label=_("Instruction for the query"))
    task = instruction.task if instruction else ""
    cols = st.columns([4, 2])
    query = cols[0].text_input(_("Query"), key=state.CHUNK_QUERY, persist_state="session",
                               placeholder=_("e.g. How is a penetration test approved?"))
    limit = cols[1].selectbox(_("Whole document cut at (tokens)"), DOC_LIMITS, key=state.CHUNK_DOC_LIMIT, persist_state="session",
                              format_func=lambda n: f"{n:,}")
    key = chunking.match_key(text, *params, query, task, limit)
    if st.button(_("Embed chunks and match"), type="primary", key="chunk.w.match"):
        if not query.strip():
            st.error(_("Enter a query to match against the chunks."), icon=":material/error:")
        elif len(chunks) > MAX_MATCH_CHUNKS:
            st.error(_("{n:,} chunks is more than {limit:,} for one click: choose a bigger chunk size.")
                     .format(n=len(chunks), limit=MAX_MATCH_CHUNKS), icon=":material/error:")
        else:
            _run_match(ctx, text, chunks, format_query(task, query), limit, key)
    result: ChunkMatch | None = ss[state.CHUNK_MATCH]
    if not result:
        return
    if result.key != key:
        st.info(_("The document, chunks, query or instruction changed since the last match: "
                  "click the button to match again."), icon=":material/info:")
        return
    ctx.model_caption()
    _show_match(text, chunks, result, n_tokens)


def _run_match(ctx: PageContext, text: str, chunks: list[Chunk], query_input: str, limit: int,
               key: tuple[object, ...]) -> None:
    chunk_vectors = embed_with_progress(ctx, chunking.chunk_texts(text, chunks), _("Embedding chunks"))
    if chunk_vectors is None:
        return
    whole = tokens.truncate(text, limit)
    vectors = embed_with_progress(ctx, [query_input, whole], _("Embedding query and document"))
    if vectors is None:
        return
    ss[state.CHUNK_MATCH] = chunking.score_match(vectors[0], vectors[1], chunk_vectors, chunks,
                                                 tokens.count_tokens(whole), key)


def _show_match(text: str, chunks: list[Chunk], result: ChunkMatch, n_tokens: int) -> None:
    best, chunk = result.best, chunks[result.best]
    st.markdown(_("**Best chunk: {best} of {n}** · similarity {sim:.3f} · {tokens:,} tokens").format(
        best=best + 1, n=len(chunks), sim=result.sims[best], tokens=chunk.tokens))
    st.html(chunkview.chunk_html(text, chunks, span=(chunk.start, chunk.end), max_height_px=220, gettext=_))
    fig = figures.chunk_similarity_bars(list(result.sims), chunking.chunk_texts(text, chunks), best, gettext=_)
    st.plotly_chart(fig, key="chunk.sims")
    download_figure(fig, "chunk-similarity", key="chunk.dl.sims", label=_("Download HTML"))
    left, right = st.columns([3, 2])
    with left:
        fig = figures.pooling_comparison_bars(result.labelled_scores(_), gettext=_)
        st.plotly_chart(fig, key="chunk.pooling")
        download_figure(fig, "whole-vs-chunks", key="chunk.dl.pooling", label=_("Download HTML"))
    with right, st.container(key="chunk_pooling"):
        st.dataframe(pd.DataFrame(result.pooling_rows(_)), hide_index=True, key="chunk.pooling_table")
        download_table(pd.DataFrame(result.pooling_rows()), "whole-vs-chunks", key="chunk.dl.pooling_table",
                       label=_("Download CSV"))
        verdict = chunkview.pooling_verdict(result.scores, n_tokens, result.whole_tokens)
        st.caption(" ".join(tr(sentence) for sentence in verdict))
