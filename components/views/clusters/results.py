"""The Clusters page's results: measures and verdict, the two maps with their colours, queries,
search and cluster names; the selected texts and a picked text's neighbours (`explore`)."""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from components import state
from components.i18n import _, tr
from components.instruction_picker import display_name
from components.page import PageContext
from components.views.clusters import explore
from components.views.clusters import overlay as query_overlay
from components.views.clusters.names import CLUSTER_NAME, NOISE, OTHER_GROUPS, choice_names
from components.widgets import download_figure, download_table, embed_with_progress, literal, show_error
from embedlab import figures
from embedlab.instructions import format_query
from embedlab.projection.clustering import (
    comparison_table,
    language_note,
    verdict,
)
from embedlab.projection.labels import cluster_centres, cluster_terms, search_texts
from embedlab.projection.language import LANGUAGE_NAMES, detect_languages
from embedlab.projection.mapdata import (
    COLOUR_CLUSTER,
    COLOUR_LABEL,
    COLOUR_LANGUAGE,
    LEGEND_LIMIT,
    Corpus,
    Groups,
    MapRequest,
    MapSide,
    cluster_names,
    colour_keys,
    field_values,
    query_lines,
    top_groups,
)
from embedlab.projection.umap import auto_epochs, place_queries

ss = st.session_state


@st.cache_data(show_spinner=False, max_entries=8)
def _languages(corpus_key: str, _texts: tuple[str, ...]) -> list[str]:
    """The detected language (a key of LANGUAGE_NAMES) of each text; cached by the corpus' digest."""
    return detect_languages(_texts)


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


@st.fragment
def show_results(ctx: PageContext, corpus: Corpus, request: MapRequest, sides: list[MapSide]) -> None:
    """Measures, the two maps, query placement and selections; reruns on its own (fragment)."""
    ctx.model_caption()
    languages = _languages(corpus.key, corpus.texts)
    _show_measures(*sides, corpus=corpus, languages=languages, instruction=request.instruction_name)
    c1, c2 = st.columns([1, 2])
    colour_options = colour_keys(corpus)
    state.keep_valid(state.UMAP_COLOUR_BY, colour_options, fallback=colour_options[0])
    colour_by = c1.selectbox(_("Colour by"), colour_options, key=state.UMAP_COLOUR_BY, persist_state="session",
                             format_func=choice_names(),
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
    marks = Marks(search, found, bool(ss[state.UMAP_NAME_CLUSTERS]),
                  query_overlay.ask_for_sides(ctx, corpus, request, sides))

    # A field's colours are taken over all texts once, so a group has the same colour on both maps.
    shared = _shared_groups(corpus, colour_by, languages)
    three_d = request.params.n_components == 3
    found = explore.current(corpus, sides)
    for i, (column, side) in enumerate(zip(st.columns(2), sides, strict=True)):
        with column:
            groups, colours = shared if shared is not None else _cluster_groups(side)
            details = _hover_details(corpus, side, colour_by)
            _show_map(i, side, corpus, groups.of_text, colours, details, placed[i], queries, three_d, marks,
                      (found, [s.title for s in sides]))
    if marks.retrieved is not None:
        query_overlay.show(marks.retrieved, [side.title for side in sides])

    explore.show_selection(corpus, sides, found, three_d)
    explore.show_neighbours(corpus, sides, found, marks.found, bool(search))


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
    retrieved: query_overlay.Retrieved | None = None  # a question on a stored collection and its hits


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
    st.markdown("**" + literal(tr(verdict(plain.separation, instructed.separation, display_name(instruction)))) + "**")
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
              three_d: bool, marks: Marks, exploration: tuple[explore.Exploration, list[str]]) -> None:
    """Map i (0 plain, 1 instructed) with its caption, download and k search; the selection and the
    picked text of `exploration` (with both maps' titles) drawn on it."""
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
    explore.draw(fig, i, side, *exploration)
    if marks.retrieved is not None:
        query_overlay.draw(fig, marks.retrieved, i, side.projection.coords,
                           webgl=len(corpus.texts) > figures.SVG_POINT_LIMIT)
    key = f"umap.map_{i}"
    if three_d:
        st.plotly_chart(fig, key=key)
    else:
        # A click selects one point once Pan or Zoom is chosen; box and lasso are the drag tools.
        st.plotly_chart(fig, key=key, on_select=explore.on_select(i, key, len(corpus.texts)),
                        selection_mode=("points", "box", "lasso"))
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
