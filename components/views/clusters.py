"""Clusters page: UMAP maps of a corpus with and without an instruction, clusters and separation measures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from components import large_map, resources, state
from components.instruction_picker import pick_instruction
from components.page import PageContext
from components.widgets import download_figure, download_table, embed_with_progress, literal, show_error
from embedlab import figures
from embedlab.cache import CachedEmbedder
from embedlab.instructions import format_query
from embedlab.projection.clustering import (
    Clustering,
    Separation,
    cluster_hdbscan,
    cluster_kmeans,
    comparison_table,
    separation,
    verdict,
)
from embedlab.projection.mapdata import (
    MAX_TEXTS,
    MIN_TEXTS,
    Corpus,
    MapRequest,
    MapSide,
    colour_groups,
    guess_label_column,
    metadata_fields,
    prepare_table,
    query_lines,
    records_corpus,
    sample_corpus,
    sample_topic_size,
    selected_rows,
    selection_table,
    table_corpus,
)
from embedlab.projection.umap import Projection, UmapParams, auto_epochs, fit_umap, place_queries
from embedlab.stores.base import StoreError
from embedlab.textio import Table, UploadError, guess_text_column, load_table, text_columns

ss = st.session_state
NO_LABEL = "(none)"


def render(ctx: PageContext) -> None:
    resources.start_umap_warmup()  # compiles in the background while the user picks the texts
    st.title("Clusters")
    st.caption(
        "Two UMAP maps of the same texts: embedded as they are, and with a task instruction applied to "
        "every text (`Instruct: {task}\\nQuery:{text}`, as Qwen3-Embedding does for clustering). "
        "Colours show topic labels or the clusters found; the numbers say which setting separates the topics better."
    )
    source = st.radio("Texts", list(SOURCES), horizontal=True, key=state.UMAP_SOURCE, persist_state="session")
    corpus = SOURCES[source](ctx)
    if corpus is None:
        return
    request = _settings_form(ctx, corpus)
    if request is None:
        st.info("Choose the settings and press **Build maps**.", icon=":material/map:")
        return
    if request.corpus_key != corpus.key:
        st.info("The texts changed since the maps were built: press **Build maps** again.", icon=":material/refresh:")
        return
    vectors = _embed_corpus(ctx, corpus, request)
    if vectors is None:
        return
    sides = _compute(corpus, request, vectors, _model_key(ctx.embedder))
    if sides is not None:
        _show_results(ctx, corpus, request, sides)


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
        "Texts per topic", min_value=4, max_value=_sample_topic_size(), step=4, key=state.UMAP_PER_TOPIC, persist_state="session",
        help="Fewer texts give faster maps; each topic mixes English and Chinese texts.",
    )
    corpus = _sample_corpus(int(per_topic))
    topics = list(dict.fromkeys(corpus.labels))
    st.caption(
        f"{len(corpus.texts)} short texts written for this playground, {len(topics)} topics "
        f"({', '.join(topics)}), English and Chinese."
    )
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
        "CSV, TSV or JSONL: one text per row, optionally a label column",
        type=["csv", "tsv", "jsonl", "ndjson", "json", "txt"],
        key="umap.upload",
    )
    if uploaded is None:
        st.info("Upload a table to map your own texts.", icon=":material/upload_file:")
        return None
    try:
        table = _read_upload(uploaded.getvalue(), uploaded.name)
    except UploadError as exc:
        st.error(literal(f"{uploaded.name}: {exc}"), icon=":material/error:")
        return None
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    textual = text_columns(frame)
    if not textual:
        st.error(
            f"{literal(uploaded.name)} has no column of text: its columns ({literal(', '.join(columns))}) hold only numbers, "
            "dates or nothing. Upload a table with one text per row in a column such as “text”.",
            icon=":material/error:",
        )
        return None
    # Default to a conventionally named column, else the longest text column (never an id column).
    _guess_columns(uploaded.file_id, columns, guess_text_column(frame[textual]) or textual[0])
    left, right = st.columns(2)
    state.keep_valid(state.UMAP_TEXT_COL, columns)
    text_col = left.selectbox("Text column", columns, key=state.UMAP_TEXT_COL, persist_state="session")
    if text_col not in textual:
        st.warning(f"Column “{literal(text_col)}” holds numbers or dates rather than text.", icon=":material/warning:")
    label_options = [NO_LABEL, *[c for c in columns if c != text_col]]
    state.keep_valid(state.UMAP_LABEL_COL, label_options, fallback=NO_LABEL)
    label_col = right.selectbox(
        "Label column (optional)", label_options, key=state.UMAP_LABEL_COL, persist_state="session",
        help="Topic labels colour the maps and let the page measure how well topics separate.",
    )
    prepared = prepare_table(frame, text_col, None if label_col == NO_LABEL else label_col)
    if prepared.dropped:
        st.warning(f"{prepared.dropped:,} rows with an empty text were left out.", icon=":material/warning:")
    if prepared.truncated:
        st.warning(
            f"Only the first {MAX_TEXTS:,} texts are mapped ({prepared.truncated:,} more in the file).",
            icon=":material/warning:",
        )
    if len(prepared.texts) < MIN_TEXTS:
        st.error(f"A map needs at least {MIN_TEXTS} non-empty texts; this file has {len(prepared.texts)}.")
        return None
    st.caption(
        f"{len(prepared.texts):,} texts"
        + (f", {len(set(prepared.labels)):,} labels" if prepared.labels else ", no labels")
        + f"; {literal(uploaded.name)} read as {table.encoding}"
    )
    return table_corpus(uploaded.name, prepared)


def _collection_source(ctx: PageContext) -> Corpus | None:
    """The stored chunks of a Search-page collection, labelled by a metadata field (default: source)."""
    try:
        store = ctx.store
        counts = {info.name: info.count for info in store.list() if info.count > 0}
    except StoreError as exc:
        show_error(exc, "The collections cannot be listed")
        return None
    if not counts:
        st.info("No collection holds documents yet: build or fill one on the Search page.",
                icon=":material/database:")
        return None
    left, right = st.columns(2)
    state.keep_valid(state.UMAP_COLLECTION, list(counts))
    name = left.selectbox("Collection", list(counts), key=state.UMAP_COLLECTION, persist_state="session",
                          format_func=lambda n: f"{n} ({counts[n]:,} chunks)")
    if counts[name] > large_map.LARGE_COLLECTION:  # too many to embed again: one map of the stored vectors
        large_map.render(ctx, name, counts[name])
        return None
    try:
        records = store.get_records(name)
    except StoreError as exc:
        show_error(exc, f"The chunks of {name} cannot be read")
        return None
    options = [NO_LABEL, *metadata_fields(records)]
    state.keep_valid(state.UMAP_COLLECTION_LABEL, options, fallback=NO_LABEL)
    label_key = right.selectbox(
        "Label (metadata field)", options, key=state.UMAP_COLLECTION_LABEL, persist_state="session",
        help="Chunks of one document share its source: they should sit together.",
    )
    corpus = records_corpus(f"collection {name}", records, None if label_key == NO_LABEL else label_key)
    if len(corpus.texts) < MIN_TEXTS:
        st.error(f"A map needs at least {MIN_TEXTS} texts; {literal(name)} has {len(corpus.texts)}.")
        return None
    st.caption(f"{len(corpus.texts):,} chunks from {literal(name)}"
               + (f", labelled by {literal(label_key)}" if corpus.labels else ""))
    return corpus


# Where texts can come from: name -> function that draws its widgets and returns a Corpus.
SOURCES: dict[str, Callable[[PageContext], Corpus | None]] = {
    "Sample corpus": _sample_source,
    "Upload CSV / JSONL": _upload_source,
    "Stored collection": _collection_source,
}


# --- Settings -------------------------------------------------------------------------------


def _settings_form(ctx: PageContext, corpus: Corpus) -> MapRequest | None:
    """The settings form; returns the last submitted request (None before the first)."""
    with st.form("umap.form"):
        st.markdown("**Instruction** for the second map (applied to every text, as Qwen does for clustering)")
        instruction = pick_instruction(ctx.library, state.UMAP_INSTRUCTION, "Instruction", allow_none=False)
        c1, c2, c3, c4 = st.columns(4)
        c1.radio("Map", ["2-D", "3-D"], horizontal=True, key=state.UMAP_DIMS, persist_state="session")
        c2.slider("n_neighbors", 2, 100, key=state.UMAP_N_NEIGHBORS, persist_state="session",
                  help="Small values keep local detail, large values the overall layout.")
        c3.slider("min_dist", 0.0, 0.99, step=0.01, key=state.UMAP_MIN_DIST, persist_state="session",
                  help="How tightly points may pack together on the map.")
        c4.checkbox("Fixed seed", key=state.UMAP_FIXED_SEED, persist_state="session",
                    help="Reproducible maps; without a seed UMAP runs its layout in parallel.")
        c4.number_input("Seed", 0, 2**31 - 1, key=state.UMAP_SEED, persist_state="session")
        d1, d2, d3 = st.columns(3)
        d1.radio("Clustering", ["k-means", "HDBSCAN"], horizontal=True, key=state.UMAP_METHOD, persist_state="session")
        d2.radio("k (k-means)", ["best silhouette", "fixed"], horizontal=True, key=state.UMAP_K_MODE, persist_state="session")
        d2.number_input("k", 2, 50, key=state.UMAP_K, persist_state="session")
        d3.number_input("HDBSCAN min cluster size", 2, 500, key=state.UMAP_MIN_CLUSTER_SIZE, persist_state="session")
        submitted = st.form_submit_button("Build maps", type="primary")
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
        st.error("Choose an instruction for the second map.")
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
    plain = embed_with_progress(ctx, corpus.texts, "Embedding the texts")
    if plain is None:
        return None
    instructed = embed_with_progress(
        ctx, [format_query(request.task, t) for t in corpus.texts], "Embedding the texts with the instruction"
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


def _compute(
    corpus: Corpus, request: MapRequest, vectors: tuple[np.ndarray, np.ndarray], model: str
) -> list[MapSide] | None:
    """Both maps, clusterings and measures (from the caches when nothing changed)."""
    resources.wait_for_warmup()
    sides = []
    settings = [("Without instruction", ""), (f"With instruction: {request.instruction_name}", request.task)]
    try:
        with st.spinner("Fitting the maps and clustering..."):
            for (title, task), vecs in zip(settings, vectors, strict=True):
                proj = _cached_map(corpus.texts, model, task, request.params, vecs)
                clustering = _cached_clustering(
                    corpus.texts, model, task, request.method, request.k, request.min_cluster_size, vecs
                )
                sep = _cached_separation(
                    corpus.texts, corpus.labels, model, task, request.method, request.k,
                    request.min_cluster_size, vecs, clustering.labels,
                )
                sides.append(MapSide(title, task, vecs, proj, clustering, sep))
    except ValueError as exc:
        st.error(literal(exc), icon=":material/error:")
        return None
    return sides


# --- Results view -------------------------------------------------------------------------------


def _place_queries(ctx: PageContext, sides: list[MapSide], queries: list[str]) -> list[np.ndarray | None]:
    """Each side's (m, 2|3) map positions of the queries, embedded like that side's texts; None on failure."""
    placed: list[np.ndarray | None] = []
    for side in sides:
        vecs = embed_with_progress(ctx, [format_query(side.task, q) for q in queries], "Embedding the queries")
        if vecs is None:
            placed.append(None)
            continue
        try:
            placed.append(place_queries(side.projection, side.vectors, vecs))
        except ValueError as exc:
            show_error(exc)
            placed.append(None)
    return placed


def _points(event) -> list[dict]:
    """The selected points of a chart's selection event (none when the chart reports no selection)."""
    return list(getattr(getattr(event, "selection", None), "points", None) or [])


@st.fragment
def _show_results(ctx: PageContext, corpus: Corpus, request: MapRequest, sides: list[MapSide]) -> None:
    """Measures, the two maps, query placement and selections; reruns on its own (fragment)."""
    _show_measures(*sides)
    c1, c2 = st.columns([1, 2])
    colour_options = ["label", "found cluster"] if corpus.labels is not None else ["found cluster"]
    state.keep_valid(state.UMAP_COLOUR_BY, colour_options)
    colour_by = c1.radio("Colour by", colour_options, horizontal=True, key=state.UMAP_COLOUR_BY, persist_state="session")
    queries_text = c2.text_area(
        "Queries to place on both maps (one per line)", key=state.UMAP_QUERIES, persist_state="session", height=80,
        placeholder="How many days of annual leave do I get?\n怎么申请退款？",
        help="Embedded like the texts of each map (with the instruction on the second) and placed "
        "with UMAP's transform; shown as black stars.",
    )
    queries = query_lines(queries_text)
    placed = _place_queries(ctx, sides, queries) if queries else [None, None]

    # Topic colours are taken over all texts once, so a topic has the same colour on both maps.
    label_colours = figures.group_colours(list(corpus.labels)) if corpus.labels is not None else {}
    three_d = request.params.n_components == 3
    selected: list[tuple[str, int]] = []
    for i, (column, side) in enumerate(zip(st.columns(2), sides, strict=True)):
        with column:
            selected += _show_map(i, side, corpus, colour_by, label_colours, placed[i], queries, three_d)

    st.subheader("Selected texts")
    if three_d:
        st.caption("Box and lasso selection work on 2-D maps.")
    if not selected:
        st.caption("Use the box or lasso tool on a map (top right of each chart) to list texts here.")
        return
    frame = selection_table(corpus, selected, sides)
    st.dataframe(frame, hide_index=True, key="umap.selected")
    download_table(frame, "selected_texts", key="umap.dl_selected")


def _show_measures(plain: MapSide, instructed: MapSide) -> None:
    st.subheader("How well do the topics separate?")
    table = comparison_table(plain.separation, instructed.separation)
    st.markdown(f"**{verdict(plain.separation, instructed.separation)}**")
    st.dataframe(
        table, hide_index=True, key="umap.metrics",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]},
    )
    st.caption(
        "Silhouette (cosine, -1..1): how much closer texts are to their own topic than to the next one. "
        "ARI and NMI (0..1): agreement of the clusters found with the labels. kNN label agreement: share "
        "of each text's 10 nearest neighbours with the same label. All on the full vectors, not the map."
    )
    download_table(table, "cluster_measures", key="umap.dl_metrics")


def _show_map(i: int, side: MapSide, corpus: Corpus, colour_by: str, label_colours: dict[str, str],
              placed: np.ndarray | None, queries: list[str], three_d: bool) -> list[tuple[str, int]]:
    """Map i (0 plain, 1 instructed) with its caption, download and k search; the texts selected on it."""
    groups, order, details = colour_groups(side.clustering.labels, corpus.labels, colour_by)
    colours = label_colours if colour_by == "label" else figures.group_colours(order)
    fig = figures.umap_map(
        side.projection.coords, list(corpus.texts), groups, side.title, colours,
        query_coords=placed, queries=queries if placed is not None else None, details=details,
    )
    key = f"umap.map_{i}"
    selected: list[tuple[str, int]] = []
    if three_d:
        st.plotly_chart(fig, key=key)
    else:
        event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("box", "lasso"))
        selected = [(side.title, row) for row in selected_rows(_points(event))]
    p = side.projection
    st.caption(
        f"{len(corpus.texts):,} texts · {side.clustering.method}: {side.clustering.k} clusters · "
        f"map fitted in {p.seconds:.1f} s (n_neighbors {p.n_neighbors}, "
        f"{p.params.n_epochs or auto_epochs(len(corpus.texts))} epochs)"
    )
    download_figure(fig, f"umap_{'plain' if i == 0 else 'instructed'}", key=f"umap.dl_map_{i}")
    if side.clustering.scores:
        with st.expander("k search (silhouette per k)"):
            st.plotly_chart(
                figures.silhouette_by_k(side.clustering.scores, side.clustering.k, side.title),
                key=f"umap.kscores_{i}",
            )
    return selected
