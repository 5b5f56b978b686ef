"""The Clusters page's "Queries and what they retrieve" on the map(s) of a stored collection: a
question run against the collection as the Search page runs it (dense, BM25 and hybrid top k),
drawn on the maps with lines to its hits, coloured by relevance when a labelled set or judgments
say it, with a table per retrieval mode."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import resources, state
from components.i18n import _, bound_gettext, tr
from components.page import PageContext
from components.widgets import download_table, embed_with_progress, ensure_local_model, literal, show_error
from embedlab import figures, retrieval
from embedlab import judgments as jd
from embedlab.evaluation.calibration import holds_set
from embedlab.evaluation.datasets import BUNDLED, LabelledSet, load_bundled
from embedlab.instructions import format_query
from embedlab.messages import N_, LocalizedError
from embedlab.projection.large import StoredMap
from embedlab.projection.mapdata import Corpus, MapRequest, MapSide
from embedlab.projection.overlay import (
    FROM_JUDGMENTS,
    FROM_SET,
    MODES,
    NO_RELEVANCE,
    QueryOverlay,
    Relevance,
    judged_relevance,
    query_overlay,
    relevant_value,
    set_query,
    set_relevance,
)
from embedlab.projection.umap import Projection, place_queries
from embedlab.stores.base import CollectionSpec, StoreError
from embedlab.text import one_line

ss = st.session_state

MODE_NAMES = {"dense": N_("dense"), "bm25": N_("keyword (BM25)"), "hybrid": N_("hybrid (RRF)")}
RELEVANT_NAMES = {"yes": N_("yes"), "no": N_("no"), "unknown": N_("unknown")}
COLUMNS = {"mode": N_("mode"), "rank": N_("rank"), "text": N_("text"), "score": N_("score"),
           "relevant": N_("relevant"), "source": N_("source"), "on map": N_("on the map")}
OWN_QUESTION = -1  # the labelled-set picker's "type your own" option


@dataclass(frozen=True)
class MapToPlace:
    """One map the question is drawn on: its projection, the vectors it was fitted on (float32
    (n, dim), row i = map row i), and the instruction its texts were embedded with (None: the
    documents as stored, so the question is placed as the Search page embeds it)."""

    projection: Projection
    vectors: np.ndarray
    task: str | None


@dataclass(frozen=True)
class Retrieved:
    """A question's lists related to the maps: `points[i]` is its (2|3,) position on map i (None
    when it could not be placed); `labelled` names the bundled set its relevance comes from."""

    overlay: QueryOverlay
    points: list[np.ndarray | None]
    instruction: str  # the collection's instruction (task text; "" = none)
    map_tasks: list[str | None]
    labelled: str
    judged: int  # judged chunks of this question (judgments)
    seconds: float


@st.cache_data(show_spinner=False)
def _bundled(name: str) -> LabelledSet:
    return load_bundled(name)


@st.cache_data(show_spinner=False, max_entries=32)
def _holding_sets(location: str, name: str, version: str | None, count: int, _store) -> list[str]:
    """The bundled labelled sets whose every document the collection holds (calibration.holds_set),
    cached per collection content."""
    try:
        return [s for s in BUNDLED if holds_set(_store, name, _bundled(s))]
    except StoreError:
        return []


def _judged_grades(ctx: PageContext, collection: str) -> dict[tuple[str, str], int]:
    """People's grades of the collection's (query, chunk) pairs from the Judge page; none without its database."""
    path = Path(ctx.settings.data_path) / jd.DB_FILE
    if not path.is_file():  # nothing judged yet: do not create the database from here
        return {}
    return jd.select_grades(jd.JudgmentStore(path).judgments(collection))


def ask(ctx: PageContext, name: str, map_ids: Sequence[str], maps: Sequence[MapToPlace], map_key: object
        ) -> Retrieved | None:
    """The question form for the stored collection `name` (row i of every map shows chunk
    map_ids[i]) and, once a question was asked, what it retrieves (kept per map and question, so
    reruns redraw without asking again); None before a question or when it failed (shown)."""
    st.subheader(_("Queries and what they retrieve"))
    try:
        spec = ctx.store.spec(name)
        version = ctx.store.content_version(name)
        sets = _holding_sets(resources.store_location(ctx.settings), name, version, len(map_ids), ctx.store)
    except StoreError as exc:
        show_error(exc, _("The collection {name} cannot be searched").format(name=name))
        return None
    st.caption(_("Ask a question as on the Search page: its top k by dense retrieval, by keywords (BM25) and "
                 "hybrid (both fused by RRF) are ringed on the maps, each mode with its own symbol, with lines "
                 "from the question. Hits are green when relevant and red when not, if a labelled set the "
                 "collection holds or the Judge page's judgments say so; otherwise coloured by rank."))
    _set_picker(sets)
    with st.form("umap.overlay_form", border=False):
        c1, c2 = st.columns([5, 1])
        c1.text_input(_("Question"), key=state.UMAP_OVERLAY_QUERY, persist_state="session",
                      placeholder=_("What do you want to find?"))
        c2.number_input(_("Top K"), 1, 50, key=state.UMAP_OVERLAY_K, persist_state="session")
        submitted = st.form_submit_button(_("Show what it retrieves"), type="primary")
    if submitted:
        question = (ss[state.UMAP_OVERLAY_QUERY] or "").strip()
        if not question:
            st.warning(_("Type a question first."))
            ss[state.UMAP_OVERLAY_ASKED] = None
            return None
        ss[state.UMAP_OVERLAY_ASKED] = (name, question, int(ss[state.UMAP_OVERLAY_K]))
        ss[state.UMAP_OVERLAY] = None  # asked again: answer afresh (new judgments count)
    asked = ss[state.UMAP_OVERLAY_ASKED]
    if not asked or asked[0] != name:
        return None
    key = (map_key, version, asked)
    held = ss[state.UMAP_OVERLAY]
    if held is not None and held[0] == key:
        return held[1]
    found = _retrieve(ctx, spec, asked[1], asked[2], map_ids, maps, sets)
    ss[state.UMAP_OVERLAY] = None if found is None else (key, found)
    if found is None:
        ss[state.UMAP_OVERLAY_ASKED] = None  # a failure is shown once, not again on every rerun
    return found


def _set_picker(sets: list[str]) -> None:
    """A picker of the questions of the labelled sets the collection holds; picking one writes it
    into the question box."""
    if not sets:
        return
    options = [OWN_QUESTION]
    names = {OWN_QUESTION: _("(type your own)")}
    now = bound_gettext()
    for s in sets:
        for q in _bundled(s).queries:
            options.append(len(options) - 1)
            names[options[-1]] = f"{now(s)} · {q.text}"
    texts = [q.text for s in sets for q in _bundled(s).queries]
    state.keep_valid(state.UMAP_OVERLAY_SET_QUERY, options, fallback=OWN_QUESTION)

    def copy() -> None:
        picked = ss[state.UMAP_OVERLAY_SET_QUERY]
        if picked != OWN_QUESTION:
            ss[state.UMAP_OVERLAY_QUERY] = texts[picked]

    st.selectbox(_("A question of a labelled set this collection holds (relevance known)"), options,
                 key=state.UMAP_OVERLAY_SET_QUERY, persist_state="session", format_func=names.__getitem__,
                 on_change=copy)


def _retrieve(ctx: PageContext, spec: CollectionSpec, question: str, k: int, map_ids: Sequence[str],
              maps: Sequence[MapToPlace], sets: list[str]) -> Retrieved | None:
    """Embed the question (once per instruction), run the three lists, look up relevance and place
    the question on each map; None when something failed (shown)."""
    if not ensure_local_model(ctx.embedder):
        return None
    t0 = time.perf_counter()
    sent = format_query(spec.instruction, question)
    texts = list(dict.fromkeys([sent, *(format_query(m.task, question) for m in maps if m.task is not None)]))
    vectors = embed_with_progress(ctx, texts, _("Embedding the question"))
    if vectors is None:
        return None
    row = {text: vectors[i] for i, text in enumerate(texts)}
    bar = st.progress(0.0, text=_("Searching the collection (its BM25 index is built once per content)"))
    try:
        lists = retrieval.hybrid_search(ctx.store, spec, ctx.embedder.model_id, row[sent], question, k,
                                        progress=lambda _stage, done, total: bar.progress(done / max(total, 1)))
        relevance, labelled = _relevance(ctx, spec.name, question, sets)
    except (StoreError, LocalizedError) as exc:
        show_error(exc)
        return None
    finally:
        bar.empty()
    points: list[np.ndarray | None] = []
    for m in maps:
        vec = row[sent if m.task is None else format_query(m.task, question)]
        try:
            points.append(place_queries(m.projection, m.vectors, vec[None, :])[0])
        except ValueError as exc:
            show_error(exc)
            points.append(None)
    overlay = query_overlay(lists, map_ids, relevance, k)
    return Retrieved(overlay, points, spec.instruction, [m.task for m in maps], labelled,
                     len(relevance.by_chunk), time.perf_counter() - t0)


def _relevance(ctx: PageContext, name: str, question: str, sets: list[str]) -> tuple[Relevance, str]:
    """The question's relevance: from the first held labelled set that has it as a query, else from
    the judgments of this collection, else nothing; with the set's name ("" when not from a set)."""
    for s in sets:
        data = _bundled(s)
        index = set_query(data, question)
        if index is not None:
            chunks = retrieval.collection_index(ctx.store, name).index  # cached: the search just built it
            return set_relevance(data, index, [str(m.get("source", "")) for m in chunks.metadatas]), s
    grades = _judged_grades(ctx, name)
    return (judged_relevance(grades, question) if grades else NO_RELEVANCE), ""


def draw(fig: go.Figure, found: Retrieved, i: int, coords: np.ndarray, webgl: bool = False) -> None:
    """Draw the question and its hits on map i (coords (n, 2|3), row i = map_ids[i]) of `fig`."""
    point = found.points[i]
    if point is None:
        return
    overlay = found.overlay
    hover = _("{mode} #{rank} · relevant: {relevant}")
    layers = []
    for mode in MODES:
        m = overlay.modes[mode]
        shown = [j for j, r in enumerate(m.rows.tolist()) if r >= 0]
        layers.append(figures.HitLayer(
            mode, _("{mode} top {k}").format(mode=_(MODE_NAMES[mode]), k=overlay.k),
            coords[m.rows[shown]] if shown else np.zeros((0, coords.shape[1])),
            [m.hits[j].rank for j in shown], [m.relevant[j] for j in shown],
            [hover.format(mode=_(MODE_NAMES[mode]), rank=m.hits[j].rank,
                          relevant=_(RELEVANT_NAMES[relevant_value(m.relevant[j])])) + "\n" + one_line(m.hits[j].text, 200)
             for j in shown]))
    names = ({True: _("relevant"), False: _("not relevant"), None: _("not known")}
             if overlay.relevance.known else None)
    figures.add_query_hits(fig, point, overlay.query, layers, query_name=_("your question"),
                           relevance_names=names, rank_name=_("rank"), k=overlay.k, webgl=webgl)


def show(found: Retrieved, titles: Sequence[str]) -> None:
    """The sentence, how the question was placed on each map (`titles`: the maps' titles), where
    relevance comes from, and a table per retrieval mode with the download of all three."""
    overlay = found.overlay
    st.markdown("**" + literal(tr(overlay.summary())) + "**")
    instruction = (_("with the collection's instruction “{task}”").format(task=found.instruction)
                   if found.instruction else _("as it is (the collection has no instruction)"))
    for title, task in zip(titles, found.map_tasks, strict=True):
        if task is None:
            line = _("On “{map}” (the documents as stored) the question is placed as the Search page embeds it: "
                     "{how}.").format(map=title, how=instruction)
        elif task:
            line = _("On “{map}” the question is placed as that map's texts are embedded: with its instruction "
                     "“{task}”.").format(map=title, task=task)
        else:
            line = _("On “{map}” the question is placed as that map's texts are embedded: without an "
                     "instruction.").format(map=title)
        st.caption(literal(line))
    if overlay.relevance.kind == FROM_SET:
        source = _("Relevance from the labelled set “{set}”, which this collection holds.").format(
            set=_(found.labelled))
    elif overlay.relevance.kind == FROM_JUDGMENTS:
        source = _("Relevance from the Judge page: {n} chunks of this collection are judged for this "
                   "question.").format(n=found.judged)
    else:
        source = _("No relevance known for this question: ask one of a labelled set the collection holds, or "
                   "judge this question on the Judge page.")
    st.caption(literal(source) + " " + _("Answered in {seconds:.2f} s.").format(seconds=found.seconds))
    tabs = st.tabs([_(MODE_NAMES[m]) for m in MODES])
    for mode, tab in zip(MODES, tabs, strict=True):
        with tab:
            table = _translated(overlay.table(mode))
            if table.empty:
                st.caption(_("No chunk shares a word with the question.") if mode == "bm25" else _("No hits."))
            st.dataframe(table, hide_index=True, key=f"umap.overlay_{mode}",
                         column_config={_("score"): st.column_config.NumberColumn(format="%.4f")})
    download_table(_translated(overlay.export()), "query_hits", key="umap.dl_overlay", label=_("Download CSV"))


def _translated(table: pd.DataFrame) -> pd.DataFrame:
    """A hits table with its column names and relevance / mode / on-map cells in the session's language."""
    table = table.copy()
    table["relevant"] = [_(RELEVANT_NAMES[v]) for v in table["relevant"]]
    table["on map"] = [_("yes") if v else _("no") for v in table["on map"]]
    if "mode" in table:
        table["mode"] = [_(MODE_NAMES[v]) for v in table["mode"]]
    return table.rename(columns={c: _(COLUMNS[c]) for c in table.columns})


def ask_for_sides(ctx: PageContext, corpus: Corpus, request: MapRequest, sides: Sequence[MapSide]) -> Retrieved | None:
    """`ask` for the two maps of a stored collection's chunks (without and with the map's
    instruction); None, drawing nothing, for texts that are not a stored collection's."""
    if not corpus.collection or len(corpus.ids) != len(corpus.texts):
        return None
    maps = [MapToPlace(side.projection, side.vectors, side.task or None) for side in sides]
    return ask(ctx, corpus.collection, corpus.ids, maps, (corpus.key, request, ctx.embedder.model_id))


def ask_for_stored(ctx: PageContext, result: StoredMap) -> Retrieved | None:
    """`ask` for the one map of a large stored collection's stored vectors."""
    return ask(ctx, result.name, result.ids, [MapToPlace(result.projection, result.vectors, None)],
               (result.name, result.version, len(result.ids)))
