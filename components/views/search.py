"""Search page: per-domain collections, ingestion, queries (threshold, instruction comparison,
rerank) and management. The work is in embedlab.retrieval / ingest / store; this arranges widgets,
progress and errors, in the session's language."""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from components import resources, state
from components.i18n import _, current_language, tr, translations
from components.instruction_picker import NO_INSTRUCTION, pick_instruction
from components.page import PageContext
from components.widgets import download_figure, download_table, ensure_local_model, literal, show_error
from embedlab import figures, judged_search, retrieval
from embedlab import judgments as jd
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
from embedlab.messages import N_, message_of
from embedlab.rerank import RerankClient
from embedlab.retrieval import ModeLists, QueryOutcome
from embedlab.stores.base import (
    CALIBRATED,
    SET_BY_HAND,
    UNCALIBRATED,
    CollectionInfo,
    CollectionSpec,
    Hit,
    StoreError,
    VectorStore,
    model_name,
)
from embedlab.textio import UploadError

ss = st.session_state
TABS = [N_("Search"), N_("Add documents"), N_("Manage")]  # drawn translated: a tab's value is its label
MODES = {"dense": N_("Dense only (vector store)"), "hybrid": N_("Dense + BM25 + hybrid, one list under the other")}
FUSIONS = {"rrf": N_("reciprocal rank (RRF, k={k})"), "weighted": N_("weighted scores (α · dense + (1 − α) · BM25)")}
INGEST_SOURCES = {"Upload files": N_("Upload files"), "Paste text": N_("Paste text"),
                  "Sample corpus": N_("Sample corpus")}  # the stored values are the English names
STAGES = {"embedding": N_("embedding"), "writing": N_("writing")}  # embedlab.ingest progress stages
THRESHOLD_FROM = {UNCALIBRATED: N_("not calibrated"), CALIBRATED: N_("calibrated in Evaluate"),
                  SET_BY_HAND: N_("set by hand")}
MODE_COLUMNS = ["rank", "from", "dense rank", "bm25 rank", "score", "source", "text"]  # the export has all
# Every column header the page shows, translated where drawn (exports keep the English names).
HEADERS = {
    "rank": N_("rank"), "similarity": N_("similarity"), "above threshold": N_("above threshold"),
    "source": N_("source"), "chunk": N_("chunk"), "text": N_("text"), "rank with": N_("rank with"),
    "rank without": N_("rank without"), "embedding rank": N_("embedding rank"), "move": N_("move"),
    "rerank score": N_("rerank score"), "score": N_("score"), "from": N_("from"), "dense rank": N_("dense rank"),
    "bm25 rank": N_("bm25 rank"), "bm25 score": N_("bm25 score"), "collection": N_("collection"),
    "chunks": N_("chunks"), "model": N_("model"), "dimension": N_("dimension"), "instruction": N_("instruction"),
    "threshold": N_("threshold"), "threshold from": N_("threshold from"), "description": N_("description"),
    "usable now": N_("usable now"), "file": N_("file"), "read as": N_("read as"), "documents": N_("documents"),
}
CELLS = {"yes": N_("yes"), "no": N_("no"), "both": N_("both"), "dense": N_("dense"), "(none)": N_("(none)")}
EVALUATE_PAGE = "pages/5_Evaluate.py"
JUDGE_PAGE = "pages/5_Judge.py"


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
    dim = _current_dim(ctx) if infos else None
    _create_panel(ctx, store, expanded=not infos)
    _samples_panel(ctx, store)
    _show_reports(ss[state.SEARCH_INGEST_REPORT])
    if not infos:
        st.info(_("No collections yet: create one above, or build the three sample collections."))
        return
    with st.expander(_("All collections ({n})").format(n=len(infos)), icon=":material/table:"):
        table = retrieval.collections_table(infos, ctx.embedder.model_id, dim)
        st.dataframe(_collections_shown(table), hide_index=True, key="search.w.collections_table")
        download_table(table.assign(**{"usable now": table["usable now"].map(str)}), "collections",
                       key="search.w.dl_collections", label=_("Download CSV"))
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
                _query_panel(ctx, store, spec)
    if add_tab.open:
        with add_tab:
            if problem:
                st.error(literal(tr(problem)), icon=":material/block:")
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


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """A table with its headers and its yes/no/origin cells in the session's language."""
    cells = {k: _(v) for k, v in CELLS.items()}
    out = frame.copy()
    for column in ("above threshold", "from", "instruction"):
        if column in out.columns:
            out[column] = out[column].map(lambda v: cells.get(v, v) if isinstance(v, str) else v)
    return out.rename(columns={c: _(HEADERS[c]) for c in out.columns if c in HEADERS})


def _collections_shown(table: pd.DataFrame) -> pd.DataFrame:
    out = table.assign(**{"usable now": table["usable now"].map(tr),
                          "threshold from": table["threshold from"].map(lambda k: _(THRESHOLD_FROM.get(k, k)))})
    return _shown(out)


def _now() -> Callable[[str], str]:
    """The session's translation as it is now, for format functions: Streamlit may call those
    outside the script run (AppTest does), where the session's language cannot be read."""
    return translations(current_language()).gettext


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


# -- collections ---------------------------------------------------------------------------------
def _create_panel(ctx: PageContext, store: VectorStore, expanded: bool) -> None:
    with st.expander(_("New collection"), expanded=expanded, icon=":material/add:"):
        st.caption(_("One collection per business domain, each with its own instruction and threshold, "
                     "e.g. hr_policy_v1, tech_doc_v2, customer_chat_v1."))
        st.text_input(_("Name"), key=state.SEARCH_NEW_NAME, persist_state="session", placeholder="hr_policy_v1",
                      help=_("3-63 characters: letters, digits, _ - . ; start and end with a letter or digit."))
        st.text_input(_("Description"), key=state.SEARCH_NEW_DESCRIPTION, persist_state="session")
        instruction = pick_instruction(ctx.library, state.SEARCH_NEW_INSTRUCTION, _("Query instruction"))
        st.caption(_("A new collection starts without a calibrated threshold: calibrate one in Evaluate once it "
                     "has documents, or set one by hand under Manage."))
        if not st.button(_("Create collection"), key="search.w.create", type="primary"):
            return
        if not ensure_local_model(ctx.embedder):
            return
        dim = _current_dim(ctx)
        if dim is None:
            return
        spec = CollectionSpec(name=ss[state.SEARCH_NEW_NAME], model_id=ctx.embedder.model_id, dim=dim,
                              instruction_name=instruction.name if instruction else "",
                              instruction=instruction.task if instruction else "",
                              description=ss[state.SEARCH_NEW_DESCRIPTION].strip())
        try:
            created = store.create(spec)
        except StoreError as exc:
            show_error(exc)
            return
        ss[state.SEARCH_ACTIVE] = created.name
        ss[state.SEARCH_NOTICE] = _("Created {name} for {model} ({dim} dimensions).").format(
            name=repr(created.name), model=model_name(created.model_id), dim=created.dim)
        st.rerun()


def _samples_panel(ctx: PageContext, store: VectorStore) -> None:
    with st.expander(_("Sample collections"), icon=":material/library_books:"):
        st.caption(_(
            "Three small corpora written for this playground, in Chinese and English: an HR handbook, "
            "engineering and security docs, customer-service chats. Each becomes its own collection with "
            "its own instruction, cut into chunks of at most 128 tokens by “{strategy}”. Their thresholds "
            "start uncalibrated, like any new collection's."
        ).format(strategy=_(STRATEGY_LABELS["recursive"])))
        for domain in SAMPLE_DOMAINS:
            sample = load_domain_sample(domain)
            st.markdown(_("- **{collection}** · {n} documents · instruction *{instruction}*").format(
                collection=literal(sample.collection), n=len(sample.documents),
                instruction=literal(sample.instruction_name)))
        if st.button(_("Build the three sample collections"), key="search.w.build_samples", type="primary"):
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
        ss[state.SEARCH_NOTICE] = _("Sample collections ready: {reports}").format(
            reports="; ".join(f"{r.collection}: {tr(r.summary())}" for r in reports))
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
    choice = st.selectbox(_("Collection"), list(by_name), key=state.SEARCH_COLLECTION, persist_state="session",
                          on_change=_follow_picker)
    st.caption(_("{n:,} chunks in {name}").format(n=by_name[choice].count, name=literal(choice)))
    ss[state.SEARCH_ACTIVE] = choice
    return by_name[choice]


# -- ingestion ------------------------------------------------------------------------------------
def _run_ingest(ctx: PageContext, store: VectorStore, name: str, records: list[ChunkRecord],
                label: str) -> IngestReport | None:
    """Ingest with a progress bar; the report (also for failures part-way) or None when refused."""
    bar = st.progress(0.0, text=_("{label}: {n} chunks").format(label=literal(label), n=len(records)))

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=_("{label}: {stage} {done} / {total} new or changed chunks").format(
            label=literal(label), stage=_(STAGES.get(stage, stage)), done=done, total=total))

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
        box(f"**{literal(report.collection)}**: {literal(tr(report.summary()))}",
            icon=":material/check:" if report.ok else ":material/error:")
    if reports and ss[state.SEARCH_READ_AS]:
        # A table shows file names literally; "read as" is the encoding the text was decoded with.
        st.dataframe(_shown(pd.DataFrame(ss[state.SEARCH_READ_AS])), hide_index=True, width="content")


def _ingest_panel(ctx: PageContext, store: VectorStore, name: str) -> None:
    now = _now()
    source = st.radio(_("Documents from"), list(INGEST_SOURCES), format_func=lambda k: now(INGEST_SOURCES[k]),
                      horizontal=True, key=state.SEARCH_INGEST_SOURCE, persist_state="session")
    uploads = []
    if source == "Upload files":
        uploads = st.file_uploader(
            _("Files (.txt, .md, .pdf: one document each; .csv, .jsonl: one document per row; "
              "a JSONL export of a collection is imported as it is)"),
            type=list(UPLOAD_TYPES), accept_multiple_files=True, key="search.w.upload")
    elif source == "Paste text":
        st.text_input(_("Document name"), key=state.SEARCH_PASTE_NAME, persist_state="session",
                      help=_("Pasting again under the same name replaces that document's chunks."))
        st.text_area(_("Text"), height=200, key=state.SEARCH_PASTE_TEXT, persist_state="session")
    else:
        st.selectbox(_("Sample corpus"), SAMPLE_DOMAINS, key=state.SEARCH_SAMPLE, persist_state="session",
                     format_func=lambda d: now(N_("{name} ({n} documents)")).format(
                         name=d, n=len(load_domain_sample(d).documents)))
    c1, c2, c3 = st.columns(3)
    c1.selectbox(_("Chunking"), STRATEGIES, key=state.SEARCH_STRATEGY, persist_state="session",
                 format_func=lambda k: now(STRATEGY_LABELS[k]), help=_("The strategies of the Chunking page."))
    c2.number_input(_("Max tokens per chunk"), 8, 8192, step=32, key=state.SEARCH_MAX_TOKENS, persist_state="session",
                    help=_("Quality falls past about 2,048 tokens; shorter chunks match more precisely."))
    c3.number_input(_("Overlap (tokens)"), 0, 4096, step=16, key=state.SEARCH_OVERLAP, persist_state="session")
    if not st.button(_("Add to collection"), key="search.w.ingest", type="primary"):
        return
    max_tokens, overlap = int(ss[state.SEARCH_MAX_TOKENS]), int(ss[state.SEARCH_OVERLAP])
    if overlap >= max_tokens:
        st.error(_("The overlap must be smaller than the chunk size."))
        return
    documents: list[Document] = []
    imported: list[ChunkRecord] = []
    read_as: list[dict[str, object]] = []  # one row per uploaded file: name, encoding, documents
    try:
        if source == "Upload files":
            if not uploads:
                st.warning(_("Choose one or more files first."))
                return
            documents, imported, read_as = read_files([(upload.name, upload.getvalue()) for upload in uploads])
        elif source == "Paste text":
            if not ss[state.SEARCH_PASTE_TEXT].strip():
                st.warning(_("Paste some text first."))
                return
            documents = [Document(ss[state.SEARCH_PASTE_NAME].strip() or "pasted.txt", ss[state.SEARCH_PASTE_TEXT])]
        else:
            documents = list(load_domain_sample(ss[state.SEARCH_SAMPLE]).documents)
        records = chunk_documents(documents, ss[state.SEARCH_STRATEGY], max_tokens, overlap) + imported
    except (UploadError, ValueError) as exc:
        st.error(literal(tr(message_of(exc))), icon=":material/upload_file:")
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
    now = _now()
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
    if not can_rerank:
        st.caption(_("Reranking is off: no RERANK_BASE_URL is set. Serve Qwen3-Reranker with sglang or vLLM (both "
                     "offer /v1/rerank), then set RERANK_BASE_URL (and RERANK_MODEL) and restart the app."))
    if sample:
        st.caption(_("Try: {questions}").format(questions=" · ".join(literal(q) for q in sample.questions)))
    if submitted:
        query = ss[state.SEARCH_QUERY].strip()
        if not query:
            st.warning(_("Type a question first."))
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
        ctx.model_caption()
        _show_outcome(outcome, kept[1] if kept and kept[0] == spec.name else None)
        _why_it_matched(store, outcome)


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
# of the row and the scores stay in view at 1440 px.
_NARROW = ("rank", "dense rank", "bm25 rank", "rank with", "rank without", "embedding rank", "move", "chunk",
           "above threshold", "from")
_SCORES = ("similarity", "score", "rerank score", "bm25 score")


def _header_px(header: str) -> int:
    """About the pixels a header needs: Chinese characters are twice as wide as Latin ones."""
    return 28 + sum(16 if unicodedata.east_asian_width(c) in "WF" else 8 for c in header)


def _table(frame: pd.DataFrame, key: str, styled: bool = False) -> None:
    """A result table, headers translated, rank and score columns narrow, the text column wide."""
    shown = _shown(frame)
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


def _show_outcome(out: QueryOutcome, modes: ModeLists | None = None) -> None:
    t = out.timings_ms
    c1, c2, c3 = st.columns(3)
    c1.metric(_("Embed query"), _("{ms:.0f} ms").format(ms=t["embed"]), help=_("Through the embedding cache."))
    c1.caption(_("from the cache") if out.embed_cached else _("sent to the model"))
    c2.metric(_("Vector search"), _("{ms:.0f} ms").format(ms=t["search"]))
    c2.caption(_("{n} candidate(s) from the vector store").format(n=out.fetched))
    c3.metric(_("Rerank"), _("off") if t["rerank"] is None else _("{ms:.0f} ms").format(ms=t["rerank"]))
    if out.instruction_name:
        st.markdown(_("**Query sent to the model** (instruction: {name})").format(name=literal(out.instruction_name)))
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
    st.markdown(_("**With** *{name}*").format(name=literal(out.instruction_name)))
    _table(with_table, "search.w.with_table", styled=True)
    st.markdown(_("**Without** instruction"))
    _table(without_table, "search.w.without_table", styled=True)
    fig = figures.search_rank_moves(retrieval.instruction_moves(out), _("without"), _("with instruction"), gettext=_)
    st.plotly_chart(fig, key="search.w.compare_fig")
    download_figure(fig, f"{out.collection}_instruction_moves", key="search.w.dl_compare_fig", label=_("Download HTML"))


@st.fragment  # picking another hit only redraws this part (one context look-up), not the page
def _why_it_matched(store: VectorStore, out: QueryOutcome) -> None:
    if not out.hits:
        return
    st.subheader(_("Why it matched"))
    now = _now()
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


# -- manage ---------------------------------------------------------------------------------------
def _seed_settings_form(spec: CollectionSpec, options: list[str]) -> None:
    """Fill the settings form and the instruction picker from the collection's spec when they show
    another collection, or the spec changed since (saved here or in another session); typed edits
    are kept otherwise. `options`: the picker's instruction names."""
    seed = (spec.name, spec.description, spec.threshold, spec.threshold_source, spec.instruction_name)
    if ss[state.SEARCH_EDIT_SEED] != seed:
        ss[state.SEARCH_EDIT_DESCRIPTION] = spec.description
        ss[state.SEARCH_EDIT_THRESHOLD] = float(spec.threshold)
        own = spec.instruction_name or NO_INSTRUCTION
        if own in options:  # a name no longer in the library keeps the picker where it was
            ss[state.SEARCH_EDIT_INSTRUCTION] = own
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
    st.markdown(_("Model **{model}** · {dim} dimensions · created {created}").format(
        model=literal(spec.model_id), dim=spec.dim, created=literal(spec.created_at)))
    if spec.instruction_name:
        st.markdown(_("**Query instruction of this collection:** *{name}*").format(name=literal(spec.instruction_name)))
        st.text(spec.instruction)  # the task text stored with the collection, as queries are embedded
        entry = ctx.library.get(spec.instruction_name)
        if entry is not None and entry.task != spec.instruction:
            st.caption(_("The library's {name} has changed since it was set here; “Use this instruction” below "
                         "applies its current text.").format(name=literal(spec.instruction_name)))
    else:
        st.markdown(_("**Query instruction of this collection:** none (queries are embedded as they are)"))
    options = [NO_INSTRUCTION, *(i.name for i in ctx.library.all())]
    _seed_settings_form(spec, options)
    with st.form("search.w.settings_form"):
        st.text_input(_("Description"), key=state.SEARCH_EDIT_DESCRIPTION, persist_state="session")
        st.number_input(_("Similarity threshold"), 0.0, 1.0, step=0.05, key=state.SEARCH_EDIT_THRESHOLD,
                        persist_state="session",
                        help=_("Results below it are still shown, greyed out. A value typed here counts as set by "
                               "hand; a calibrated one comes from Evaluate (Apply to collection)."))
        st.caption(_("Threshold: {state}.").format(state=_threshold_words(spec)))
        if st.form_submit_button(_("Save settings"), key="search.w.save_settings"):
            _save_settings(store, spec)
    if spec.threshold_applies and st.button(_("Mark the threshold as uncalibrated"), key="search.w.forget_threshold",
                                            help=_("Nothing is greyed until it is calibrated again.")):
        _update(store, spec, _("The threshold of {name} is no longer applied.").format(name=repr(spec.name)),
                threshold_source=UNCALIBRATED, threshold_note="")
    st.caption(_("The instruction only changes how queries are embedded (documents carry none), so it can be "
                 "switched without re-ingesting."))
    instruction = pick_instruction(ctx.library, state.SEARCH_EDIT_INSTRUCTION, _("Change the query instruction"))
    if st.button(_("Use this instruction"), key="search.w.set_instruction"):
        name = instruction.name if instruction else ""
        notice = (_("{collection} now uses {name}.").format(collection=repr(spec.name), name=name) if name
                  else _("{collection} now uses no instruction.").format(collection=repr(spec.name)))
        _update(store, spec, notice, instruction_name=name, instruction=instruction.task if instruction else "")

    st.subheader(_("Export"))
    vectors = st.checkbox(_("Include the vectors"), key=state.SEARCH_EXPORT_VECTORS, persist_state="session",
                          help=_("Without vectors the file is smaller; importing it re-embeds the texts."))
    if st.button(_("Prepare JSONL export"), key="search.w.export_prepare"):
        try:
            lines = store.export_jsonl(spec.name, include_embeddings=vectors)
        except StoreError as exc:
            show_error(exc)
        else:
            ss[state.SEARCH_EXPORT] = {"name": spec.name, "vectors": vectors,
                                       "data": "".join(lines).encode("utf-8"), "rows": len(lines)}
    export = ss[state.SEARCH_EXPORT]
    if export and export["name"] == spec.name:
        st.download_button(_("Download {name}.jsonl ({n} records)").format(name=literal(spec.name), n=export["rows"]),
                           export["data"], file_name=f"{spec.name}.jsonl", mime="application/jsonl",
                           key="search.w.export_download", on_click="ignore")

    st.subheader(_("Delete"))
    confirm = st.text_input(_("Type {name} to confirm").format(name=literal(spec.name)), key=state.SEARCH_DELETE_CONFIRM,
                            persist_state="session")
    if st.button(_("Delete collection"), key="search.w.delete", disabled=confirm.strip() != spec.name):
        try:
            store.delete(spec.name)
        except StoreError as exc:
            show_error(exc)
            return
        ss[state.SEARCH_ACTIVE] = None
        ss[state.SEARCH_RESULT] = None
        ss[state.SEARCH_EXPORT] = None
        ss[state.SEARCH_NOTICE] = _("Deleted {name}.").format(name=repr(spec.name))
        del ss[state.SEARCH_DELETE_CONFIRM]
        st.rerun()


def _threshold_words(spec: CollectionSpec) -> str:
    """Where the collection's threshold came from, in words (for Manage)."""
    if spec.threshold_source == CALIBRATED:
        note = f" ({literal(spec.threshold_note)})" if spec.threshold_note else ""
        return _("{value:.4f}, calibrated in Evaluate{note}").format(value=spec.threshold, note=note)
    if spec.threshold_source == SET_BY_HAND:
        return _("{value:.4f}, set by hand").format(value=spec.threshold)
    return _("not calibrated, so nothing is greyed (calibrate it in Evaluate: Apply to collection)")


def _save_settings(store: VectorStore, spec: CollectionSpec) -> None:
    """Save description and threshold; a threshold typed here (changed, or saved while uncalibrated
    with another value) counts as set by hand, an untouched one keeps where it came from."""
    threshold = float(ss[state.SEARCH_EDIT_THRESHOLD])
    changes: dict[str, object] = {"description": ss[state.SEARCH_EDIT_DESCRIPTION].strip(), "threshold": threshold}
    if abs(threshold - spec.threshold) > 1e-9:
        changes.update(threshold_source=SET_BY_HAND, threshold_note="")
    _update(store, spec, _("Saved the settings of {name}.").format(name=repr(spec.name)), **changes)
