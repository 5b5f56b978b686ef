"""The Clusters page's exploration of the two maps: the texts selected on one map are ringed on
both, and a picked text (a click, a one-point selection or the picker) gets its nearest neighbours
in the full vectors of each setting, listed and marked on both maps.

Streamlit gives a chart a new identity whenever its figure changes, which drops the chart's
selection; so the selection and the pick are kept in session state by the charts' callbacks,
and both maps draw them from there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from components import state
from components.i18n import _
from components.views.clusters.names import CLUSTER_NAME, NOISE
from components.widgets import download_table, literal
from embedlab import figures
from embedlab.projection.labels import search_texts
from embedlab.projection.large import StoredMap
from embedlab.projection.mapdata import Corpus, MapSide, neighbour_table, selected_rows, selection_table
from embedlab.projection.neighbours import (
    NEIGHBOURS,
    NeighbourComparison,
    PointNeighbours,
    compare_neighbours,
    point_neighbours,
)

ss = st.session_state
NO_PICK = -1  # the picker's "no text" option
PICK_OPTIONS = 500  # texts the picker lists at most (the search box narrows them)
PICK_PREVIEW = 100  # characters of a text shown in the picker


def points_of(event: Any) -> list[dict]:
    """The selected points of a chart's selection state (none when the chart reports no selection)."""
    return list(getattr(getattr(event, "selection", None), "points", None) or [])


@dataclass(frozen=True)
class Exploration:
    """What the maps show of the user's exploration in this run."""

    linked: tuple[int, tuple[int, ...]] | None  # (map it was made on, selected rows)
    comparison: NeighbourComparison | None  # the picked text's neighbours in both settings

    @property
    def pick(self) -> int:
        return self.comparison.row if self.comparison is not None else NO_PICK


def current(corpus: Corpus, sides: list[MapSide]) -> Exploration:
    """The kept selection and pick (forgotten when the maps show other texts), with the picked
    text's neighbours computed afresh (one matrix-vector product per setting)."""
    n = len(corpus.texts)
    if ss[state.UMAP_EXPLORED] != corpus.key:
        ss[state.UMAP_EXPLORED] = corpus.key
        ss[state.UMAP_LINKED] = None
        ss[state.UMAP_PICK] = NO_PICK
    linked = ss[state.UMAP_LINKED]
    if linked is not None and not all(0 <= r < n for r in linked[1]):
        linked = ss[state.UMAP_LINKED] = None
    pick = ss.get(state.UMAP_PICK, NO_PICK)
    if not isinstance(pick, int) or not 0 <= pick < n:
        pick = ss[state.UMAP_PICK] = NO_PICK
    comparison = None
    if pick != NO_PICK:
        comparison = compare_neighbours(sides[0].vectors, sides[1].vectors, pick, NEIGHBOURS)
    return Exploration(linked, comparison)


def on_select(i: int, key: str, n: int) -> Callable[[], None]:
    """The selection callback of map i (chart `key`, n texts): one text picks it, several become
    the selection ringed on both maps, none (a double-click, an empty box) clears the selection."""

    def changed() -> None:
        rows = [r for r in dict.fromkeys(selected_rows(points_of(ss.get(key)))) if r < n]
        if len(rows) == 1:
            ss[state.UMAP_PICK] = rows[0]
            ss[state.UMAP_LINKED] = None
        elif rows:
            ss[state.UMAP_LINKED] = (i, tuple(rows))
        else:
            ss[state.UMAP_LINKED] = None

    return changed


def _clear_selection() -> None:
    ss[state.UMAP_LINKED] = None


def _clear_pick() -> None:
    ss[state.UMAP_PICK] = NO_PICK


def draw(fig: go.Figure, i: int, side: MapSide, found: Exploration, titles: list[str]) -> None:
    """Add the selection and the pick to map i's figure (`titles`: both maps' titles)."""
    coords = side.projection.coords
    if found.linked is not None:
        source, rows = found.linked
        figures.add_selection(fig, coords[list(rows)], _("selected on “{map}”").format(map=titles[source]))
    if found.comparison is not None:
        mine = found.comparison.plain if i == 0 else found.comparison.instructed
        figures.add_pick(fig, coords[found.comparison.row], coords[mine.rows], _("picked text"),
                         _("its {k} nearest neighbours").format(k=len(mine.rows)))


def show_selection(corpus: Corpus, sides: list[MapSide], found: Exploration, three_d: bool) -> None:
    """The "Selected texts" section: the table of the kept selection, its download and a clear button."""
    st.subheader(_("Selected texts"))
    if three_d:
        st.caption(_("Box and lasso selection work on 2-D maps."))
    if found.linked is None:
        st.caption(_("Use the box or lasso tool on a map (top right of each chart) to list texts here; "
                     "they are ringed on both maps, so you see where the same texts lie with the instruction."))
        return
    source, rows = found.linked
    # A selection holds two texts or more: one text is a pick.
    st.caption(_("{n} texts selected on “{map}”, ringed on both maps.").format(
        n=f"{len(rows):,}", map=literal(sides[source].title)))
    frame = selection_table(corpus, [(sides[source].title, r) for r in rows], sides, _(CLUSTER_NAME), _(NOISE))
    frame = frame.rename(columns={"map": _("map"), "text": _("text"), "label": _("label"), "cluster": _("cluster")})
    st.dataframe(frame, hide_index=True, key="umap.selected")
    c1, c2 = st.columns([1, 4], vertical_alignment="bottom")
    with c1:
        download_table(frame, "selected_texts", key="umap.dl_selected", label=_("Download CSV"))
    c2.button(_("Clear the selection"), key="umap.clear_selection", on_click=_clear_selection)


def _pick_options(n_texts: int, found_rows: np.ndarray, searching: bool, pick: int) -> tuple[list[int], int]:
    """A picker's options: none, the picked text, then the texts the search found (every text
    without a search), at most PICK_OPTIONS; and how many texts could be listed."""
    listed = (found_rows[:PICK_OPTIONS] if searching else np.arange(min(PICK_OPTIONS, n_texts))).tolist()
    head = [NO_PICK] + ([pick] if pick != NO_PICK and pick not in listed else [])
    return head + listed, len(found_rows) if searching else n_texts


def _pick_name(texts: tuple[str, ...]) -> Callable[[int], str]:
    """Format function of a picker: "(none)", or a text's number and its beginning (shown as it is)."""
    none_label = _("(none)")

    def name(row: int) -> str:
        if row == NO_PICK:
            return none_label
        text = texts[row]
        return f"{row + 1}. {text[:PICK_PREVIEW]}{'…' if len(text) > PICK_PREVIEW else ''}"

    return name


def _neighbour_columns() -> dict:
    """A neighbour table's columns: the text cut to a medium width so that the similarity shows
    beside it in half a page (the whole text is in the cell and the CSV)."""
    return {_("text"): st.column_config.TextColumn(width="medium"),
            _("cosine similarity"): st.column_config.NumberColumn(format="%.3f")}


def show_neighbours(corpus: Corpus, sides: list[MapSide], found: Exploration, found_rows: np.ndarray,
                    searching: bool) -> None:
    """The "Nearest neighbours" section: the picker, how many neighbours the instruction keeps,
    and one table per setting."""
    st.subheader(_("Nearest neighbours of a text"))
    options, total = _pick_options(len(corpus.texts), found_rows, searching, found.pick)
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox(
        _("Pick a text"), options, key=state.UMAP_PICK, persist_state="session", format_func=_pick_name(corpus.texts),
        help=_("Or click a point on either map (after choosing Pan or Zoom in the chart's toolbar), or draw a "
               "box around a single point. Its {k} nearest neighbours are found in the full vectors of each "
               "setting, not on the 2-D map.").format(k=NEIGHBOURS),
    )
    if total > PICK_OPTIONS:
        c1.caption(_("The first {n} of {total} texts are listed: words in “Find texts on the maps” narrow "
                     "the list.").format(n=f"{PICK_OPTIONS:,}", total=f"{total:,}"))
    if found.comparison is None:
        st.caption(_("Pick a text to list its nearest neighbours without and with the instruction; they are "
                     "marked on both maps."))
        return
    c2.button(_("Clear the pick"), key="umap.clear_pick", on_click=_clear_pick)
    comparison = found.comparison
    # k is at least 4: the maps need 5 texts.
    st.markdown("**" + _("{shared} of {k} neighbours are the same with the instruction.").format(
        shared=comparison.shared, k=comparison.k) + "**")
    columns = {"rank": _("rank"), "text": _("text"), "similarity": _("cosine similarity"), "label": _("label"),
               "cluster": _("cluster")}
    for i, (column, side, neighbours) in enumerate(zip(
            st.columns(2), sides, (comparison.plain, comparison.instructed), strict=True)):
        with column:
            st.markdown("**" + literal(side.title) + "**")
            frame = neighbour_table(corpus, neighbours, side.clustering.labels, _(CLUSTER_NAME), _(NOISE))
            frame = frame.rename(columns=columns)
            st.dataframe(frame, hide_index=True, key=f"umap.neighbours_{i}", column_config=_neighbour_columns())
            download_table(frame, f"neighbours_{'plain' if i == 0 else 'instructed'}",
                           key=f"umap.dl_neighbours_{i}", label=_("Download CSV"))


# --- The map of a large stored collection: one setting, the stored vectors ----------------------


def large_pick(result: StoredMap) -> PointNeighbours | None:
    """The neighbours of the chunk picked on the large map (none picked: None); the pick is
    forgotten when the map is of another collection or content version."""
    if ss[state.UMAP_LARGE_EXPLORED] != (result.name, result.version):
        ss[state.UMAP_LARGE_EXPLORED] = (result.name, result.version)
        ss[state.UMAP_LARGE_PICK] = NO_PICK
    pick = ss.get(state.UMAP_LARGE_PICK, NO_PICK)
    if not isinstance(pick, int) or not 0 <= pick < len(result.texts):
        ss[state.UMAP_LARGE_PICK] = NO_PICK
        return None
    return point_neighbours(result.vectors, pick, NEIGHBOURS)


def on_large_select(key: str, n: int) -> Callable[[], None]:
    """The large map's selection callback: a selection of exactly one chunk picks it."""

    def changed() -> None:
        rows = [r for r in dict.fromkeys(selected_rows(points_of(ss.get(key)))) if r < n]
        if len(rows) == 1:
            ss[state.UMAP_LARGE_PICK] = rows[0]

    return changed


def draw_large(fig: go.Figure, result: StoredMap, neighbours: PointNeighbours | None) -> None:
    """Mark the picked chunk and its neighbours on the large map."""
    if neighbours is not None:
        coords = result.projection.coords
        figures.add_pick(fig, coords[ss[state.UMAP_LARGE_PICK]], coords[neighbours.rows], _("picked text"),
                         _("its {k} nearest neighbours").format(k=len(neighbours.rows)))


def show_large_neighbours(result: StoredMap, neighbours: PointNeighbours | None) -> None:
    """The large map's picker (narrowed by words) and the picked chunk's neighbours among the stored vectors."""
    st.subheader(_("Nearest neighbours of a chunk"))
    c1, c2 = st.columns([1, 2])
    words = c1.text_input(_("Find chunks"), key=state.UMAP_LARGE_FIND, persist_state="session",
                          placeholder=_("words the chunks contain"),
                          help=_("Narrows the list of chunks to pick from.")).strip()
    found_rows = search_texts(result.texts, words)  # none without words
    options, total = _pick_options(len(result.texts), found_rows, bool(words), ss[state.UMAP_LARGE_PICK])
    c2.selectbox(
        _("Pick a chunk"), options, key=state.UMAP_LARGE_PICK, persist_state="session",
        format_func=_pick_name(result.texts),
        help=_("Or draw a box around a single point on the map, or click it after choosing Pan or Zoom in the "
               "chart's toolbar. Its {k} nearest neighbours are found among the stored vectors, not on the "
               "map.").format(k=NEIGHBOURS),
    )
    if total > PICK_OPTIONS:
        c2.caption(_("The first {n} of {total} chunks are listed: words in “Find chunks” narrow the list.").format(
            n=f"{PICK_OPTIONS:,}", total=f"{total:,}"))
    if neighbours is None:
        return
    corpus = Corpus(result.name, result.texts, result.labels)
    frame = neighbour_table(corpus, neighbours, result.clustering.labels, _(CLUSTER_NAME), _(NOISE))
    frame = frame.rename(columns={"rank": _("rank"), "text": _("text"), "similarity": _("cosine similarity"),
                                  "label": _("source document"), "cluster": _("cluster")})
    st.dataframe(frame, hide_index=True, key="umap.large_neighbours", column_config=_neighbour_columns())
    download_table(frame, "neighbours_stored", key="umap.dl_large_neighbours", label=_("Download CSV"))
