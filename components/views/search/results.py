"""The Search page's results: timings, result tables with the threshold's grey, the reranked list,
the instruction comparison, the three lists of hybrid mode, and why a hit matched."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pandas as pd
import streamlit as st

from components import state
from components.i18n import _, bound_gettext, tr
from components.instruction_picker import display_name
from components.views.search.names import (
    CELLS,
    HEADERS,
    MODE_COLUMNS,
    translated_table,
)
from components.widgets import download_figure, download_table, literal, show_error
from embedlab import figures, judged_search, retrieval
from embedlab.messages import N_
from embedlab.retrieval import ModeLists, QueryOutcome
from embedlab.stores.base import (
    Hit,
    StoreError,
    VectorStore,
)

ss = st.session_state


# Fixed widths for ranks, scores and sources, so the text column (no width: it grows) gets the rest
# of the row and the scores stay in view at 1440 px.
_NARROW = ("rank", "dense rank", "bm25 rank", "rank with", "rank without", "embedding rank", "move", "chunk",
           "above threshold", "from")
_SCORES = ("similarity", "score", "rerank score", "bm25 score")


def _header_px(header: str) -> int:
    """About the pixels a header needs: Chinese characters are twice as wide as Latin ones."""
    return 28 + sum(16 if unicodedata.east_asian_width(c) in "WF" else 8 for c in header)


def _table(frame: pd.DataFrame, key: str, styled: bool = False) -> None:
    """A result table, headers translated, rank and score columns narrow, the text column wide."""
    shown = translated_table(frame)
    config: dict[str, object] = {}
    for column in frame.columns:
        header = _(HEADERS[column]) if column in HEADERS else column
        if column in _NARROW:
            config[header] = st.column_config.Column(width=max(64, _header_px(header)))
        elif column in _SCORES:
            config[header] = st.column_config.NumberColumn(width=max(84, _header_px(header)), format="%.4f")
        elif column == "source":
            config[header] = st.column_config.TextColumn(width=160)
    data = _grey_below(shown) if styled else shown
    st.dataframe(data, hide_index=True, key=key, column_config=config)


def _show_modes(out: QueryOutcome, lists: ModeLists) -> None:
    """The three lists one under the other, each hit with where it came from, and one export of all three."""
    st.subheader(_("Dense, BM25 and hybrid"))
    t = lists.timings_ms
    if lists.index_built:
        index = _("vectors read and BM25 index built in {ms:.0f} ms (kept for the next queries)").format(ms=t["index"])
    else:
        index = _("index reused")
    st.caption(_("{chunks:,} chunks · dense {dense:.1f} ms · BM25 {bm25:.1f} ms · fusion {fusion:.2f} ms · reading "
                 "the collection {read:.0f} ms · {index}").format(
        chunks=lists.chunks, dense=t["dense"], bm25=t["bm25"], fusion=t["fusion"], read=t["read"], index=index))
    st.caption(_("**from**: *both* = in the dense and the BM25 top 100, *dense* / *bm25* = in that list only; "
                 "**dense rank** and **bm25 rank** are the ranks in each (empty: not in it). Dense is the exact "
                 "cosine over the stored vectors; BM25 reads the question without the instruction."))
    if lists.method == "rrf":
        fused = _("Hybrid (RRF)")
    else:
        fused = _("Hybrid (weighted, α = {alpha:.2f})").format(alpha=float(ss[state.SEARCH_ALPHA]))
    shown = [(_("Dense"), lists.dense, "dense"), ("BM25", lists.bm25, "bm25"), (fused, lists.hybrid, "hybrid")]
    for title, hits, key in shown:
        st.markdown(f"**{title}**")
        if not hits:
            st.info(_("No chunk shares a word with the question.") if key == "bm25" else _("No results."))
            continue
        _table(retrieval.mode_table(hits)[MODE_COLUMNS], f"search.w.mode_{key}")
    download_table(retrieval.mode_lists_table(lists), f"{out.collection}_dense_bm25_hybrid", key="search.w.dl_modes",
                   label=_("Download CSV"))


def _grey_below(frame: pd.DataFrame):
    """Rows under the threshold in grey: shown, not hidden (no grey without an "above threshold" column)."""
    column, no = _(HEADERS["above threshold"]), _(CELLS["no"])

    def style(row: pd.Series) -> list[str]:
        grey = column in row.index and row[column] == no
        return ["color: #a0a0a0" if grey else "" for _cell in row]

    return frame.style.apply(style, axis=1).format({_(HEADERS["similarity"]): "{:.3f}"})


def show_outcome(out: QueryOutcome, modes: ModeLists | None = None) -> None:
    t = out.timings_ms
    c1, c2, c3 = st.columns(3)
    c1.metric(_("Embed query"), _("{ms:.0f} ms").format(ms=t["embed"]), help=_("Through the embedding cache."))
    c1.caption(_("from the cache") if out.embed_cached else _("sent to the model"))
    c2.metric(_("Vector search"), _("{ms:.0f} ms").format(ms=t["search"]))
    c2.caption(_("{n} candidate(s) from the vector store").format(n=out.fetched))
    c3.metric(_("Rerank"), _("off") if t["rerank"] is None else _("{ms:.0f} ms").format(ms=t["rerank"]))
    if out.instruction_name:
        st.markdown(_("**Query sent to the model** (instruction: {name})").format(name=literal(display_name(out.instruction_name))))
    else:
        st.markdown(_("**Query sent to the model** (no instruction)"))
    st.code(out.sent, language=None, wrap_lines=True)
    if modes is not None:
        _show_modes(out, modes)
    if not out.hits:
        st.info(_("No results: the collection is empty or the source filter excludes everything."))
        return
    st.subheader(_("Top {n} by embedding").format(n=len(out.hits)))
    if out.below_threshold:
        st.caption(_("{n} result(s) under the threshold {value:.2f} are shown in grey.").format(
            n=out.below_threshold, value=out.threshold))
    frame = retrieval.hits_table(out.hits, out.shown_threshold)
    _table(frame, "search.w.results_table", styled=True)
    download_table(frame, f"{out.collection}_results", key="search.w.dl_results", label=_("Download CSV"))

    if out.rerank_error:
        st.error(literal(tr(out.rerank_error)), icon=":material/sort:")
    if out.reranked is not None:
        st.subheader(_("After reranking (top {n} of {fetched})").format(n=len(out.reranked), fetched=out.fetched))
        reranked = retrieval.rerank_table(out.reranked, out.shown_threshold)
        _table(reranked, "search.w.rerank_table", styled=True)
        download_table(reranked, f"{out.collection}_reranked", key="search.w.dl_rerank", label=_("Download CSV"))
        fig = figures.search_rank_moves(retrieval.rerank_moves(out.reranked), _("embedding"), _("rerank"), gettext=_)
        st.plotly_chart(fig, key="search.w.rerank_fig")
        download_figure(fig, f"{out.collection}_rerank_moves", key="search.w.dl_rerank_fig", label=_("Download HTML"))

    if out.plain_hits is not None:
        _show_comparison(out)

    fig = figures.search_similarity_bars(retrieval.bar_labels(out.hits), [h.similarity for h in out.hits],
                                         out.shown_threshold, [h.text for h in out.hits], gettext=_)
    st.plotly_chart(fig, key="search.w.sim_fig")
    download_figure(fig, f"{out.collection}_similarities", key="search.w.dl_sim_fig", label=_("Download HTML"))


def _show_comparison(out: QueryOutcome) -> None:
    """With and without the instruction: the verdict first, then both lists one under the other."""
    st.subheader(_("With and without the instruction"))
    if out.judged is not None:
        st.info(tr(judged_search.judged_sentence(out.judged)), icon=":material/balance:")
        if out.judged.coverage < 1:
            st.caption(_("{share:.0%} of these top-{k} results are judged; unjudged ones count as not relevant, so "
                         "the scores are lower bounds. Judge more on the Judge page.").format(
                share=out.judged.coverage, k=out.judged.k))
    shift = retrieval.instruction_shift(out)
    if shift is not None:
        box = st.caption if out.judged is not None else st.info
        box(tr(retrieval.shift_sentence(shift)), **({} if out.judged is not None else {"icon": ":material/compare_arrows:"}))
    with_table, without_table = retrieval.comparison_tables(out)
    st.markdown(_("**With** *{name}*").format(name=literal(display_name(out.instruction_name))))
    _table(with_table, "search.w.with_table", styled=True)
    st.markdown(_("**Without** instruction"))
    _table(without_table, "search.w.without_table", styled=True)
    fig = figures.search_rank_moves(retrieval.instruction_moves(out), _("without"), _("with instruction"), gettext=_)
    st.plotly_chart(fig, key="search.w.compare_fig")
    download_figure(fig, f"{out.collection}_instruction_moves", key="search.w.dl_compare_fig", label=_("Download HTML"))


@st.fragment  # picking another hit only redraws this part (one context look-up), not the page
def why_it_matched(store: VectorStore, out: QueryOutcome) -> None:
    if not out.hits:
        return
    st.subheader(_("Why it matched"))
    now = bound_gettext()
    options = list(range(len(out.hits)))
    state.keep_valid(state.SEARCH_DETAIL, options, fallback=0)  # the last outcome may have had more hits
    pick = st.selectbox(_("Result"), options, key=state.SEARCH_DETAIL, persist_state="session",
                        format_func=lambda i: _hit_label(out.hits[i], now))
    hit = out.hits[pick]
    try:
        context = store.context(out.collection, hit)
    except StoreError as exc:
        show_error(exc)
        return
    where = {"start": hit.metadata.get("start"), "end": hit.metadata.get("end"), "source": literal(hit.source),
             "tokens": hit.metadata.get("tokens", "?"), "similarity": hit.similarity}
    if out.shown_threshold is None:
        st.caption(_("Similarity {similarity:.3f} (not compared with a threshold: this collection's is not "
                     "calibrated). Characters {start}–{end} of {source}, {tokens} tokens.").format(**where))
    elif hit.similarity >= out.threshold:
        st.caption(_("Similarity {similarity:.3f} is above the threshold {threshold:.2f}. Characters {start}–{end} "
                     "of {source}, {tokens} tokens.").format(threshold=out.threshold, **where))
    else:
        st.caption(_("Similarity {similarity:.3f} is below the threshold {threshold:.2f}. Characters {start}–{end} "
                     "of {source}, {tokens} tokens.").format(threshold=out.threshold, **where))
    with st.container(border=True):
        if context.before:
            st.caption("… " + literal(context.before))
        st.markdown(":material/arrow_right: **" + _("Matched chunk") + "**")
        st.markdown(literal(context.match))
        if context.after:
            st.caption(literal(context.after) + " …")


def _hit_label(hit: Hit, gettext: Callable[[str], str]) -> str:
    return gettext(N_("#{rank} · {source} · chunk {chunk} · {similarity:.3f}")).format(
        rank=hit.rank, source=hit.source, chunk=hit.metadata.get("chunk"), similarity=hit.similarity)
