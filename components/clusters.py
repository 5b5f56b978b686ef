"""Streamlit side of the Clusters page: UMAP warm-up, data sources, cached maps and results view."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from components import resources, state
from components.instruction_picker import pick_instruction
from components.resources import current_settings
from components.store import get_store
from components.widgets import download_figure, download_table, embed_with_progress, show_error
from embedlab import figures, projection
from embedlab.cache import CachedEmbedder
from embedlab.instructions import format_query
from embedlab.projection import Clustering, Projection, Separation, UmapParams
from embedlab.textio import UploadError, guess_text_column, read_table, text_columns

log = logging.getLogger(__name__)

DEFAULT_INSTRUCTION = "Clustering"
NO_LABEL = "(none)"


# --- Data sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """The texts to map, with optional topic labels (same length)."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...] | None

    @property
    def key(self) -> str:
        digest = hashlib.sha1()
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(b"\1")
        for label in self.labels or ():
            digest.update(label.encode("utf-8", "surrogatepass") + b"\0")
        return digest.hexdigest()


def _sample_source() -> Corpus | None:
    full = projection.load_sample_corpus()
    per_topic_max = int(full.groupby("label").size().max())
    per_topic = st.columns(3)[0].number_input(
        "Texts per topic", min_value=4, max_value=per_topic_max, value=per_topic_max, step=4,
        key="umap.w.per_topic",
        help="Fewer texts give faster maps; each topic mixes English and Chinese texts.",
    )
    frame = projection.load_sample_corpus(int(per_topic))
    st.caption(
        f"{len(frame)} short texts written for this playground, {frame['label'].nunique()} topics "
        f"({', '.join(frame['label'].unique())}), English and Chinese."
    )
    return Corpus("sample corpus", tuple(frame["text"]), tuple(frame["label"]))


def _guess(columns: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [str(c).strip().lower() for c in columns]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _upload_source() -> Corpus | None:
    uploaded = st.file_uploader(
        "CSV, TSV or JSONL: one text per row, optionally a label column",
        type=["csv", "tsv", "jsonl", "ndjson", "json", "txt"],
        key="umap.w.upload",
    )
    if uploaded is None:
        st.info("Upload a table to map your own texts.", icon=":material/upload_file:")
        return None
    try:
        frame = read_table(uploaded.getvalue(), uploaded.name)
    except UploadError as exc:
        st.error(f"{uploaded.name}: {exc}", icon=":material/error:")
        return None
    columns = [str(c) for c in frame.columns]
    textual = text_columns(frame)
    if not textual:
        st.error(
            f"{uploaded.name} has no column of text: its columns ({', '.join(columns)}) hold only numbers, "
            "dates or nothing. Upload a table with one text per row in a column such as “text”.",
            icon=":material/error:",
        )
        return None
    left, right = st.columns(2)
    # Default to a conventionally named column, else the longest text column (never an id column).
    guess = guess_text_column(frame[textual])
    text_col = left.selectbox(
        "Text column", columns, index=columns.index(guess) if guess else columns.index(textual[0]),
        key="umap.w.text_col",
    )
    if text_col not in textual:
        st.warning(f"Column “{text_col}” holds numbers or dates rather than text.", icon=":material/warning:")
    label_options = [NO_LABEL, *[c for c in columns if c != text_col]]
    guessed = _guess(label_options, ("label", "topic", "category", "class", "domain"))
    label_col = right.selectbox(
        "Label column (optional)", label_options, index=guessed or 0, key="umap.w.label_col",
        help="Topic labels colour the maps and let the page measure how well topics separate.",
    )
    prepared = projection.prepare_table(frame, text_col, None if label_col == NO_LABEL else label_col)
    if prepared.dropped:
        st.warning(f"{prepared.dropped:,} rows with an empty text were left out.", icon=":material/warning:")
    if prepared.truncated:
        st.warning(
            f"Only the first {projection.MAX_TEXTS:,} texts are mapped ({prepared.truncated:,} more in the file).",
            icon=":material/warning:",
        )
    if len(prepared.texts) < projection.MIN_TEXTS:
        st.error(f"A map needs at least {projection.MIN_TEXTS} non-empty texts; this file has {len(prepared.texts)}.")
        return None
    st.caption(
        f"{len(prepared.texts):,} texts"
        + (f", {len(set(prepared.labels)):,} labels" if prepared.labels else ", no labels")
    )
    return Corpus(uploaded.name, tuple(prepared.texts), tuple(prepared.labels) if prepared.labels else None)


def _collection_source() -> Corpus | None:
    """The stored chunks of a Search-page collection, labelled by a metadata field (default: source)."""
    store = get_store(current_settings())
    if store is None:
        return None  # get_store has shown why
    infos = [info for info in store.list() if info.count > 0]
    if not infos:
        st.info("No collection holds documents yet: build or fill one on the Search page.",
                icon=":material/database:")
        return None
    left, right = st.columns(2)
    counts = {info.name: info.count for info in infos}
    name = left.selectbox("Collection", list(counts), key="umap.w.collection",
                          format_func=lambda n: f"{n} ({counts[n]:,} chunks)")
    records = store.get_records(name)[: projection.MAX_TEXTS]
    keys = sorted({k for r in records for k, v in r["metadata"].items() if isinstance(v, str)})
    options = [NO_LABEL, *keys]
    label_key = right.selectbox(
        "Label (metadata field)", options, index=options.index("source") if "source" in options else 0,
        key="umap.w.collection_label", help="Chunks of one document share its source: they should sit together.",
    )
    texts = tuple(r["text"] for r in records if r["text"] and r["text"].strip())
    if len(texts) < projection.MIN_TEXTS:
        st.error(f"A map needs at least {projection.MIN_TEXTS} texts; {name} has {len(texts)}.")
        return None
    labels = None
    if label_key != NO_LABEL:
        labels = tuple(str(r["metadata"].get(label_key, "")) for r in records if r["text"] and r["text"].strip())
    st.caption(f"{len(texts):,} chunks from {name}" + (f", labelled by {label_key}" if labels else ""))
    return Corpus(f"collection {name}", texts, labels)


# Where texts can come from: name -> function that draws its widgets and returns a Corpus.
SOURCES: dict[str, Callable[[], Corpus | None]] = {
    "Sample corpus": _sample_source,
    "Upload CSV / JSONL": _upload_source,
    "Chroma collection": _collection_source,
}


def choose_corpus() -> Corpus | None:
    source = st.radio("Texts", list(SOURCES), horizontal=True, key="umap.w.source")
    return SOURCES[source]()


# --- Settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapRequest:
    """What "Build maps" asked for; the maps are recomputed (from caches) on every rerun."""

    corpus_key: str
    instruction_name: str
    task: str
    params: UmapParams
    method: str  # "k-means" or "HDBSCAN"
    k: int | None  # None: best silhouette
    min_cluster_size: int


def settings_form(corpus: Corpus) -> MapRequest | None:
    """The settings form; returns the last submitted request (None before the first)."""
    if "umap.w.instruction" not in st.session_state:
        st.session_state["umap.w.instruction"] = DEFAULT_INSTRUCTION
    with st.form("umap.w.form"):
        st.markdown("**Instruction** for the second map (applied to every text, as Qwen does for clustering)")
        instruction = pick_instruction("umap.w.instruction", "Instruction", allow_none=False)
        c1, c2, c3, c4 = st.columns(4)
        dims = c1.radio("Map", ["2-D", "3-D"], horizontal=True, key="umap.w.dims")
        n_neighbors = c2.slider("n_neighbors", 2, 100, 15, key="umap.w.n_neighbors",
                                help="Small values keep local detail, large values the overall layout.")
        min_dist = c3.slider("min_dist", 0.0, 0.99, 0.1, step=0.01, key="umap.w.min_dist",
                             help="How tightly points may pack together on the map.")
        fixed = c4.checkbox("Fixed seed", value=True, key="umap.w.fixed_seed",
                            help="Reproducible maps; without a seed UMAP runs its layout in parallel.")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 42, key="umap.w.seed")
        d1, d2, d3 = st.columns(3)
        method = d1.radio("Clustering", ["k-means", "HDBSCAN"], horizontal=True, key="umap.w.method")
        k_mode = d2.radio("k (k-means)", ["best silhouette", "fixed"], horizontal=True, key="umap.w.k_mode")
        k = d2.number_input("k", 2, 50, 6, key="umap.w.k")
        min_cluster_size = d3.number_input("HDBSCAN min cluster size", 2, 500, 5, key="umap.w.min_cluster_size")
        submitted = st.form_submit_button("Build maps", type="primary")
    if submitted and instruction is not None:
        st.session_state[state.UMAP_REQUEST] = MapRequest(
            corpus_key=corpus.key,
            instruction_name=instruction.name,
            task=instruction.task,
            params=UmapParams(
                n_components=3 if dims == "3-D" else 2,
                n_neighbors=int(n_neighbors),
                min_dist=float(min_dist),
                seed=int(seed) if fixed else None,
            ),
            method=method,
            k=int(k) if k_mode == "fixed" else None,
            min_cluster_size=int(min_cluster_size),
        )
    elif submitted:
        st.error("Choose an instruction for the second map.")
    return st.session_state[state.UMAP_REQUEST]


# --- Embedding and cached computations --------------------------------------------------------


def model_key(embedder: CachedEmbedder) -> str:
    return f"{embedder.model_id}|{embedder.dimensions}"


def embed_corpus(embedder: CachedEmbedder, corpus: Corpus, request: MapRequest) -> tuple[np.ndarray, np.ndarray] | None:
    """(plain, instructed) vectors, each float32 (n, dim); kept in session state for reruns so
    that a selection or a colour change does not read thousands of vectors back from SQLite."""
    key = (model_key(embedder), corpus.key, request.task)
    held = st.session_state[state.UMAP_VECTORS]
    if held and held["key"] == key:
        return held["plain"], held["instructed"]
    plain = embed_with_progress(embedder, corpus.texts, "Embedding the texts")
    if plain is None:
        return None
    instructed = embed_with_progress(
        embedder, [format_query(request.task, t) for t in corpus.texts], "Embedding the texts with the instruction"
    )
    if instructed is None:
        return None
    st.session_state[state.UMAP_VECTORS] = {"key": key, "plain": plain, "instructed": instructed}
    return plain, instructed


# Cached by texts + model + instruction + parameters; the vectors (underscore: not hashed) are
# determined by those.
@st.cache_data(show_spinner=False, max_entries=16)
def cached_map(texts: tuple[str, ...], model: str, task: str, params: UmapParams, _vectors: np.ndarray) -> Projection:
    return projection.fit_umap(_vectors, params)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_clustering(
    texts: tuple[str, ...], model: str, task: str, method: str, k: int | None, min_cluster_size: int,
    _vectors: np.ndarray,
) -> Clustering:
    if method == "HDBSCAN":
        return projection.cluster_hdbscan(_vectors, min_cluster_size)
    return projection.cluster_kmeans(_vectors, k)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_separation(
    texts: tuple[str, ...], labels: tuple[str, ...] | None, model: str, task: str, method: str, k: int | None,
    min_cluster_size: int, _vectors: np.ndarray, _clusters: np.ndarray,
) -> Separation:
    return projection.separation(_vectors, labels, _clusters)


@dataclass
class Side:
    """One setting (without or with the instruction) with everything computed for it."""

    title: str
    task: str  # "" = no instruction
    vectors: np.ndarray
    projection: Projection
    clustering: Clustering
    separation: Separation


def compute(corpus: Corpus, request: MapRequest, vectors: tuple[np.ndarray, np.ndarray], model: str) -> list[Side] | None:
    """Both maps, clusterings and measures (from the caches when nothing changed)."""
    resources.wait_for_warmup()
    sides = []
    settings = [("Without instruction", ""), (f"With instruction: {request.instruction_name}", request.task)]
    try:
        with st.spinner("Fitting the maps and clustering..."):
            for (title, task), vecs in zip(settings, vectors, strict=True):
                proj = cached_map(corpus.texts, model, task, request.params, vecs)
                clustering = cached_clustering(
                    corpus.texts, model, task, request.method, request.k, request.min_cluster_size, vecs
                )
                sep = cached_separation(
                    corpus.texts, corpus.labels, model, task, request.method, request.k,
                    request.min_cluster_size, vecs, clustering.labels,
                )
                sides.append(Side(title, task, vecs, proj, clustering, sep))
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    return sides


# --- Results view -------------------------------------------------------------------------------


def _cluster_names(clustering: Clustering) -> list[str]:
    return ["noise" if c < 0 else f"cluster {c + 1}" for c in clustering.labels.tolist()]


def _place_queries(embedder: CachedEmbedder, sides: list[Side], queries: list[str]) -> list[np.ndarray | None]:
    placed: list[np.ndarray | None] = []
    for side in sides:
        inputs = [format_query(side.task, q) for q in queries]
        vecs = embed_with_progress(embedder, inputs, "Embedding the queries")
        if vecs is None:
            placed.append(None)
            continue
        try:
            placed.append(projection.place_queries(side.projection, side.vectors, vecs))
        except ValueError as exc:
            show_error(exc)
            placed.append(None)
    return placed


def _selected_rows(event) -> list[int]:
    """Row indices of the texts selected in a chart (query markers carry negative ids)."""
    rows = []
    try:
        points = event.selection.points
    except AttributeError:
        return rows
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, int | float) and data >= 0:
            rows.append(int(data))
    return rows


@st.fragment
def show_results(embedder: CachedEmbedder, corpus: Corpus, request: MapRequest, sides: list[Side]) -> None:
    """Measures, the two maps, query placement and selections; reruns on its own (fragment)."""
    plain, instructed = sides
    st.subheader("How well do the topics separate?")
    table = projection.comparison_table(plain.separation, instructed.separation)
    st.markdown(f"**{projection.verdict(plain.separation, instructed.separation)}**")
    st.dataframe(
        table, hide_index=True, key="umap.w.metrics",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]},
    )
    st.caption(
        "Silhouette (cosine, -1..1): how much closer texts are to their own topic than to the next one. "
        "ARI and NMI (0..1): agreement of the clusters found with the labels. kNN label agreement: share "
        "of each text's 10 nearest neighbours with the same label. All on the full vectors, not the map."
    )
    download_table(table, "cluster_measures", key="umap.w.metrics_csv")

    has_labels = corpus.labels is not None
    c1, c2 = st.columns([1, 2])
    colour_by = c1.radio(
        "Colour by", ["label", "found cluster"] if has_labels else ["found cluster"],
        horizontal=True, key="umap.w.colour_by",
    )
    queries_text = c2.text_area(
        "Queries to place on both maps (one per line)", key="umap.w.queries", height=80,
        placeholder="How many days of annual leave do I get?\n怎么申请退款？",
        help="Embedded like the texts of each map (with the instruction on the second) and placed "
        "with UMAP's transform; shown as black stars.",
    )
    st.session_state[state.UMAP_QUERIES] = queries_text
    queries = [q.strip() for q in queries_text.splitlines() if q.strip()][:20]
    placed = _place_queries(embedder, sides, queries) if queries else [None, None]

    label_colours = figures.group_colours(list(corpus.labels)) if has_labels else {}
    three_d = request.params.n_components == 3
    selected: list[tuple[str, int]] = []
    columns = st.columns(2)
    for i, (column, side) in enumerate(zip(columns, sides, strict=True)):
        with column:
            clusters_named = _cluster_names(side.clustering)
            if colour_by == "label":
                groups, colours, details = list(corpus.labels), label_colours, clusters_named
            else:
                ids = sorted(set(side.clustering.labels.tolist()), key=lambda c: (c < 0, c))  # noise last
                groups = clusters_named
                colours = figures.group_colours(["noise" if c < 0 else f"cluster {c + 1}" for c in ids])
                details = [f"label: {x}" for x in corpus.labels] if has_labels else None
            fig = figures.umap_map(
                side.projection.coords, list(corpus.texts), groups, side.title, colours,
                query_coords=placed[i], queries=queries if placed[i] is not None else None, details=details,
            )
            key = f"umap.w.map_{i}"
            if three_d:
                st.plotly_chart(fig, key=key)
            else:
                event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("box", "lasso"))
                selected.extend((side.title, row) for row in _selected_rows(event))
            p = side.projection
            st.caption(
                f"{len(corpus.texts):,} texts · {side.clustering.method}: {side.clustering.k} clusters · "
                f"map fitted in {p.seconds:.1f} s (n_neighbors {p.n_neighbors}, "
                f"{p.params.n_epochs or projection.auto_epochs(len(corpus.texts))} epochs)"
            )
            download_figure(fig, f"umap_{'plain' if i == 0 else 'instructed'}", key=f"umap.w.map_{i}_html")
            if side.clustering.scores:
                with st.expander("k search (silhouette per k)"):
                    st.plotly_chart(
                        figures.silhouette_by_k(side.clustering.scores, side.clustering.k, side.title),
                        key=f"umap.w.kscores_{i}",
                    )

    st.subheader("Selected texts")
    if three_d:
        st.caption("Box and lasso selection work on 2-D maps.")
    if not selected:
        st.caption("Use the box or lasso tool on a map (top right of each chart) to list texts here.")
        return
    names = {side.title: _cluster_names(side.clustering) for side in sides}
    frame = pd.DataFrame(
        {
            "map": [m for m, _ in selected],
            "text": [corpus.texts[r] for _, r in selected],
            "label": [corpus.labels[r] if has_labels else "" for _, r in selected],
            "cluster": [names[m][r] for m, r in selected],
        }
    )
    st.dataframe(frame, hide_index=True, key="umap.w.selected")
    download_table(frame, "selected_texts", key="umap.w.selected_csv")
