"""The Search page's panels that fill collections: New collection, Sample collections, Add documents,
and the ingestion reports."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import state
from components.i18n import _, bound_gettext, tr
from components.instruction_picker import display_name, pick_instruction
from components.page import PageContext
from components.views.search.names import (
    INGEST_SOURCES,
    STAGES,
    translated_table,
)
from components.widgets import ensure_local_model, literal, show_error
from embedlab.backends import EmbeddingError
from embedlab.chunking import STRATEGIES, STRATEGY_LABELS
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
)
from embedlab.messages import N_, message_of
from embedlab.stores.base import (
    CollectionSpec,
    StoreError,
    VectorStore,
    model_name,
)
from embedlab.textio import UploadError

ss = st.session_state


def current_dim(ctx: PageContext) -> int | None:
    try:
        return ctx.embedder.dim
    except EmbeddingError as exc:
        show_error(exc)
        return None


# -- collections ---------------------------------------------------------------------------------
def create_panel(ctx: PageContext, store: VectorStore, expanded: bool) -> None:
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
        dim = current_dim(ctx)
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


def samples_panel(ctx: PageContext, store: VectorStore) -> None:
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
                instruction=literal(display_name(sample.instruction_name))))
        if st.button(_("Build the three sample collections"), key="search.w.build_samples", type="primary"):
            _build_samples(ctx, store)


def _build_samples(ctx: PageContext, store: VectorStore) -> None:
    if not ensure_local_model(ctx.embedder):
        return
    dim = current_dim(ctx)
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


def show_reports(reports: list[IngestReport]) -> None:
    for report in reports:
        box = st.success if report.ok else st.error
        box(f"**{literal(report.collection)}**: {literal(tr(report.summary()))}",
            icon=":material/check:" if report.ok else ":material/error:")
    if reports and ss[state.SEARCH_READ_AS]:
        # A table shows file names literally; "read as" is the encoding the text was decoded with.
        st.dataframe(translated_table(pd.DataFrame(ss[state.SEARCH_READ_AS])), hide_index=True, width="content")


def ingest_panel(ctx: PageContext, store: VectorStore, name: str) -> None:
    now = bound_gettext()
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
