"""Search page: per-domain collections, ingestion, queries (threshold, instruction comparison,
rerank) and management. The work is in embedlab.retrieval / ingest / store; this arranges widgets,
progress and errors."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import resources, state
from components.i18n import _
from components.instruction_picker import pick_instruction
from components.page import PageContext
from components.widgets import download_figure, download_table, ensure_local_model, literal, show_error
from embedlab import figures, retrieval
from embedlab.backends import EmbeddingError
from embedlab.chunking import STRATEGIES, STRATEGY_LABELS
from embedlab.fusion import METHODS, RRF_K
from embedlab.ingest import (
    SAMPLE_DOMAINS,
    UPLOAD_TYPES,
    ChunkRecord,
    Document,
    IngestReport,
    chunk_documents,
    ingest,
    load_domain_sample,
    read_files,
    sample_for_collection,
)
from embedlab.rerank import START_HINT, RerankClient
from embedlab.retrieval import ModeLists, QueryOutcome
from embedlab.stores.base import CollectionInfo, CollectionSpec, StoreError, VectorStore, model_name
from embedlab.textio import UploadError

ss = st.session_state
TABS = ["Search", "Add documents", "Manage"]
MODES = {"dense": "Dense only (vector store)", "hybrid": "Dense + BM25 + hybrid, side by side"}
FUSIONS = {"rrf": f"reciprocal rank (RRF, k={RRF_K})", "weighted": "weighted scores (α · dense + (1 − α) · BM25)"}
MODE_COLUMNS = ["rank", "from", "source", "dense rank", "bm25 rank", "score", "text"]  # the export has all


def render(ctx: PageContext) -> None:
    st.title("Search")
    st.markdown(
        "One collection per business domain, each with its own **instruction** and **similarity threshold**; "
        "two-stage retrieval (embedding recall, then an optional reranker). Documents are chunked, embedded "
        "once and stored with content-hash ids, so adding the same file again changes nothing."
    )
    st.caption(f"Collections live in {literal(resources.store_location(ctx.settings))}; they survive "
               "restarts. Queries embed through the same cache as every other page.")
    if ss[state.SEARCH_NOTICE]:
        st.success(literal(ss[state.SEARCH_NOTICE]), icon=":material/check_circle:")
        ss[state.SEARCH_NOTICE] = ""
    try:
        store = ctx.store
        infos = store.list()
    except StoreError as exc:
        show_error(exc)
        return
    dim = _current_dim(ctx) if infos else None
    _create_panel(ctx, store, expanded=not infos)
    _samples_panel(ctx, store)
    _show_reports(ss[state.SEARCH_INGEST_REPORT])
    if not infos:
        st.info("No collections yet: create one above, or build the three sample collections.")
        return
    with st.expander(f"All collections ({len(infos)})", icon=":material/table:"):
        table = retrieval.collections_table(infos, ctx.embedder.model_id, dim)
        st.dataframe(table, hide_index=True, key="search.w.collections_table")
        download_table(table, "collections", key="search.w.dl_collections")
    info = _pick_collection(infos)
    if info.spec is None:
        st.error(f"{literal(info.name)} was not created by this playground (no embedding model recorded); "
                 "it cannot be searched or filled here safely.")
        return
    spec = info.spec
    problem = spec.mismatch(ctx.embedder.model_id, dim) if dim is not None else "The embedding model is unavailable."
    if spec.description:
        st.caption(literal(spec.description))
    # Lazy tabs: only the open tab runs. An empty collection opens on "Add documents"; once it has
    # chunks the default (part of the widget's identity) changes and it opens on "Search".
    search_tab, add_tab, manage_tab = st.tabs(TABS, key="search.tabs", on_change="rerun",
                                              default=TABS[0] if info.count else TABS[1])
    if search_tab.open:
        with search_tab:
            if problem:
                st.error(literal(problem), icon=":material/block:")
            elif info.count == 0:
                st.info("This collection is empty: add documents first.")
            else:
                _query_panel(ctx, store, spec)
    if add_tab.open:
        with add_tab:
            if problem:
                st.error(literal(problem), icon=":material/block:")
            else:
                _ingest_panel(ctx, store, spec.name)
    if manage_tab.open:
        with manage_tab:
            _manage_panel(ctx, store, spec)


def _current_dim(ctx: PageContext) -> int | None:
    try:
        return ctx.embedder.dim
    except EmbeddingError as exc:
        show_error(exc)
        return None


# -- collections ---------------------------------------------------------------------------------
def _create_panel(ctx: PageContext, store: VectorStore, expanded: bool) -> None:
    with st.expander("New collection", expanded=expanded, icon=":material/add:"):
        st.caption("One collection per business domain, each with its own instruction and threshold, "
                   "e.g. hr_policy_v1, tech_doc_v2, customer_chat_v1.")
        st.text_input("Name", key=state.SEARCH_NEW_NAME, persist_state="session", placeholder="hr_policy_v1",
                      help="3-63 characters: letters, digits, _ - . ; start and end with a letter or digit.")
        st.text_input("Description", key=state.SEARCH_NEW_DESCRIPTION, persist_state="session")
        instruction = pick_instruction(ctx.library, state.SEARCH_NEW_INSTRUCTION, "Query instruction")
        st.number_input("Similarity threshold", 0.0, 1.0, step=0.05, key=state.SEARCH_NEW_THRESHOLD, persist_state="session",
                        help="Results below it are still shown, greyed out.")
        if not st.button("Create collection", key="search.w.create", type="primary"):
            return
        if not ensure_local_model(ctx.embedder):
            return
        dim = _current_dim(ctx)
        if dim is None:
            return
        spec = CollectionSpec(name=ss[state.SEARCH_NEW_NAME], model_id=ctx.embedder.model_id, dim=dim,
                              instruction_name=instruction.name if instruction else "",
                              instruction=instruction.task if instruction else "",
                              description=ss[state.SEARCH_NEW_DESCRIPTION].strip(),
                              threshold=float(ss[state.SEARCH_NEW_THRESHOLD]))
        try:
            created = store.create(spec)
        except StoreError as exc:
            show_error(exc)
            return
        ss[state.SEARCH_ACTIVE] = created.name
        ss[state.SEARCH_NOTICE] = f"Created {created.name!r} for {model_name(created.model_id)} ({created.dim} dimensions)."
        st.rerun()


def _samples_panel(ctx: PageContext, store: VectorStore) -> None:
    with st.expander("Sample collections", icon=":material/library_books:"):
        st.caption(
            "Three small corpora written for this playground, in Chinese and English: an HR handbook, "
            "engineering and security docs, customer-service chats. Each becomes its own collection with "
            "its own instruction and threshold (recursive chunks of at most 128 tokens)."
        )
        for domain in SAMPLE_DOMAINS:
            sample = load_domain_sample(domain)
            st.markdown(f"- **{sample.collection}** · {len(sample.documents)} documents · "
                        f"instruction *{sample.instruction_name}* · threshold {sample.threshold}")
        if st.button("Build the three sample collections", key="search.w.build_samples", type="primary"):
            _build_samples(ctx, store)


def _build_samples(ctx: PageContext, store: VectorStore) -> None:
    if not ensure_local_model(ctx.embedder):
        return
    dim = _current_dim(ctx)
    if dim is None:
        return
    reports = []
    for domain in SAMPLE_DOMAINS:
        sample = load_domain_sample(domain)
        entry = ctx.library.get(sample.instruction_name)
        try:
            if not store.exists(sample.collection):
                store.create(sample.spec(ctx.embedder.model_id, dim, entry.task if entry else ""))
        except StoreError as exc:
            show_error(exc)
            continue
        records = chunk_documents(sample.documents, "recursive", max_tokens=128)
        report = _run_ingest(ctx, store, sample.collection, records, sample.collection)
        if report is not None:
            reports.append(report)
    ss[state.SEARCH_INGEST_REPORT] = reports
    ss[state.SEARCH_READ_AS] = []
    if reports:
        ss[state.SEARCH_ACTIVE] = reports[0].collection
        ss[state.SEARCH_NOTICE] = "Sample collections ready: " + "; ".join(
            f"{r.collection}: {r.summary()}" for r in reports)
        st.rerun()


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
    choice = st.selectbox("Collection", list(by_name), key=state.SEARCH_COLLECTION, persist_state="session", on_change=_follow_picker)
    st.caption(f"{by_name[choice].count:,} chunks in {literal(choice)}")
    ss[state.SEARCH_ACTIVE] = choice
    return by_name[choice]


# -- ingestion ------------------------------------------------------------------------------------
def _run_ingest(ctx: PageContext, store: VectorStore, name: str, records: list[ChunkRecord],
                label: str) -> IngestReport | None:
    """Ingest with a progress bar; the report (also for failures part-way) or None when refused."""
    bar = st.progress(0.0, text=f"{literal(label)}: {len(records)} chunks")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{literal(label)}: {stage} {done} / {total} new or changed chunks")

    try:
        return ingest(store, name, ctx.embedder, records, progress=progress)
    except StoreError as exc:
        show_error(exc)
        return None
    finally:
        bar.empty()
        ctx.refresh_cache_stats()


def _show_reports(reports: list[IngestReport]) -> None:
    for report in reports:
        box = st.success if report.ok else st.error
        box(f"**{literal(report.collection)}**: {literal(report.summary())}",
            icon=":material/check:" if report.ok else ":material/error:")
    if reports and ss[state.SEARCH_READ_AS]:
        # A table shows file names literally; "read as" is the encoding the text was decoded with.
        st.dataframe(pd.DataFrame(ss[state.SEARCH_READ_AS]), hide_index=True, width="content")


def _ingest_panel(ctx: PageContext, store: VectorStore, name: str) -> None:
    source = st.radio("Documents from", ["Upload files", "Paste text", "Sample corpus"], horizontal=True,
                      key=state.SEARCH_INGEST_SOURCE, persist_state="session")
    uploads = []
    if source == "Upload files":
        uploads = st.file_uploader(
            "Files (.txt, .md, .pdf: one document each; .csv, .jsonl: one document per row; "
            "a JSONL export of a collection is imported as it is)",
            type=list(UPLOAD_TYPES), accept_multiple_files=True, key="search.w.upload")
    elif source == "Paste text":
        st.text_input("Document name", key=state.SEARCH_PASTE_NAME, persist_state="session",
                      help="Pasting again under the same name replaces that document's chunks.")
        st.text_area("Text", height=200, key=state.SEARCH_PASTE_TEXT, persist_state="session")
    else:
        st.selectbox("Sample corpus", SAMPLE_DOMAINS, key=state.SEARCH_SAMPLE, persist_state="session",
                     format_func=lambda d: f"{d} ({len(load_domain_sample(d).documents)} documents)")
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Chunking", STRATEGIES, key=state.SEARCH_STRATEGY, persist_state="session", help="The strategies of the Chunking page.",
                 format_func={k: _(v) for k, v in STRATEGY_LABELS.items()}.__getitem__)
    c2.number_input("Max tokens per chunk", 8, 8192, step=32, key=state.SEARCH_MAX_TOKENS, persist_state="session",
                    help="Quality falls past about 2,048 tokens; shorter chunks match more precisely.")
    c3.number_input("Overlap (tokens)", 0, 4096, step=16, key=state.SEARCH_OVERLAP, persist_state="session")
    if not st.button("Add to collection", key="search.w.ingest", type="primary"):
        return
    max_tokens, overlap = int(ss[state.SEARCH_MAX_TOKENS]), int(ss[state.SEARCH_OVERLAP])
    if overlap >= max_tokens:
        st.error("The overlap must be smaller than the chunk size.")
        return
    documents: list[Document] = []
    imported: list[ChunkRecord] = []
    read_as: list[dict[str, object]] = []  # one row per uploaded file: name, encoding, documents
    try:
        if source == "Upload files":
            if not uploads:
                st.warning("Choose one or more files first.")
                return
            documents, imported, read_as = read_files([(upload.name, upload.getvalue()) for upload in uploads])
        elif source == "Paste text":
            if not ss[state.SEARCH_PASTE_TEXT].strip():
                st.warning("Paste some text first.")
                return
            documents = [Document(ss[state.SEARCH_PASTE_NAME].strip() or "pasted.txt", ss[state.SEARCH_PASTE_TEXT])]
        else:
            documents = list(load_domain_sample(ss[state.SEARCH_SAMPLE]).documents)
        records = chunk_documents(documents, ss[state.SEARCH_STRATEGY], max_tokens, overlap) + imported
    except (UploadError, ValueError) as exc:
        st.error(literal(exc), icon=":material/upload_file:")
        return
    if not ensure_local_model(ctx.embedder):
        return
    report = _run_ingest(ctx, store, name, records, name)
    if report is not None:
        ss[state.SEARCH_INGEST_REPORT] = [report]
        ss[state.SEARCH_READ_AS] = read_as
        ss[state.SEARCH_RESULT] = None
        st.rerun()


# -- query ----------------------------------------------------------------------------------------
def _query_panel(ctx: PageContext, store: VectorStore, spec: CollectionSpec) -> None:
    try:
        sources = store.sources(spec.name)
    except StoreError as exc:
        show_error(exc)
        sources = []
    # Kept filters of another collection (or of deleted documents) are not options here.
    ss[state.SEARCH_SOURCES] = [s for s in ss.get(state.SEARCH_SOURCES, []) if s in sources]
    can_rerank = bool(ctx.settings.rerank_base_url)
    sample = sample_for_collection(spec.name)
    with st.form("search.w.query_form", border=False):
        st.text_input("Question", key=state.SEARCH_QUERY, persist_state="session",
                      placeholder=sample.questions[0] if sample else "What do you want to find?")
        c1, c2, c3 = st.columns([1, 2, 2])
        c1.number_input("Top K", 1, 50, key=state.SEARCH_K, persist_state="session")
        c2.multiselect("Only these sources (optional)", sources, key=state.SEARCH_SOURCES, persist_state="session")
        c3.toggle("Compare with and without the instruction", key=state.SEARCH_COMPARE, persist_state="session",
                  disabled=not spec.instruction,
                  help=None if spec.instruction else "This collection has no instruction.")
        c4, c5 = st.columns([2, 3])
        c4.toggle("Rerank", key=state.SEARCH_RERANK, persist_state="session", disabled=not can_rerank,
                  help=f"Two stages: top N by embedding, then {literal(ctx.settings.rerank_model or 'the reranker')}.")
        c5.number_input("Candidates for the reranker (top N)", 5, 200, step=5, key=state.SEARCH_FETCH_N, persist_state="session",
                        disabled=not can_rerank)
        c6, c7, c8 = st.columns([2, 2, 1])
        c6.radio("Retrieval", list(MODES), format_func=MODES.__getitem__, key=state.SEARCH_MODE, persist_state="session",
                 help="Dense + BM25 + hybrid also ranks the chunks by keywords (BM25, Chinese segmented by jieba) "
                      "and fuses both lists; the dense results below stay as they are.")
        c7.radio("Hybrid fusion", list(METHODS), format_func=FUSIONS.__getitem__, key=state.SEARCH_FUSION, persist_state="session",
                 help="Both fuse the top 100 of each list. RRF adds 1 / (60 + rank) per list; weighted fusion "
                      "adds min-max normalised scores.")
        c8.slider("α (weighted fusion)", 0.0, 1.0, step=0.05, key=state.SEARCH_ALPHA, persist_state="session",
                  help="Weight of the dense side; 1 = dense only, 0 = BM25 only. RRF ignores it.")
        submitted = st.form_submit_button("Search", type="primary")
    if not can_rerank:
        st.caption(f"Reranking is off: no RERANK_BASE_URL is set. {START_HINT}")
    if sample:
        st.caption("Try: " + " · ".join(literal(q) for q in sample.questions))
    if submitted:
        query = ss[state.SEARCH_QUERY].strip()
        if not query:
            st.warning("Type a question first.")
        else:
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
    outcome = ss[state.SEARCH_RESULT]
    if outcome is not None and outcome.collection == spec.name:
        kept = ss[state.SEARCH_MODES]
        _show_outcome(outcome, kept[1] if kept and kept[0] == spec.name else None)
        _why_it_matched(store, outcome)


def _ask(ctx: PageContext, store: VectorStore, spec: CollectionSpec, query: str,
         reranker: RerankClient | None) -> QueryOutcome | None:
    """Run the query with a progress bar; shows an embedding or store failure and returns None."""
    if not ensure_local_model(ctx.embedder):
        return None
    bar = st.progress(0.0, text="Embedding the query")

    def report(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Embedding the query: {done} / {total} unique texts")

    try:
        return retrieval.run_query(
            store, spec, ctx.embedder, query, int(ss[state.SEARCH_K]), sources=ss[state.SEARCH_SOURCES],
            compare=ss[state.SEARCH_COMPARE] and bool(spec.instruction), reranker=reranker,
            fetch_n=int(ss[state.SEARCH_FETCH_N]), progress=report)
    except EmbeddingError as exc:
        show_error(exc)
    except StoreError as exc:
        show_error(exc)
    finally:
        bar.empty()
        ctx.refresh_cache_stats()
    return None


def _hybrid(ctx: PageContext, store: VectorStore, spec: CollectionSpec, out: QueryOutcome) -> ModeLists | None:
    """The dense, BM25 and hybrid lists of the query just answered; None (failure shown) if they fail.

    The first query on a collection's content reads its vectors and builds the BM25 index (with a
    progress bar); later ones reuse them (embedlab.retrieval.collection_index).
    """
    bar = st.progress(0.0, text="Dense + BM25 + hybrid: reading the collection")

    def stage(what: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{what} (once per collection content)")

    try:
        vector = ctx.embedder.embed([out.sent])[0]  # from the cache: the query was just embedded
        return retrieval.hybrid_search(
            store, spec, ctx.embedder.model_id, vector, out.query, int(ss[state.SEARCH_K]),
            sources=ss[state.SEARCH_SOURCES], method=ss[state.SEARCH_FUSION], alpha=float(ss[state.SEARCH_ALPHA]),
            progress=stage)
    except (EmbeddingError, StoreError) as exc:
        show_error(exc)
    except ValueError as exc:  # a fusion setting out of range, vectors of another size
        st.error(literal(exc), icon=":material/error:")
    finally:
        bar.empty()
    return None


def _show_modes(out: QueryOutcome, lists: ModeLists) -> None:
    """The three lists side by side, each hit with where it came from, and one export of all three."""
    st.subheader("Dense, BM25 and hybrid")
    t = lists.timings_ms
    index = (f"vectors read and BM25 index built in {t['index']:.0f} ms (kept for the next queries)"
             if lists.index_built else "index reused")
    st.caption(f"{lists.chunks:,} chunks · dense {t['dense']:.1f} ms · BM25 {t['bm25']:.1f} ms · "
               f"fusion {t['fusion']:.2f} ms · reading the collection {t['read']:.0f} ms · {index}")
    st.caption("**from**: *both* = in the dense and the BM25 top 100, *dense* / *bm25* = in that list only; "
               "**dense rank** and **bm25 rank** are the ranks in each (empty: not in it). Dense is the exact "
               "cosine over the stored vectors; BM25 reads the question without the instruction.")
    columns = st.columns(3)
    fused = "RRF" if lists.method == "rrf" else f"weighted, α = {float(ss[state.SEARCH_ALPHA]):.2f}"
    shown = [("Dense", lists.dense, "dense"), ("BM25", lists.bm25, "bm25"), (f"Hybrid ({fused})", lists.hybrid, "hybrid")]
    for column, (title, hits, key) in zip(columns, shown, strict=True):
        with column:
            st.markdown(f"**{title}**")
            if not hits:
                st.info("No chunk shares a word with the question." if key == "bm25" else "No results.")
                continue
            narrow = st.column_config.NumberColumn(width="small")
            st.dataframe(retrieval.mode_table(hits)[MODE_COLUMNS], hide_index=True, key=f"search.w.mode_{key}",
                         column_config={c: narrow for c in ("rank", "dense rank", "bm25 rank")})
    download_table(retrieval.mode_lists_table(lists), f"{out.collection}_dense_bm25_hybrid", key="search.w.dl_modes")


def _grey_below(frame: pd.DataFrame):
    """Rows under the threshold in grey: shown, not hidden."""
    def style(row: pd.Series) -> list[str]:
        return ["color: #a0a0a0" if row["above threshold"] == "no" else "" for _ in row]

    return frame.style.apply(style, axis=1).format({"similarity": "{:.3f}"})


def _show_outcome(out: QueryOutcome, modes: ModeLists | None = None) -> None:
    t = out.timings_ms
    c1, c2, c3 = st.columns(3)
    c1.metric("Embed query", f"{t['embed']:.0f} ms", help="Through the embedding cache.")
    c1.caption("from the cache" if out.embed_cached else "sent to the model")
    c2.metric("Vector search", f"{t['search']:.0f} ms")
    c2.caption(f"{out.fetched} candidate(s) from the vector store")
    c3.metric("Rerank", "off" if t["rerank"] is None else f"{t['rerank']:.0f} ms")
    st.markdown("**Query sent to the model** (instruction: "
                f"{literal(out.instruction_name) if out.instruction_name else 'none'})")
    st.code(out.sent, language=None, wrap_lines=True)
    if modes is not None:
        _show_modes(out, modes)
    if not out.hits:
        st.info("No results: the collection is empty or the source filter excludes everything.")
        return
    st.subheader(f"Top {len(out.hits)} by embedding")
    if out.below_threshold:
        st.caption(f"{out.below_threshold} result(s) under the threshold {out.threshold:.2f} are shown in grey.")
    frame = retrieval.hits_table(out.hits, out.threshold)
    st.dataframe(_grey_below(frame), hide_index=True, key="search.w.results_table")
    download_table(frame, f"{out.collection}_results", key="search.w.dl_results")

    if out.rerank_error:
        st.error(literal(out.rerank_error), icon=":material/sort:")
    if out.reranked is not None:
        st.subheader(f"After reranking (top {len(out.reranked)} of {out.fetched})")
        reranked = retrieval.rerank_table(out.reranked, out.threshold)
        st.dataframe(_grey_below(reranked), hide_index=True, key="search.w.rerank_table")
        download_table(reranked, f"{out.collection}_reranked", key="search.w.dl_rerank")
        fig = figures.search_rank_moves(retrieval.rerank_moves(out.reranked), "embedding", "rerank")
        st.plotly_chart(fig, key="search.w.rerank_fig")
        download_figure(fig, f"{out.collection}_rerank_moves", key="search.w.dl_rerank_fig")

    if out.plain_hits is not None:
        st.subheader("With and without the instruction")
        with_table, without_table = retrieval.comparison_tables(out)
        left, right = st.columns(2)
        with left:
            st.markdown(f"**With** *{literal(out.instruction_name)}*")
            st.dataframe(_grey_below(with_table), hide_index=True, key="search.w.with_table")
        with right:
            st.markdown("**Without** instruction")
            st.dataframe(_grey_below(without_table), hide_index=True, key="search.w.without_table")
        fig = figures.search_rank_moves(retrieval.instruction_moves(out), "without", "with instruction")
        st.plotly_chart(fig, key="search.w.compare_fig")
        download_figure(fig, f"{out.collection}_instruction_moves", key="search.w.dl_compare_fig")

    fig = figures.search_similarity_bars(retrieval.bar_labels(out.hits), [h.similarity for h in out.hits],
                                         out.threshold, [h.text for h in out.hits])
    st.plotly_chart(fig, key="search.w.sim_fig")
    download_figure(fig, f"{out.collection}_similarities", key="search.w.dl_sim_fig")


@st.fragment  # picking another hit only redraws this part (one context look-up), not the page
def _why_it_matched(store: VectorStore, out: QueryOutcome) -> None:
    if not out.hits:
        return
    st.subheader("Why it matched")
    options = list(range(len(out.hits)))
    state.keep_valid(state.SEARCH_DETAIL, options, fallback=0)  # the last outcome may have had more hits
    pick = st.selectbox("Result", options, key=state.SEARCH_DETAIL, persist_state="session",
                        format_func=lambda i: retrieval.hit_label(out.hits[i]))
    hit = out.hits[pick]
    try:
        context = store.context(out.collection, hit)
    except StoreError as exc:
        show_error(exc)
        return
    verdict = "above" if hit.similarity >= out.threshold else "below"
    st.caption(f"Similarity {hit.similarity:.3f} is {verdict} the threshold {out.threshold:.2f}. "
               f"Characters {hit.metadata.get('start')}–{hit.metadata.get('end')} of "
               f"{literal(hit.source)}, {hit.metadata.get('tokens', '?')} tokens.")
    with st.container(border=True):
        if context.before:
            st.caption("… " + literal(context.before))
        st.markdown(":material/arrow_right: **Matched chunk**")
        st.markdown(literal(context.match))
        if context.after:
            st.caption(literal(context.after) + " …")


# -- manage ---------------------------------------------------------------------------------------
def _seed_settings_form(spec: CollectionSpec) -> None:
    """Fill the settings form from the collection's spec when it shows another collection, or
    the spec changed since (saved here or in another session); typed edits are kept otherwise."""
    seed = (spec.name, spec.description, spec.threshold)
    if ss[state.SEARCH_EDIT_SEED] != seed:
        ss[state.SEARCH_EDIT_DESCRIPTION] = spec.description
        ss[state.SEARCH_EDIT_THRESHOLD] = float(spec.threshold)
        ss[state.SEARCH_EDIT_SEED] = seed


def _update(store: VectorStore, spec: CollectionSpec, notice: str, **changes: object) -> None:
    try:
        store.update(spec.name, **changes)
    except StoreError as exc:
        show_error(exc)
        return
    ss[state.SEARCH_NOTICE] = notice
    ss[state.SEARCH_RESULT] = None
    st.rerun()


def _manage_panel(ctx: PageContext, store: VectorStore, spec: CollectionSpec) -> None:
    st.markdown(
        f"Model **{literal(spec.model_id)}** · {spec.dim} dimensions · created {literal(spec.created_at)} · "
        f"instruction *{literal(spec.instruction_name or 'none')}*"
    )
    if spec.instruction:
        st.text(spec.instruction)
    _seed_settings_form(spec)
    with st.form("search.w.settings_form"):
        st.text_input("Description", key=state.SEARCH_EDIT_DESCRIPTION, persist_state="session")
        st.number_input("Similarity threshold", 0.0, 1.0, step=0.05, key=state.SEARCH_EDIT_THRESHOLD, persist_state="session")
        if st.form_submit_button("Save settings"):
            _update(store, spec, f"Saved the settings of {spec.name!r}.",
                    description=ss[state.SEARCH_EDIT_DESCRIPTION].strip(),
                    threshold=float(ss[state.SEARCH_EDIT_THRESHOLD]))
    st.caption("The instruction only changes how queries are embedded (documents carry none), so it can be "
               "switched without re-ingesting.")
    instruction = pick_instruction(ctx.library, state.SEARCH_EDIT_INSTRUCTION, "Change the query instruction")
    if st.button("Use this instruction", key="search.w.set_instruction"):
        name = instruction.name if instruction else ""
        _update(store, spec, f"{spec.name!r} now uses {name or 'no instruction'}.",
                instruction_name=name, instruction=instruction.task if instruction else "")

    st.subheader("Export")
    vectors = st.checkbox("Include the vectors", key=state.SEARCH_EXPORT_VECTORS, persist_state="session",
                          help="Without vectors the file is smaller; importing it re-embeds the texts.")
    if st.button("Prepare JSONL export", key="search.w.export_prepare"):
        try:
            lines = store.export_jsonl(spec.name, include_embeddings=vectors)
        except StoreError as exc:
            show_error(exc)
        else:
            ss[state.SEARCH_EXPORT] = {"name": spec.name, "vectors": vectors,
                                       "data": "".join(lines).encode("utf-8"), "rows": len(lines)}
    export = ss[state.SEARCH_EXPORT]
    if export and export["name"] == spec.name:
        st.download_button(f"Download {literal(spec.name)}.jsonl ({export['rows']} records)", export["data"],
                           file_name=f"{spec.name}.jsonl", mime="application/jsonl", key="search.w.export_download",
                           on_click="ignore")

    st.subheader("Delete")
    confirm = st.text_input(f"Type {literal(spec.name)} to confirm", key=state.SEARCH_DELETE_CONFIRM, persist_state="session")
    if st.button("Delete collection", key="search.w.delete", disabled=confirm.strip() != spec.name):
        try:
            store.delete(spec.name)
        except StoreError as exc:
            show_error(exc)
            return
        ss[state.SEARCH_ACTIVE] = None
        ss[state.SEARCH_RESULT] = None
        ss[state.SEARCH_EXPORT] = None
        ss[state.SEARCH_NOTICE] = f"Deleted {spec.name!r}."
        del ss[state.SEARCH_DELETE_CONFIRM]
        st.rerun()
