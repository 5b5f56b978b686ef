"""Clusters page: UMAP maps of a corpus with and without an instruction, clusters and separation measures.

This module: the texts (sources), the settings form, embedding and the cached maps; `results` draws
the measures and maps, `names` holds the choice widgets' display names."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from components import resources, state
from components.i18n import _
from components.instruction_picker import display_name, pick_instruction
from components.page import PageContext
from components.views.clusters import large as large_map
from components.views.clusters.names import CHOICES, NO_LABEL, choice_names
from components.views.clusters.results import show_results
from components.widgets import embed_with_progress, error_text, literal, show_error
from embedlab.cache import CachedEmbedder
from embedlab.instructions import format_query
from embedlab.messages import N_
from embedlab.projection.clustering import Clustering, Separation, cluster_hdbscan, cluster_kmeans, separation
from embedlab.projection.mapdata import (
    MAX_TEXTS,
    MIN_TEXTS,
    Corpus,
    MapRequest,
    MapSide,
    guess_label_column,
    metadata_fields,
    prepare_table,
    records_corpus,
    sample_corpus,
    sample_topic_size,
    table_corpus,
)
from embedlab.projection.umap import Projection, UmapParams, fit_umap
from embedlab.stores.base import StoreError
from embedlab.textio import Table, UploadError, guess_text_column, load_table, text_columns

ss = st.session_state
def render(ctx: PageContext) -> None:
    resources.start_umap_warmup()  # compiles in the background while the user picks the texts
    st.title(_("Clusters"))
    st.caption(_(
        "Two UMAP maps of the same texts: embedded as they are, and with a task instruction applied to "
        "every text (`Instruct: {task}\\nQuery:{text}`, as Qwen3-Embedding does for clustering). "
        "Colour them by topic label, found cluster, detected language or any other field; the measures "
        "compare how well each setting separates the topics."
    ))
    source = st.radio(_("Texts"), list(SOURCES), horizontal=True, key=state.UMAP_SOURCE, persist_state="session",
                      format_func=choice_names())
    corpus = SOURCES[source](ctx)
    if corpus is None:
        return
    request = _settings_form(ctx, corpus)
    if request is None:
        st.info(_("Choose the settings and press **Build maps**."), icon=":material/map:")
        return
    if request.corpus_key != corpus.key:
        st.info(_("The texts changed since the maps were built: press **Build maps** again."),
                icon=":material/refresh:")
        return
    vectors = _embed_corpus(ctx, corpus, request)
    if vectors is None:
        return
    sides = _compute(corpus, request, vectors, _model_key(ctx.embedder))
    if sides is not None:
        show_results(ctx, corpus, request, sides)


# --- Data sources ---------------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def _sample_topic_size() -> int:
    return sample_topic_size()


@st.cache_data(show_spinner=False, max_entries=4)
def _sample_corpus(per_topic: int) -> Corpus:
    return sample_corpus(per_topic)


@st.cache_data(show_spinner=False, max_entries=2)
def _read_upload(data: bytes, name: str) -> Table:
    """The uploaded table, parsed once rather than on every rerun. Raises UploadError."""
    return load_table(data, name)


def _sample_source(ctx: PageContext) -> Corpus | None:
    per_topic = st.columns(3)[0].number_input(
        _("Texts per topic"), min_value=4, max_value=_sample_topic_size(), step=4, key=state.UMAP_PER_TOPIC,
        persist_state="session", help=_("Fewer texts give faster maps; each topic mixes English and Chinese texts."),
    )
    corpus = _sample_corpus(int(per_topic))
    topics = list(dict.fromkeys(corpus.labels or ()))
    st.caption(literal(_(
        "{n} short texts written for this playground, {topics} topics ({names}), English and Chinese."
    ).format(n=len(corpus.texts), topics=len(topics), names=", ".join(topics))))
    return corpus


def _guess_columns(file_id: str, columns: list[str], text_col: str) -> None:
    """Point the column pickers at the likely text and label columns, once per new upload
    (afterwards they keep what the user picks)."""
    if ss[state.UMAP_UPLOAD_SEEN] == file_id:
        return
    ss[state.UMAP_UPLOAD_SEEN] = file_id
    ss[state.UMAP_TEXT_COL] = text_col
    ss[state.UMAP_LABEL_COL] = guess_label_column(columns, text_col) or NO_LABEL


def _upload_source(ctx: PageContext) -> Corpus | None:
    uploaded = st.file_uploader(
        _("CSV, TSV or JSONL: one text per row, optionally a label column and other columns to colour by"),
        type=["csv", "tsv", "jsonl", "ndjson", "json", "txt"],
        key="umap.upload",
    )
    if uploaded is None:
        st.info(_("Upload a table to map your own texts."), icon=":material/upload_file:")
        return None
    try:
        table = _read_upload(uploaded.getvalue(), uploaded.name)
    except UploadError as exc:
        st.error(literal(f"{uploaded.name}: {error_text(exc)}"), icon=":material/error:")
        return None
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    textual = text_columns(frame)
    if not textual:
        st.error(literal(_(
            "{file} has no column of text: its columns ({columns}) hold only numbers, dates or nothing. "
            "Upload a table with one text per row in a column such as “text”."
        ).format(file=uploaded.name, columns=", ".join(columns))), icon=":material/error:")
        return None
    # Default to a conventionally named column, else the longest text column (never an id column).
    _guess_columns(uploaded.file_id, columns, guess_text_column(frame[textual]) or textual[0])
    left, right = st.columns(2)
    state.keep_valid(state.UMAP_TEXT_COL, columns)
    text_col = left.selectbox(_("Text column"), columns, key=state.UMAP_TEXT_COL, persist_state="session")
    if text_col not in textual:
        st.warning(literal(_("Column “{column}” holds numbers or dates rather than text.").format(column=text_col)),
                   icon=":material/warning:")
    label_options = [NO_LABEL, *[c for c in columns if c != text_col]]
    state.keep_valid(state.UMAP_LABEL_COL, label_options, fallback=NO_LABEL)
    label_col = right.selectbox(
        _("Label column (optional)"), label_options, key=state.UMAP_LABEL_COL, persist_state="session",
        format_func=_label_names(),
        help=_("Topic labels colour the maps and let the page measure how well topics separate."),
    )
    prepared = prepare_table(frame, text_col, None if label_col == NO_LABEL else label_col)
    if prepared.dropped:
        st.warning(_("Rows left out because their text is empty: {n}.").format(n=f"{prepared.dropped:,}"),
                   icon=":material/warning:")
    if prepared.truncated:
        st.warning(_("Only the first {limit} texts are mapped ({more} more in the file).").format(
            limit=f"{MAX_TEXTS:,}", more=f"{prepared.truncated:,}"), icon=":material/warning:")
    if len(prepared.texts) < MIN_TEXTS:
        st.error(_("A map needs at least {min} non-empty texts; this file has {n}.").format(
            min=MIN_TEXTS, n=len(prepared.texts)))
        return None
    params = {"n": f"{len(prepared.texts):,}", "file": uploaded.name, "encoding": table.encoding}
    if prepared.labels:
        caption = _("{n} texts, {labels} labels; {file} read as {encoding}").format(
            labels=f"{len(set(prepared.labels)):,}", **params)
    else:
        caption = _("{n} texts, no labels; {file} read as {encoding}").format(**params)
    st.caption(literal(caption))
    return table_corpus(uploaded.name, prepared)


def _label_names() -> Callable[[str], str]:
    """Format function of the label pickers: column and field names as they are, "(none)" translated."""
    none = _(CHOICES[NO_LABEL])
    return lambda column: none if column == NO_LABEL else column


def _collection_names(counts: dict[str, int]) -> Callable[[str], str]:
    template = _("{name} ({n} chunks)")
    return lambda name: template.format(name=name, n=f"{counts[name]:,}")


def _collection_source(ctx: PageContext) -> Corpus | None:
    """The stored chunks of a Search-page collection, labelled by a metadata field (default: source)."""
    try:
        store = ctx.store
        counts = {info.name: info.count for info in store.list() if info.count > 0}
    except StoreError as exc:
        show_error(exc, _("The collections cannot be listed"))
        return None
    if not counts:
        st.info(_("No collection holds documents yet: build or fill one on the Search page."),
                icon=":material/database:")
        return None
    left, right = st.columns(2)
    state.keep_valid(state.UMAP_COLLECTION, list(counts))
    name = left.selectbox(_("Collection"), list(counts), key=state.UMAP_COLLECTION, persist_state="session",
                          format_func=_collection_names(counts))
    if counts[name] > large_map.LARGE_COLLECTION:  # too many to embed again: one map of the stored vectors
        large_map.render(ctx, name, counts[name])
        return None
    try:
        records = store.get_records(name)
    except StoreError as exc:
        show_error(exc, _("The chunks of {name} cannot be read").format(name=name))
        return None
    options = [NO_LABEL, *metadata_fields(records)]
    state.keep_valid(state.UMAP_COLLECTION_LABEL, options, fallback=NO_LABEL)
    label_key = right.selectbox(
        _("Label (metadata field)"), options, key=state.UMAP_COLLECTION_LABEL, persist_state="session",
        format_func=_label_names(),
        help=_("Chunks of one document share its source: they should sit together."),
    )
    corpus = records_corpus(f"collection {name}", records, None if label_key == NO_LABEL else label_key,
                            collection=name)
    if len(corpus.texts) < MIN_TEXTS:
        st.error(literal(_("A map needs at least {min} texts; {name} has {n}.").format(
            min=MIN_TEXTS, name=name, n=len(corpus.texts))))
        return None
    params = {"n": f"{len(corpus.texts):,}", "name": name}
    caption = (_("{n} chunks from {name}, labelled by {field}").format(field=label_key, **params) if corpus.labels
               else _("{n} chunks from {name}").format(**params))
    st.caption(literal(caption))
    return corpus


# Where texts can come from: key -> function that draws its widgets and returns a Corpus.
SOURCES: dict[str, Callable[[PageContext], Corpus | None]] = {
    "Sample corpus": _sample_source,
    "Upload CSV / JSONL": _upload_source,
    "Stored collection": _collection_source,
}


# --- Settings -------------------------------------------------------------------------------


def _settings_form(ctx: PageContext, corpus: Corpus) -> MapRequest | None:
    """The settings form; returns the last submitted request (None before the first)."""
    with st.form("umap.form"):
        st.markdown(_("**Instruction** for the second map (applied to every text, as Qwen does for clustering)"))
        instruction = pick_instruction(ctx.library, state.UMAP_INSTRUCTION, _("Instruction"), allow_none=False)
        c1, c2, c3, c4 = st.columns(4)
        c1.radio(_("Map"), ["2-D", "3-D"], horizontal=True, key=state.UMAP_DIMS, persist_state="session",
                 format_func=choice_names())
        c2.slider("n_neighbors", 2, 100, key=state.UMAP_N_NEIGHBORS, persist_state="session",
                  help=_("Small values keep local detail, large values the overall layout."))
        c3.slider("min_dist", 0.0, 0.99, step=0.01, key=state.UMAP_MIN_DIST, persist_state="session",
                  help=_("How tightly points may pack together on the map."))
        c4.checkbox(_("Fixed seed"), key=state.UMAP_FIXED_SEED, persist_state="session",
                    help=_("Reproducible maps; without a seed UMAP runs its layout in parallel."))
        c4.number_input(_("Seed"), 0, 2**31 - 1, key=state.UMAP_SEED, persist_state="session")
        d1, d2, d3 = st.columns(3)
        d1.radio(_("Clustering"), ["k-means", "HDBSCAN"], horizontal=True, key=state.UMAP_METHOD,
                 persist_state="session")
        d2.radio(_("k (k-means)"), ["best silhouette", "fixed"], horizontal=True, key=state.UMAP_K_MODE,
                 persist_state="session", format_func=choice_names())
        d2.number_input("k", 2, 50, key=state.UMAP_K, persist_state="session")
        d3.number_input(_("HDBSCAN min cluster size"), 2, 500, key=state.UMAP_MIN_CLUSTER_SIZE,
                        persist_state="session")
        submitted = st.form_submit_button(_("Build maps"), type="primary")
    if submitted and instruction is not None:
        ss[state.UMAP_REQUEST] = MapRequest(
            corpus_key=corpus.key,
            instruction_name=instruction.name,
            task=instruction.task,
            params=UmapParams(
                n_components=3 if ss[state.UMAP_DIMS] == "3-D" else 2,
                n_neighbors=int(ss[state.UMAP_N_NEIGHBORS]),
                min_dist=float(ss[state.UMAP_MIN_DIST]),
                seed=int(ss[state.UMAP_SEED]) if ss[state.UMAP_FIXED_SEED] else None,
            ),
            method=ss[state.UMAP_METHOD],
            k=int(ss[state.UMAP_K]) if ss[state.UMAP_K_MODE] == "fixed" else None,
            min_cluster_size=int(ss[state.UMAP_MIN_CLUSTER_SIZE]),
        )
    elif submitted:
        st.error(_("Choose an instruction for the second map."))
    return ss[state.UMAP_REQUEST]


# --- Embedding and cached computations --------------------------------------------------------


def _model_key(embedder: CachedEmbedder) -> str:
    return f"{embedder.model_id}|{embedder.dimensions}"


def _embed_corpus(ctx: PageContext, corpus: Corpus, request: MapRequest) -> tuple[np.ndarray, np.ndarray] | None:
    """(plain, instructed) vectors, each float32 (n, dim); kept in session state for reruns so
    that a selection or a colour change does not read thousands of vectors back from SQLite."""
    key = (_model_key(ctx.embedder), corpus.key, request.task)
    held = ss[state.UMAP_VECTORS]
    if held and held["key"] == key:
        return held["plain"], held["instructed"]
    plain = embed_with_progress(ctx, corpus.texts, _("Embedding the texts"))
    if plain is None:
        return None
    instructed = embed_with_progress(
        ctx, [format_query(request.task, t) for t in corpus.texts], _("Embedding the texts with the instruction")
    )
    if instructed is None:
        return None
    ss[state.UMAP_VECTORS] = {"key": key, "plain": plain, "instructed": instructed}
    return plain, instructed


# Cached by texts + model + instruction + parameters; the vectors (underscore: not hashed) are
# determined by those.
@st.cache_data(show_spinner=False, max_entries=16)
def _cached_map(texts: tuple[str, ...], model: str, task: str, params: UmapParams, _vectors: np.ndarray) -> Projection:
    return fit_umap(_vectors, params)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_clustering(
    texts: tuple[str, ...], model: str, task: str, method: str, k: int | None, min_cluster_size: int,
    _vectors: np.ndarray,
) -> Clustering:
    if method == "HDBSCAN":
        return cluster_hdbscan(_vectors, min_cluster_size)
    return cluster_kmeans(_vectors, k)


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_separation(
    texts: tuple[str, ...], labels: tuple[str, ...] | None, model: str, task: str, method: str, k: int | None,
    min_cluster_size: int, _vectors: np.ndarray, _clusters: np.ndarray,
) -> Separation:
    return separation(_vectors, labels, _clusters)


# The two settings: the first map is the texts as they are, the second with the instruction.
PLAIN_TITLE, INSTRUCTED_TITLE = N_("Without instruction"), N_("With instruction: {name}")


def _compute(
    corpus: Corpus, request: MapRequest, vectors: tuple[np.ndarray, np.ndarray], model: str
) -> list[MapSide] | None:
    """Both maps, clusterings and measures (from the caches when nothing changed). A side's title
    is its English msgid form; `_side_title` shows it translated."""
    resources.wait_for_warmup()
    sides = []
    settings = [("", ""), (request.instruction_name, request.task)]
    try:
        with st.spinner(_("Fitting the maps and clustering...")):
            for (name, task), vecs in zip(settings, vectors, strict=True):
                proj = _cached_map(corpus.texts, model, task, request.params, vecs)
                clustering = _cached_clustering(
                    corpus.texts, model, task, request.method, request.k, request.min_cluster_size, vecs
                )
                sep = _cached_separation(
                    corpus.texts, corpus.labels, model, task, request.method, request.k,
                    request.min_cluster_size, vecs, clustering.labels,
                )
                sides.append(MapSide(_side_title(name), task, vecs, proj, clustering, sep))
    except ValueError as exc:
        st.error(literal(error_text(exc)), icon=":material/error:")
        return None
    return sides


def _side_title(instruction_name: str) -> str:
    """A map's title in the session's language ("" = the map without instruction)."""
    if not instruction_name:
        return _(PLAIN_TITLE)
    return _(INSTRUCTED_TITLE).format(name=display_name(instruction_name))

