"""Streamlit pieces of the Chunking page: document input, token summary, chunk view, matching."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from components import state as S
from components.instruction_picker import pick_instruction
from components.resources import current_settings
from components.widgets import download_figure, download_table, embed_with_progress
from embedlab import chunking, chunkview, figures, tokens
from embedlab.chunking import Chunk, TokenIndex
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


def _keep(widget_key: str, applied_key: str) -> None:
    ss[applied_key] = ss[widget_key]


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


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- 1. Document ---------------------------------------------------------------------------------


def _read_upload() -> None:
    """Decode a new upload; a bad file shows its message and keeps the last good document."""
    file = ss.get("chunk.w.upload")
    if file is None:
        return
    current = ss[S.CHUNK_UPLOADED]
    if current and current.get("file_id") == file.file_id:
        return
    try:
        decoded = extract_text(file.getvalue(), file.name)
    except UploadError as exc:
        ss["chunk.upload_error"] = f"{file.name}: {exc}"
        return
    ss.pop("chunk.upload_error", None)
    ss[S.CHUNK_UPLOADED] = {"file_id": file.file_id, "name": file.name, "text": decoded.text,
                            "encoding": decoded.encoding}


def document_input() -> tuple[str, str]:
    """The document chosen by the user: (text, short description); text may be empty."""
    # Widgets start from the applied values passed as defaults (not written into their keys: a
    # widget that was hidden and comes back would then show its first option in the browser).
    source = st.radio("Document", SOURCES, key="chunk.w.source", horizontal=True,
                      index=SOURCES.index(ss[S.CHUNK_SOURCE]))
    _keep("chunk.w.source", S.CHUNK_SOURCE)
    if source == "Sample":
        titles = list(chunking.SAMPLES)
        if ss[S.CHUNK_SAMPLE] not in titles:
            ss[S.CHUNK_SAMPLE] = titles[0]
        title = st.selectbox("Bundled sample (written for this playground)", titles, key="chunk.w.sample",
                             index=titles.index(ss[S.CHUNK_SAMPLE]))
        _keep("chunk.w.sample", S.CHUNK_SAMPLE)
        return chunking.load_sample(title), f"sample: {title}"
    if source == "Paste":
        st.text_area("Paste a long text (Ctrl+Enter to apply)", key="chunk.w.pasted", height=200,
                     value=ss[S.CHUNK_PASTED],
                     placeholder="Paste a policy, a manual, an article…")
        _keep("chunk.w.pasted", S.CHUNK_PASTED)
        return ss[S.CHUNK_PASTED], "pasted text"
    st.file_uploader(
        "Upload a .txt, .md or .pdf file (UTF-8, UTF-16, GB18030/GBK or Latin-1; PDFs need a text layer)",
        type=["txt", "md", "pdf"], key="chunk.w.upload", on_change=_read_upload,
    )
    _read_upload()  # also covers a file chosen before this widget existed in the session
    if error := ss.get("chunk.upload_error"):
        st.error(error, icon=":material/error:")
    uploaded = ss[S.CHUNK_UPLOADED]
    if not uploaded:
        return "", "no file"
    st.caption(f"Showing **{uploaded['name']}** (read as {uploaded['encoding']}).")
    return uploaded["text"], f"file: {uploaded['name']}"


# --- 2. Token view -------------------------------------------------------------------------------


def token_summary(text: str, index: TokenIndex) -> None:
    """Totals, the server's own count when it offers one, where the context marks fall, tokens."""
    settings = current_settings()
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
    marks = index.marks()
    lines = []
    for limit in chunking.CONTEXT_MARKS:
        if limit in marks:
            pos = marks[limit]
            lines.append(f"token **{limit:,}** starts at character {pos:,} ({pos / max(len(text), 1):.0%} of the text)")
        else:
            lines.append(f"the text ends before token **{limit:,}**")
    st.markdown("Marked in the view below (▼): " + "; ".join(lines) + ".")
    if index.n_tokens > 32_768:
        st.warning("This text is longer than the 32,768 tokens the model accepts as one input: "
                   "as a whole it would be cut off or rejected.", icon=":material/warning:")
    elif index.n_tokens > 8_192:
        st.warning("Past about 8,192 tokens the beginning and end of a single input fade: split it.",
                   icon=":material/warning:")
    elif index.n_tokens > 2_048:
        st.info("Past about 2,048 tokens embedding quality starts to drop: chunking helps.", icon=":material/info:")
    with st.expander("Token view: the first 400 tokens, as the model sees them"):
        st.html(chunkview.tokens_html(chunkview.first_token_pieces(text, index.starts)))


# --- 3. Chunks ----------------------------------------------------------------------------------


def chunk_settings() -> tuple[str, int, int]:
    """Strategy, chunk size and overlap chosen by the user (overlap clamped to half the size)."""
    cols = st.columns([2, 2, 2])
    strategy = cols[0].selectbox("Strategy", chunking.STRATEGIES, key="chunk.w.strategy",
                                 index=chunking.STRATEGIES.index(ss[S.CHUNK_STRATEGY]),
                                 format_func=STRATEGY_NAMES.get)
    _keep("chunk.w.strategy", S.CHUNK_STRATEGY)
    size = cols[1].select_slider("Chunk size (tokens)", SIZES, key="chunk.w.size", value=ss[S.CHUNK_SIZE])
    _keep("chunk.w.size", S.CHUNK_SIZE)
    if ss[S.CHUNK_OVERLAP] > size // 2:
        ss[S.CHUNK_OVERLAP] = size // 2
        ss.pop("chunk.w.overlap", None)
    overlap = cols[2].slider("Overlap (tokens)", 0, size // 2, key="chunk.w.overlap", step=max(1, size // 32),
                             value=ss[S.CHUNK_OVERLAP])
    _keep("chunk.w.overlap", S.CHUNK_OVERLAP)
    return strategy, size, overlap


@st.fragment
def chunk_view(text: str, index: TokenIndex, chunks: list[Chunk]) -> None:
    """The coloured document and a step slider; moving the slider reruns only this fragment."""
    n = len(chunks)
    if n > 1:
        ss[S.CHUNK_STEP] = min(max(ss[S.CHUNK_STEP], 1), n)
        if ss.get("chunk.w.step", 1) > n:
            ss.pop("chunk.w.step")
        step = st.slider("Step through the chunks", 1, n, key="chunk.w.step", value=ss[S.CHUNK_STEP])
        _keep("chunk.w.step", S.CHUNK_STEP)
    else:
        step = 1
    chunk = chunks[step - 1]
    st.html(chunkview.chunk_html(text, chunks, index.marks(), selected=step - 1))
    st.markdown(f"**Chunk {step} of {n}** · {chunk.tokens:,} tokens · {chunk.end - chunk.start:,} characters "
                f"· characters {chunk.start:,}–{chunk.end:,} (striped parts are shared with a neighbour)")
    st.html(chunkview.chunk_html(text, chunks, span=(chunk.start, chunk.end), max_height_px=220))


def chunk_details(text: str, chunks: list[Chunk], max_tokens: int, name: str) -> None:
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


def matching(embedder, text: str, chunks: list[Chunk], params: tuple[str, int, int]) -> None:
    """Query + instruction -> similarity per chunk, the best chunk, and whole-document pooling."""
    instruction = pick_instruction("chunk.w.instruction", label="Instruction for the query")
    task = instruction.task if instruction else ""
    cols = st.columns([4, 2])
    query = cols[0].text_input("Query", key="chunk.w.query", value=ss[S.CHUNK_QUERY],
                               placeholder="e.g. How is a penetration test approved?")
    _keep("chunk.w.query", S.CHUNK_QUERY)
    limit = cols[1].selectbox("Whole document cut at (tokens)", DOC_LIMITS, key="chunk.w.doc_limit",
                              index=DOC_LIMITS.index(ss[S.CHUNK_DOC_LIMIT]),
                              format_func=lambda n: f"{n:,}")
    _keep("chunk.w.doc_limit", S.CHUNK_DOC_LIMIT)
    key = [_digest(text), *params, query, task, limit]
    if st.button("Embed chunks and match", type="primary", key="chunk.w.match"):
        if not query.strip():
            st.error("Enter a query to match against the chunks.", icon=":material/error:")
        elif len(chunks) > MAX_MATCH_CHUNKS:
            st.error(f"{len(chunks):,} chunks is more than {MAX_MATCH_CHUNKS:,} for one click: "
                     "choose a bigger chunk size.", icon=":material/error:")
        else:
            _run_match(embedder, text, chunks, query, task, limit, key)
    result = ss[S.CHUNK_MATCH]
    if not result:
        return
    if result["key"] != key:
        st.info("The document, chunks, query or instruction changed since the last match: "
                "click the button to match again.", icon=":material/info:")
        return
    _show_match(text, chunks, result, limit)


def _run_match(embedder, text: str, chunks: list[Chunk], query: str, task: str, limit: int, key: list) -> None:
    chunk_texts = [text[c.start : c.end] for c in chunks]
    chunk_vectors = embed_with_progress(embedder, chunk_texts, "Embedding chunks")
    if chunk_vectors is None:
        return
    whole = tokens.truncate(text, limit)
    vectors = embed_with_progress(embedder, [format_query(task, query), whole], "Embedding query and document")
    if vectors is None:
        return
    sims, best = chunking.match_chunks(vectors[0], chunk_vectors)
    scores = chunking.pooled_scores(vectors[0], vectors[1], chunk_vectors, [c.tokens for c in chunks])
    ss[S.CHUNK_MATCH] = {"key": key, "sims": sims.astype(float).tolist(), "best": best, "scores": scores,
                         "whole_tokens": tokens.count_tokens(whole)}


def _show_match(text: str, chunks: list[Chunk], result: dict, limit: int) -> None:
    sims, best = np.asarray(result["sims"]), result["best"]
    chunk = chunks[best]
    st.markdown(f"**Best chunk: {best + 1} of {len(chunks)}** · similarity {sims[best]:.3f} · "
                f"{chunk.tokens:,} tokens")
    st.html(chunkview.chunk_html(text, chunks, span=(chunk.start, chunk.end), max_height_px=220))
    fig = figures.chunk_similarity_bars(sims.tolist(), [text[c.start : c.end] for c in chunks], best)
    st.plotly_chart(fig, key="chunk.sims")
    download_figure(fig, "chunk-similarity", key="chunk.dl.sims")
    labels = dict(chunking.POOLING)
    labels["document"] = f"Whole document (first {result['whole_tokens']:,} tokens)"
    scores = {labels[k]: v for k, v in result["scores"].items()}
    left, right = st.columns([3, 2])
    with left:
        fig = figures.pooling_comparison_bars(scores)
        st.plotly_chart(fig, key="chunk.pooling")
        download_figure(fig, "whole-vs-chunks", key="chunk.dl.pooling")
    with right:
        table = pd.DataFrame({"method": list(scores), "similarity": [round(v, 4) for v in scores.values()]})
        st.dataframe(table, hide_index=True, key="chunk.pooling_table")
        download_table(table, "whole-vs-chunks", key="chunk.dl.pooling_table")
        st.caption("Max-sim keeps the one passage that answers; averaging dilutes it with the rest of "
                   f"the document, and one input cut at {limit:,} tokens never sees what comes later.")
