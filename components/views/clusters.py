"""Clusters page: UMAP maps of a corpus with and without an instruction, clusters and separation measures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from components import resources, state
from components.i18n import _, current_language, tr, translations
from components.instruction_picker import pick_instruction
from components.page import PageContext
from components.widgets import download_figure, download_table, embed_with_progress, literal, show_error
from embedlab import figures
from embedlab.cache import CachedEmbedder
from embedlab.instructions import format_query
from embedlab.messages import N_, LocalizedError
from embedlab.projection.clustering import (
    Clustering,
    Separation,
    cluster_hdbscan,
    cluster_kmeans,
    comparison_table,
    language_note,
    separation,
    verdict,
)
from embedlab.projection.labels import cluster_centres, cluster_terms, search_texts
from embedlab.projection.language import LANGUAGE_NAMES, detect_languages
from embedlab.projection.mapdata import (
    COLOUR_CLUSTER,
    COLOUR_LABEL,
    COLOUR_LANGUAGE,
    FIELD_PREFIX,
    LEGEND_LIMIT,
    MAX_TEXTS,
    MIN_TEXTS,
    Corpus,
    Groups,
    MapRequest,
    MapSide,
    cluster_names,
    colour_keys,
    field_values,
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
    top_groups,
)
from embedlab.projection.umap import Projection, UmapParams, auto_epochs, fit_umap, place_queries
from embedlab.stores.base import StoreError
from embedlab.textio import Table, UploadError, guess_text_column, load_table, text_columns

ss = st.session_state
NO_LABEL = "(none)"  # the label pickers' "no label" option (a key, shown translated)
CLUSTER_NAME, NOISE = N_("cluster {n}"), N_("noise")
OTHER_GROUPS = N_("other ({n} groups)")
FIELD_NAME = N_("Field “{name}”")  # a colour choice: a column or metadata field, by its name
# Keys of the choice widgets -> their display names (translated where drawn).
CHOICES = {
    NO_LABEL: N_("(none)"), "2-D": N_("2-D"), "3-D": N_("3-D"),
    "best silhouette": N_("best silhouette"), "fixed": N_("fixed"),
    COLOUR_LABEL: N_("Label"), COLOUR_CLUSTER: N_("Found cluster"), COLOUR_LANGUAGE: N_("Language (detected)"),
}


def _bound_gettext() -> Callable[[str], str]:
    """gettext of this session's language, bound now: a format function may be called after the
    script run (AppTest does), where the session's language is no longer known."""
    return translations(current_language()).gettext


def _choice_names() -> Callable[[str], str]:
    """Format function of the choice widgets: an option key shown in the session's language (a
    field by its own name, "(none)" and the fixed choices translated)."""
    gettext = _bound_gettext()

    def name(key: str) -> str:
        if key.startswith(FIELD_PREFIX):
            return gettext(FIELD_NAME).format(name=key.removeprefix(FIELD_PREFIX))
        return gettext(CHOICES[key]) if key in CHOICES else gettext(SOURCE_NAMES[key]) if key in SOURCE_NAMES else key

    return name


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
                      format_func=_choice_names())
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
        reason = tr(exc.message) if isinstance(exc, LocalizedError) else str(exc)
        st.error(literal(f"{uploaded.name}: {reason}"), icon=":material/error:")
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
    corpus = records_corpus(f"collection {name}", records, None if label_key == NO_LABEL else label_key)
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
SOURCE_NAMES = {"Sample corpus": N_("Sample corpus"), "Upload CSV / JSONL": N_("Upload CSV / JSONL"),
                "Stored collection": N_("Stored collection")}


# --- Settings -------------------------------------------------------------------------------


def _settings_form(ctx: PageContext, corpus: Corpus) -> MapRequest | None:
    """The settings form; returns the last submitted request (None before the first)."""
    with st.form("umap.form"):
        st.markdown(_("**Instruction** for the second map (applied to every text, as Qwen does for clustering)"))
        instruction = pick_instruction(ctx.library, state.UMAP_INSTRUCTION, _("Instruction"), allow_none=False)
        c1, c2, c3, c4 = st.columns(4)
        c1.radio(_("Map"), ["2-D", "3-D"], horizontal=True, key=state.UMAP_DIMS, persist_state="session",
                 format_func=_choice_names())
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
                 persist_state="session", format_func=_choice_names())
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


@st.cache_data(show_spinner=False, max_entries=8)
def _languages(corpus_key: str, _texts: tuple[str, ...]) -> list[str]:
    """The detected language (a key of LANGUAGE_NAMES) of each text; cached by the corpus' digest."""
    return detect_languages(_texts)


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
        st.error(literal(tr(exc.message) if isinstance(exc, LocalizedError) else exc), icon=":material/error:")
        return None
    return sides


def _side_title(instruction_name: str) -> str:
    """A map's title in the session's language ("" = the map without instruction)."""
    if not instruction_name:
        return _(PLAIN_TITLE)
    return _(INSTRUCTED_TITLE).format(name=instruction_name)


# --- Results view -------------------------------------------------------------------------------


def _place_queries(ctx: PageContext, sides: list[MapSide], queries: list[str]) -> list[np.ndarray | None]:
    """Each side's (m, 2|3) map positions of the queries, embedded like that side's texts; None on failure."""
    placed: list[np.ndarray | None] = []
    for side in sides:
        vecs = embed_with_progress(ctx, [format_query(side.task, q) for q in queries], _("Embedding the queries"))
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
    languages = _languages(corpus.key, corpus.texts)
    _show_measures(*sides, corpus=corpus, languages=languages, instruction=request.instruction_name)
    c1, c2 = st.columns([1, 2])
    colour_options = colour_keys(corpus)
    state.keep_valid(state.UMAP_COLOUR_BY, colour_options, fallback=colour_options[0])
    colour_by = c1.selectbox(_("Colour by"), colour_options, key=state.UMAP_COLOUR_BY, persist_state="session",
                             format_func=_choice_names(),
                             help=_("Any field of the texts; more than {n} groups show the largest {n} and "
                                    "“other”.").format(n=LEGEND_LIMIT))
    queries_text = c2.text_area(
        _("Queries to place on both maps (one per line)"), key=state.UMAP_QUERIES, persist_state="session",
        height=80, placeholder=_("How many days of annual leave do I get?\n怎么申请退款？"),
        help=_("Embedded like the texts of each map (with the instruction on the second) and placed "
               "with UMAP's transform; shown as black stars."),
    )
    queries = query_lines(queries_text)
    placed = _place_queries(ctx, sides, queries) if queries else [None, None]
    e1, e2 = st.columns([2, 1])
    search = e1.text_input(
        _("Find texts on the maps"), key=state.UMAP_SEARCH, persist_state="session",
        placeholder=_("words the texts contain, e.g. leave 年假"),
        help=_("Texts that contain every word (any case) are ringed in red on both maps."),
    ).strip()
    found = search_texts(corpus.texts, search)
    if search:
        e1.caption(literal(_("{n} of {total} texts contain “{words}”.").format(
            n=f"{len(found):,}", total=f"{len(corpus.texts):,}", words=search)))
    e2.checkbox(_("Name the clusters on the maps"), key=state.UMAP_NAME_CLUSTERS, persist_state="session",
                help=_("Each found cluster is named by its most distinctive terms (class-based TF-IDF; "
                       "Chinese cut into words by jieba)."))
    marks = Marks(search, found, bool(ss[state.UMAP_NAME_CLUSTERS]))

    # A field's colours are taken over all texts once, so a group has the same colour on both maps.
    shared = _shared_groups(corpus, colour_by, languages)
    three_d = request.params.n_components == 3
    selected: list[tuple[str, int]] = []
    for i, (column, side) in enumerate(zip(st.columns(2), sides, strict=True)):
        with column:
            groups, colours = shared if shared is not None else _cluster_groups(side)
            details = _hover_details(corpus, side, colour_by)
            selected += _show_map(i, side, corpus, groups.of_text, colours, details, placed[i], queries, three_d,
                                  marks)

    st.subheader(_("Selected texts"))
    if three_d:
        st.caption(_("Box and lasso selection work on 2-D maps."))
    if not selected:
        st.caption(_("Use the box or lasso tool on a map (top right of each chart) to list texts here."))
        return
    frame = selection_table(corpus, selected, sides, _(CLUSTER_NAME), _(NOISE))
    frame = frame.rename(columns={"map": _("map"), "text": _("text"), "label": _("label"), "cluster": _("cluster")})
    st.dataframe(frame, hide_index=True, key="umap.selected")
    download_table(frame, "selected_texts", key="umap.dl_selected", label=_("Download CSV"))


def _language_names(languages: list[str]) -> list[str]:
    return [_(LANGUAGE_NAMES[code]) for code in languages]


def _shared_groups(corpus: Corpus, colour_by: str, languages: list[str]) -> tuple[Groups, dict[str, str]] | None:
    """The colour groups of a field both maps share, with their colours; None for the found
    clusters, which each map has its own of."""
    if colour_by == COLOUR_CLUSTER:
        return None
    values = _language_names(languages) if colour_by == COLOUR_LANGUAGE else list(field_values(corpus, colour_by))
    order = list(dict.fromkeys(values)) if colour_by == COLOUR_LABEL else None  # topics in the data's order
    groups = top_groups(values, order=order, other=_(OTHER_GROUPS))
    return groups, figures.group_colours(groups.order, other=groups.other)


def _cluster_groups(side: MapSide) -> tuple[Groups, dict[str, str]]:
    """The found clusters of one map as colour groups, in numbered order with noise last."""
    names = cluster_names(side.clustering.labels, _(CLUSTER_NAME), _(NOISE))
    ids = sorted(set(side.clustering.labels.tolist()), key=lambda c: (c < 0, c))
    order = cluster_names(np.asarray(ids), _(CLUSTER_NAME), _(NOISE))
    groups = top_groups(names, order=order, other=_(OTHER_GROUPS))
    return groups, figures.group_colours(groups.order, noise=_(NOISE), other=groups.other)


def _hover_details(corpus: Corpus, side: MapSide, colour_by: str) -> list[str] | None:
    """The hover lines under each text's colour group (plain text; the figure escapes it): its
    found cluster unless that is the colour, and its label unless that is the colour."""
    lines: list[list[str]] = [[] for _ in corpus.texts]
    if colour_by != COLOUR_CLUSTER:
        for line, name in zip(lines, cluster_names(side.clustering.labels, _(CLUSTER_NAME), _(NOISE)), strict=True):
            line.append(name)
    if corpus.labels is not None and colour_by != COLOUR_LABEL:
        template = _("label: {label}")
        for line, label in zip(lines, corpus.labels, strict=True):
            line.append(template.format(label=label))
    return ["\n".join(line) for line in lines] if any(lines) else None


@dataclass(frozen=True)
class Marks:
    """What is drawn over both maps: the texts a search found and whether clusters are named."""

    search: str
    found: np.ndarray  # int row indices
    name_clusters: bool


@st.cache_data(show_spinner=False, max_entries=16)
def _cluster_terms(corpus_key: str, clusters: bytes, _texts: tuple[str, ...], _labels: np.ndarray) -> dict[int, list[str]]:
    """cluster_terms, cached by the corpus' digest and the clustering's bytes (jieba is not free)."""
    return cluster_terms(_texts, _labels, top=3)


def _cluster_names_table(corpus: Corpus, side: MapSide) -> pd.DataFrame:
    """Columns id (the cluster id, for the map), then the translated cluster, texts, terms."""
    labels = side.clustering.labels
    named = _cluster_terms(corpus.key, np.asarray(labels).tobytes(), corpus.texts, labels)
    display = cluster_names(labels, _(CLUSTER_NAME), _(NOISE))
    rows = []
    for c, words in named.items():
        members = np.flatnonzero(labels == c)
        rows.append({"id": c, _("cluster"): display[members[0]], _("texts"): len(members),
                     _("terms"): " · ".join(words)})
    frame = pd.DataFrame(rows, columns=["id", _("cluster"), _("texts"), _("terms")])
    return frame.sort_values(_("texts"), ascending=False, kind="stable").reset_index(drop=True)


def _show_measures(plain: MapSide, instructed: MapSide, corpus: Corpus, languages: list[str],
                   instruction: str) -> None:
    st.subheader(_("How well do the topics separate?"))
    table = comparison_table(plain.separation, instructed.separation)
    st.markdown("**" + literal(tr(verdict(plain.separation, instructed.separation, instruction))) + "**")
    for side in (plain, instructed):
        note = language_note(side.clustering.labels, languages, corpus.labels, side.title)
        if note is not None:
            st.warning(literal(tr(note)), icon=":material/translate:")
    table["measure"] = table["measure"].map(_)
    table.columns = [_(c) for c in table.columns]
    st.dataframe(
        table, hide_index=True, key="umap.metrics",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]},
    )
    st.caption(_(
        "Silhouette (cosine, -1..1): how much closer texts are to their own topic than to the next one. "
        "ARI and NMI (0..1): agreement of the clusters found with the labels. kNN label agreement: share "
        "of each text's 10 nearest neighbours with the same label. All on the full vectors, not the map."
    ))
    download_table(table, "cluster_measures", key="umap.dl_metrics", label=_("Download CSV"))


def _show_map(i: int, side: MapSide, corpus: Corpus, groups: list[str], colours: dict[str, str],
              details: list[str] | None, placed: np.ndarray | None, queries: list[str],
              three_d: bool, marks: Marks) -> list[tuple[str, int]]:
    """Map i (0 plain, 1 instructed) with its caption, download and k search; the texts selected on it."""
    fig = figures.umap_map(
        side.projection.coords, list(corpus.texts), groups, side.title, colours,
        query_coords=placed, queries=queries if placed is not None else None,
        details=details,
        queries_name=_("your queries"), query_prefix=_("Query: "),
    )
    names = _cluster_names_table(corpus, side)
    if marks.name_clusters:
        by_id = dict(zip(names["id"], names[_("terms")], strict=True))
        figures.add_cluster_names(fig, cluster_centres(side.projection.coords, side.clustering.labels), by_id)
    if len(marks.found):
        figures.add_highlight(fig, side.projection.coords[marks.found], _("contains “{words}”").format(
            words=marks.search))
    key = f"umap.map_{i}"
    selected: list[tuple[str, int]] = []
    if three_d:
        st.plotly_chart(fig, key=key)
    else:
        event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("box", "lasso"))
        selected = [(side.title, row) for row in selected_rows(_points(event))]
    p = side.projection
    st.caption(_(
        "{n} texts · {method}, clusters found: {k} · map fitted in {seconds} s (n_neighbors {neighbours}, "
        "epochs {epochs})"
    ).format(n=f"{len(corpus.texts):,}", method=side.clustering.method, k=side.clustering.k,
             seconds=f"{p.seconds:.1f}", neighbours=p.n_neighbors,
             epochs=p.params.n_epochs or auto_epochs(len(corpus.texts))))
    download_figure(fig, f"umap_{'plain' if i == 0 else 'instructed'}", key=f"umap.dl_map_{i}",
                    label=_("Download HTML"))
    with st.expander(_("Cluster names (class-based TF-IDF)")):
        shown = names.drop(columns="id")
        st.dataframe(shown, hide_index=True, key=f"umap.names_{i}")
        download_table(shown, f"cluster_names_{'plain' if i == 0 else 'instructed'}", key=f"umap.dl_names_{i}",
                       label=_("Download CSV"))
    if side.clustering.scores:
        with st.expander(_("k search (silhouette per k)")):
            st.plotly_chart(
                figures.silhouette_by_k(side.clustering.scores, side.clustering.k, side.title,
                                        _("k (clusters)"), _("cosine silhouette")),
                key=f"umap.kscores_{i}",
            )
    return selected
