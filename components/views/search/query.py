"""The Search page's query form and its runs: dense query (with compare and rerank), judged
comparison, and the dense + BM25 + hybrid lists."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import state
from components.i18n import _, bound_gettext, tr
from components.page import PageContext
from components.views.search.names import (
    FUSIONS,
    MODES,
)
from components.views.search.results import show_outcome, why_it_matched
from components.widgets import ensure_local_model, literal, show_error
from embedlab import judged_search, retrieval
from embedlab import judgments as jd
from embedlab.backends import EmbeddingError
from embedlab.fusion import METHODS, RRF_K
from embedlab.ingest import (
    SampleCorpus,
    sample_for_collection,
)
from embedlab.messages import message_of
from embedlab.rerank import RerankClient
from embedlab.retrieval import ModeLists, QueryOutcome
from embedlab.stores.base import (
    CollectionSpec,
    StoreError,
    VectorStore,
)

ss = st.session_state


def query_panel(ctx: PageContext, store: VectorStore, spec: CollectionSpec) -> None:
    try:
        sources = store.sources(spec.name)
    except StoreError as exc:
        show_error(exc)
        sources = []
    # Kept filters of another collection (or of deleted documents) are not options here.
    ss[state.SEARCH_SOURCES] = [s for s in ss.get(state.SEARCH_SOURCES, []) if s in sources]
    can_rerank = bool(ctx.settings.rerank_base_url)
    sample = sample_for_collection(spec.name)
    submitted = _query_form(ctx, spec, sources, can_rerank, sample)
    if not can_rerank:
        st.caption(_("Reranking is off: no RERANK_BASE_URL is set. Serve Qwen3-Reranker with sglang or vLLM (both "
                     "offer /v1/rerank), then set RERANK_BASE_URL (and RERANK_MODEL) and restart the app."))
    if sample:
        st.caption(_("Try: {questions}").format(questions=" · ".join(literal(q) for q in sample.questions)))
    if submitted:
        _run_submitted(ctx, store, spec, can_rerank)
    outcome = ss[state.SEARCH_RESULT]
    if outcome is not None and outcome.collection == spec.name:
        kept = ss[state.SEARCH_MODES]
        ctx.model_caption()
        show_outcome(outcome, kept[1] if kept and kept[0] == spec.name else None)
        why_it_matched(store, outcome)


def _query_form(ctx: PageContext, spec: CollectionSpec, sources: list[str], can_rerank: bool,
                sample: SampleCorpus | None) -> bool:
    """The question and its settings (top K, sources, compare, rerank, retrieval mode); True when submitted."""
    now = bound_gettext()
    with st.form("search.w.query_form", border=False):
        st.text_input(_("Question"), key=state.SEARCH_QUERY, persist_state="session",
                      placeholder=sample.questions[0] if sample else _("What do you want to find?"))
        c1, c2, c3 = st.columns([1, 2, 2])
        c1.number_input(_("Top K"), 1, 50, key=state.SEARCH_K, persist_state="session")
        c2.multiselect(_("Only these sources (optional)"), sources, key=state.SEARCH_SOURCES, persist_state="session",
                       placeholder=_("All sources"))
        c3.toggle(_("Compare with and without the instruction"), key=state.SEARCH_COMPARE, persist_state="session",
                  disabled=not spec.instruction,
                  help=None if spec.instruction else _("This collection has no instruction."))
        c4, c5 = st.columns([2, 3])
        c4.toggle(_("Rerank"), key=state.SEARCH_RERANK, persist_state="session", disabled=not can_rerank,
                  help=_("Two stages: top N by embedding, then {model}.").format(
                      model=literal(ctx.settings.rerank_model) if ctx.settings.rerank_model else _("the reranker")))
        c5.number_input(_("Candidates for the reranker (top N)"), 5, 200, step=5, key=state.SEARCH_FETCH_N,
                        persist_state="session", disabled=not can_rerank)
        c6, c7, c8 = st.columns([2, 2, 1])
        c6.radio(_("Retrieval"), list(MODES), format_func=lambda k: now(MODES[k]), key=state.SEARCH_MODE,
                 persist_state="session",
                 help=_("Dense + BM25 + hybrid also ranks the chunks by keywords (BM25, Chinese segmented by jieba) "
                        "and fuses both lists; the dense results below stay as they are."))
        c7.radio(_("Hybrid fusion"), list(METHODS), format_func=lambda k: now(FUSIONS[k]).format(k=RRF_K),
                 key=state.SEARCH_FUSION, persist_state="session",
                 help=_("Both fuse the top 100 of each list. RRF adds 1 / (60 + rank) per list; weighted fusion "
                        "adds min-max normalised scores."))
        c8.slider(_("α (weighted fusion)"), 0.0, 1.0, step=0.05, key=state.SEARCH_ALPHA, persist_state="session",
                  help=_("Weight of the dense side; 1 = dense only, 0 = BM25 only. RRF ignores it."))
        submitted = st.form_submit_button(_("Search"), type="primary", key="search.w.submit")
    return submitted


def _run_submitted(ctx: PageContext, store: VectorStore, spec: CollectionSpec, can_rerank: bool) -> None:
    """Answer the submitted question and keep the outcome (and in hybrid mode the three lists) in the session."""
    query = ss[state.SEARCH_QUERY].strip()
    if not query:
        st.warning(_("Type a question first."))
        return
    reranker = None
    if ss[state.SEARCH_RERANK] and can_rerank:
        reranker = RerankClient(ctx.settings.rerank_base_url or "", ctx.settings.rerank_model)
    outcome = _ask(ctx, store, spec, query, reranker)
    ss[state.SEARCH_MODES] = None  # a dense-only query shows no lists of an earlier one
    if outcome is not None:
        ss[state.SEARCH_RESULT] = outcome
        if ss[state.SEARCH_MODE] == "hybrid":
            lists = _hybrid(ctx, store, spec, outcome)
            ss[state.SEARCH_MODES] = None if lists is None else (spec.name, lists)

def _ask(ctx: PageContext, store: VectorStore, spec: CollectionSpec, query: str,
         reranker: RerankClient | None) -> QueryOutcome | None:
    """Run the query with a progress bar; shows an embedding or store failure and returns None.

    In compare mode, the collection's judged queries (Judge page) are scored with and without the
    instruction too, for a verdict with an interval (`outcome.judged`)."""
    if not ensure_local_model(ctx.embedder):
        return None
    bar = st.progress(0.0, text=_("Embedding the query"))

    def report(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=_("Embedding the query: {done} / {total} unique texts").format(
            done=done, total=total))

    compare = ss[state.SEARCH_COMPARE] and bool(spec.instruction)
    try:
        outcome = retrieval.run_query(
            store, spec, ctx.embedder, query, int(ss[state.SEARCH_K]), sources=ss[state.SEARCH_SOURCES],
            compare=compare, reranker=reranker, fetch_n=int(ss[state.SEARCH_FETCH_N]), progress=report)
        if compare:
            grades = _judged_grades(ctx, spec.name)
            if grades:
                bar.progress(1.0, text=_("Scoring the judged queries with and without the instruction"))
                outcome.judged = judged_search.judged_instruction_comparison(
                    store, spec, ctx.embedder, grades, int(ss[state.SEARCH_K]), sources=ss[state.SEARCH_SOURCES])
        return outcome
    except EmbeddingError as exc:
        show_error(exc)
    except StoreError as exc:
        show_error(exc)
    finally:
        bar.empty()
        ctx.refresh_cache_stats()
    return None


def _judged_grades(ctx: PageContext, collection: str) -> dict[tuple[str, str], int]:
    """People's grades of the collection's (query, chunk) pairs from the Judge page; none without its database."""
    path = Path(ctx.settings.data_path) / jd.DB_FILE
    if not path.is_file():  # nothing judged yet: do not create the database from here
        return {}
    return jd.select_grades(jd.JudgmentStore(path).judgments(collection))


def _hybrid(ctx: PageContext, store: VectorStore, spec: CollectionSpec, out: QueryOutcome) -> ModeLists | None:
    """The dense, BM25 and hybrid lists of the query just answered; None (failure shown) if they fail.

    The first query on a collection's content reads its vectors and builds the BM25 index (with a
    progress bar); later ones reuse them (embedlab.retrieval.collection_index).
    """
    bar = st.progress(0.0, text=_("Dense + BM25 + hybrid: reading the collection"))

    def stage(what: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=_("{stage} (once per collection content)").format(stage=literal(what)))

    try:
        vector = ctx.embedder.embed([out.sent])[0]  # from the cache: the query was just embedded
        return retrieval.hybrid_search(
            store, spec, ctx.embedder.model_id, vector, out.query, int(ss[state.SEARCH_K]),
            sources=ss[state.SEARCH_SOURCES], method=ss[state.SEARCH_FUSION], alpha=float(ss[state.SEARCH_ALPHA]),
            progress=stage)
    except (EmbeddingError, StoreError) as exc:
        show_error(exc)
    except ValueError as exc:  # a fusion setting out of range, vectors of another size
        st.error(literal(tr(message_of(exc))), icon=":material/error:")
    finally:
        bar.empty()
    return None


# Fixed widths for ranks, scores and sources, so the text column (no width: it grows) gets the rest
