"""Search page: per-domain collections, ingestion, queries (threshold, instruction comparison,
rerank) and management. The work is in embedlab.retrieval / ingest / store; this arranges widgets,
progress and errors, in the session's language.

This module: the page, the collection picker, the threshold state and the tabs; `ingest` holds the
create, samples and add-documents panels, `query` the query form and its runs, `results` the outcome's
tables and figures, `manage` the Manage tab, `names` the display names and header translations."""

from __future__ import annotations

import contextlib

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from components import resources, state
from components.i18n import _, tr
from components.page import PageContext
from components.views.search.ingest import (
    create_panel,
    current_dim,
    ingest_panel,
    samples_panel,
    show_reports,
)
from components.views.search.manage import manage_panel
from components.views.search.names import EVALUATE_PAGE, JUDGE_PAGE, TABS, collections_shown
from components.views.search.query import query_panel
from components.widgets import download_table, literal, show_error
from embedlab import retrieval
from embedlab.messages import Message
from embedlab.stores.base import (
    CALIBRATED,
    SET_BY_HAND,
    CollectionInfo,
    CollectionSpec,
    StoreError,
    VectorStore,
)

ss = st.session_state


def render(ctx: PageContext) -> None:
    st.title(_("Search"))
    st.markdown(_(
        "One collection per business domain, each with its own **instruction** and **similarity threshold**; "
        "two-stage retrieval (embedding recall, then an optional reranker). Documents are chunked, embedded "
        "once and stored with content-hash ids, so adding the same file again changes nothing."
    ))
    st.caption(_("Collections live in {place}; they survive restarts. Queries embed through the same cache as "
                 "every other page.").format(place=literal(resources.store_location(ctx.settings))))
    if ss[state.SEARCH_NOTICE]:
        st.success(literal(ss[state.SEARCH_NOTICE]), icon=":material/check_circle:")
        ss[state.SEARCH_NOTICE] = ""
    try:
        store = ctx.store
        infos = store.list()
    except StoreError as exc:
        show_error(exc)
        return
    dim = current_dim(ctx) if infos else None
    create_panel(ctx, store, expanded=not infos)
    samples_panel(ctx, store)
    show_reports(ss[state.SEARCH_INGEST_REPORT])
    if not infos:
        st.info(_("No collections yet: create one above, or build the three sample collections."))
        return
    _collections_overview(ctx, infos, dim)
    info = _pick_collection(infos)
    if info.spec is None:
        st.error(_("{name} was not created by this playground (no embedding model recorded); it cannot be "
                   "searched or filled here safely.").format(name=literal(info.name)))
        return
    spec = info.spec
    if dim is None:
        problem = _("The embedding model is unavailable.")
    else:
        problem = spec.mismatch(ctx.embedder.model_id, dim)
    _collection_tabs(ctx, store, info, spec, problem)


def _collections_overview(ctx: PageContext, infos: list[CollectionInfo], dim: int | None) -> None:
    """Every collection in one table (model, dimension, threshold, usable now), with its CSV."""
    with st.expander(_("All collections ({n})").format(n=len(infos)), icon=":material/table:"):
        table = retrieval.collections_table(infos, ctx.embedder.model_id, dim)
        st.dataframe(collections_shown(table), hide_index=True, key="search.w.collections_table")
        download_table(table.assign(**{"usable now": table["usable now"].map(str)}), "collections",
                       key="search.w.dl_collections", label=_("Download CSV"))


def _collection_tabs(ctx: PageContext, store: VectorStore, info: CollectionInfo, spec: CollectionSpec,
                     problem: str | Message | None) -> None:
    """The picked collection's Search, Add documents and Manage tabs; `problem`: why it cannot be
    searched or filled with the current model (None when it can)."""
    if spec.description:
        st.caption(literal(spec.description))
    # Lazy tabs: only the open tab runs. An empty collection opens on "Add documents"; once it has
    # chunks the default (part of the widget's identity) changes and it opens on "Search".
    labels = [_(t) for t in TABS]
    search_tab, add_tab, manage_tab = st.tabs(labels, key="search.tabs", on_change="rerun",
                                              default=labels[0] if info.count else labels[1])
    if search_tab.open:
        with search_tab:
            if problem:
                st.error(literal(tr(problem)), icon=":material/block:")
            elif info.count == 0:
                st.info(_("This collection is empty: add documents first."))
            else:
                _threshold_state(spec)
                query_panel(ctx, store, spec)
    if add_tab.open:
        with add_tab:
            if problem:
                st.error(literal(tr(problem)), icon=":material/block:")
            else:
                ingest_panel(ctx, store, spec.name)
    if manage_tab.open:
        with manage_tab:
            manage_panel(ctx, store, spec)


def _page_link(path: str, label: str, icon: str) -> None:
    # A page run on its own (AppTest of one page) has no other pages to link to.
    with contextlib.suppress(StreamlitPageNotFoundError):
        st.page_link(path, label=label, icon=icon)


# -- thresholds ----------------------------------------------------------------------------------
def _threshold_state(spec: CollectionSpec) -> None:
    """Say whether the collection's threshold means anything, and how to calibrate it."""
    if spec.threshold_source == CALIBRATED:
        note = f" ({literal(spec.threshold_note)})" if spec.threshold_note else ""
        st.caption(_("Threshold {value:.2f}, calibrated on labelled pairs in Evaluate{note}: results under it "
                     "are shown in grey.").format(value=spec.threshold, note=note))
        return
    if spec.threshold_source == SET_BY_HAND:
        st.caption(_("Threshold {value:.2f}, set by hand (not calibrated): results under it are shown in grey. "
                     "Calibrate it on labelled pairs in Evaluate (Apply to collection).").format(value=spec.threshold))
        return
    with st.container(border=True, key="search.uncalibrated"):
        st.markdown(_(":material/tune: **{name} has no calibrated threshold.** A fixed value such as 0.50 says "
                      "nothing about relevance for this model family, so no result is greyed or marked "
                      "below a threshold.").format(name=literal(spec.name)))
        st.caption(_("To calibrate: on the Evaluate page, run a labelled set with the dense mode, then "
                     "“Apply to collection” under the threshold suggestions. From your own judgments: rate "
                     "results on the Judge page, export them as a labelled set and run it in Evaluate. You can "
                     "also set a threshold by hand under Manage."))
        c1, c2 = st.columns(2)
        with c1:
            _page_link(EVALUATE_PAGE, _("Calibrate in Evaluate"), ":material/tune:")
        with c2:
            _page_link(JUDGE_PAGE, _("Judge results"), ":material/rule:")


def _follow_picker() -> None:
    ss[state.SEARCH_ACTIVE] = ss[state.SEARCH_COLLECTION]


def _pick_collection(infos: list[CollectionInfo]) -> CollectionInfo:
    by_name = {i.name: i for i in infos}
    state.keep_valid(state.SEARCH_COLLECTION, list(by_name))  # a deleted name would break the selectbox
    # A collection just created or built becomes active: move the picker to it (a keyed selectbox
    # ignores a changed `index` once drawn). The callback keeps a user's own pick.
    if ss[state.SEARCH_ACTIVE] in by_name and ss.get(state.SEARCH_COLLECTION) != ss[state.SEARCH_ACTIVE]:
        ss[state.SEARCH_COLLECTION] = ss[state.SEARCH_ACTIVE]
    # No counts in the option labels: the browser keeps showing a keyed selectbox's old label
    # after they change (right after an ingestion it read "(0 chunks)"), so the count is a caption.
    choice = st.selectbox(_("Collection"), list(by_name), key=state.SEARCH_COLLECTION, persist_state="session",
                          on_change=_follow_picker)
    st.caption(_("{n:,} chunks in {name}").format(n=by_name[choice].count, name=literal(choice)))
    ss[state.SEARCH_ACTIVE] = choice
    return by_name[choice]
