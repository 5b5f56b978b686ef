"""The Search page's panels: collections, ingestion, queries (threshold, instruction comparison,
rerank) and management. Logic lives in embedlab.store / ingest / rerank; this arranges widgets."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from components import state
from components.instruction_picker import current_library, pick_instruction
from components.resources import current_settings
from components.store import get_store, location
from components.widgets import (
    download_figure,
    download_table,
    embed_with_progress,
    ensure_local_model,
    show_error,
)
from embedlab import figures
from embedlab.backends import EmbeddingError
from embedlab.cache import CachedEmbedder
from embedlab.chunking import STRATEGIES
from embedlab.config import Settings
from embedlab.ingest import (
    SAMPLE_DOMAINS,
    UPLOAD_TYPES,
    ChunkRecord,
    IngestReport,
    chunk_documents,
    documents_from_file,
    ingest,
    load_sample,
)
from embedlab.instructions import PRESETS, format_query
from embedlab.rerank import START_HINT, RerankClient, RerankedHit, RerankError, apply_rerank, move_label
from embedlab.store import DEFAULT_THRESHOLD, CollectionInfo, CollectionSpec, Hit, Store, StoreError
from embedlab.textio import UploadError

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: str) -> str:
    """User text made inert for st.markdown/st.caption (no links, formatting or directives)."""
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _store_call(fn, *args, **kwargs):
    """Run a store operation; show a failure (server gone, refused) and return None."""
    try:
        return fn(*args, **kwargs)
    except StoreError as exc:
        st.error(str(exc), icon=":material/database:")
    except Exception as exc:  # noqa: BLE001 - Chroma raises plain errors when its server is down
        st.error(f"The vector store failed: {type(exc).__name__}: {str(exc)[:300]}", icon=":material/database:")
    return None


def _current_dim(embedder: CachedEmbedder) -> int | None:
    try:
        return embedder.dim
    except EmbeddingError as exc:
        show_error(exc)
        return None


# -- collections ------------------------------------------------------------------------------
def collections_table(infos: list[CollectionInfo], model_id: str, dim: int | None) -> pd.DataFrame:
    rows = []
    for info in infos:
        spec = info.spec
        if spec is None:
            usable = "no: not made by this playground"
        elif dim is None:
            usable = "?"
        else:
            problem = spec.mismatch(model_id, dim)
            usable = "yes" if problem is None else f"no: {spec.model_id.split('@')[0]} / {spec.dim} d"
        rows.append({
            "collection": info.name,
            "chunks": info.count,
            "model": spec.model_id.split("@")[0] if spec else "",
            "dimension": spec.dim if spec else None,
            "instruction": spec.instruction_name or "(none)" if spec else "",
            "threshold": spec.threshold if spec else None,
            "description": spec.description if spec else "",
            "usable now": usable,
        })
    return pd.DataFrame(rows)


def _instruction_task(name: str) -> str:
    entry = current_library().get(name) or next((p for p in PRESETS if p.name == name), None)
    return entry.task if entry else ""


def create_panel(store: Store, embedder: CachedEmbedder, expanded: bool) -> None:
    with st.expander("New collection", expanded=expanded, icon=":material/add:"):
        st.caption("One collection per business domain, each with its own instruction and threshold, "
                   "e.g. hr_policy_v1, tech_doc_v2, customer_chat_v1.")
        name = st.text_input("Name", key="search.w.new_name", placeholder="hr_policy_v1",
                             help="3-63 characters: letters, digits, _ - . ; start and end with a letter or digit.")
        description = st.text_input("Description", key="search.w.new_description")
        instruction = pick_instruction("search.w.new_instruction", "Query instruction")
        threshold = st.number_input("Similarity threshold", 0.0, 1.0, DEFAULT_THRESHOLD, 0.05,
                                    key="search.w.new_threshold",
                                    help="Results below it are still shown, greyed out.")
        if st.button("Create collection", key="search.w.create", type="primary"):
            if not ensure_local_model(embedder):
                return
            dim = _current_dim(embedder)
            if dim is None:
                return
            spec = CollectionSpec(name=name, model_id=embedder.model_id, dim=dim,
                                  instruction_name=instruction.name if instruction else "",
                                  instruction=instruction.task if instruction else "",
                                  description=description.strip(), threshold=float(threshold))
            created = _store_call(store.create, spec)
            if created:
                st.session_state[state.SEARCH_ACTIVE] = created.name
                st.session_state[state.SEARCH_NOTICE] = (
                    f"Created {created.name!r} for {created.model_id.split('@')[0]} ({created.dim} dimensions).")
                st.rerun()


def samples_panel(store: Store, embedder: CachedEmbedder) -> None:
    with st.expander("Sample collections", icon=":material/library_books:"):
        st.caption(
            "Three small corpora written for this playground, in Chinese and English: an HR handbook, "
            "engineering and security docs, customer-service chats. Each becomes its own collection with "
            "its own instruction and threshold (recursive chunks of at most 128 tokens)."
        )
        for domain in SAMPLE_DOMAINS:
            sample = load_sample(domain)
            st.markdown(f"- **{sample.collection}** · {len(sample.documents)} documents · "
                        f"instruction *{sample.instruction_name}* · threshold {sample.threshold}")
        if st.button("Build the three sample collections", key="search.w.build_samples", type="primary"):
            build_samples(store, embedder)


def build_samples(store: Store, embedder: CachedEmbedder) -> None:
    if not ensure_local_model(embedder):
        return
    dim = _current_dim(embedder)
    if dim is None:
        return
    reports = []
    for domain in SAMPLE_DOMAINS:
        sample = load_sample(domain)
        if not _store_call(store.exists, sample.collection):
            spec = CollectionSpec(sample.collection, embedder.model_id, dim, sample.instruction_name,
                                  _instruction_task(sample.instruction_name), sample.description, sample.threshold)
            if _store_call(store.create, spec) is None:
                continue
        records = chunk_documents(sample.documents, "recursive", max_tokens=128)
        report = run_ingest(store, sample.collection, embedder, records, f"{sample.collection}")
        if report is not None:
            reports.append(report)
    st.session_state[state.SEARCH_INGEST_REPORT] = reports
    if reports:
        st.session_state[state.SEARCH_ACTIVE] = reports[0].collection
        st.session_state[state.SEARCH_NOTICE] = "Sample collections ready: " + "; ".join(
            f"{r.collection}: {r.summary()}" for r in reports)
        st.rerun()


def _follow_picker() -> None:
    st.session_state[state.SEARCH_ACTIVE] = st.session_state["search.w.collection"]


def pick_collection(infos: list[CollectionInfo]) -> str | None:
    names = [i.name for i in infos]
    if not names:
        return None
    active = st.session_state.get(state.SEARCH_ACTIVE)
    counts = {i.name: i.count for i in infos}
    # A widget key that holds a deleted name would break the selectbox: drop it.
    if st.session_state.get("search.w.collection") not in (None, *names):
        del st.session_state["search.w.collection"]
    # No counts in the option labels: the browser keeps showing a keyed selectbox's old label
    # after they change (right after an ingestion it read "(0 chunks)"), so the count is a caption.
    # A collection just created or built becomes active: move the picker to it (a keyed
    # selectbox ignores a changed `index` once drawn). The callback keeps a user's own pick.
    if active in names and st.session_state.get("search.w.collection") != active:
        st.session_state["search.w.collection"] = active
    choice = st.selectbox("Collection", names, key="search.w.collection", on_change=_follow_picker)
    st.caption(f"{counts[choice]:,} chunks in {escape_markdown(choice)}")
    st.session_state[state.SEARCH_ACTIVE] = choice
    return choice


# -- ingestion ----------------------------------------------------------------------------------
def run_ingest(store: Store, name: str, embedder: CachedEmbedder, records: list[ChunkRecord],
               label: str) -> IngestReport | None:
    """Ingest with a progress bar; the report (also for failures part-way) or None when refused."""
    bar = st.progress(0.0, text=f"{label}: {len(records)} chunks")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{label}: {stage} {done} / {total} new or changed chunks")

    try:
        report = ingest(store, name, embedder, records, progress=progress)
    except StoreError as exc:
        bar.empty()
        st.error(str(exc), icon=":material/block:")
        return None
    bar.empty()
    return report


def show_reports(reports: list[IngestReport]) -> None:
    for report in reports:
        if report.ok:
            st.success(f"**{report.collection}**: {escape_markdown(report.summary())}", icon=":material/check:")
        else:
            st.error(f"**{report.collection}**: {escape_markdown(report.summary())}", icon=":material/error:")


def ingest_panel(store: Store, name: str, embedder: CachedEmbedder) -> None:
    source = st.radio("Documents from", ["Upload files", "Paste text", "Sample corpus"], horizontal=True,
                      key="search.w.ingest_source")
    uploads, pasted_name, pasted, sample_domain = [], "", "", None
    if source == "Upload files":
        uploads = st.file_uploader(
            "Files (.txt, .md, .pdf: one document each; .csv, .jsonl: one document per row; "
            "a JSONL export of a collection is imported as it is)",
            type=list(UPLOAD_TYPES), accept_multiple_files=True, key="search.w.upload")
    elif source == "Paste text":
        pasted_name = st.text_input("Document name", "pasted.txt", key="search.w.paste_name",
                                    help="Pasting again under the same name replaces that document's chunks.")
        pasted = st.text_area("Text", height=200, key="search.w.paste_text")
    else:
        sample_domain = st.selectbox("Sample corpus", SAMPLE_DOMAINS, key="search.w.sample",
                                     format_func=lambda d: f"{d} ({len(load_sample(d).documents)} documents)")
    c1, c2, c3 = st.columns(3)
    strategy = c1.selectbox("Chunking", STRATEGIES, index=STRATEGIES.index("recursive"), key="search.w.strategy",
                            help="The strategies of the Chunking page.")
    max_tokens = c2.number_input("Max tokens per chunk", 8, 8192, 256, 32, key="search.w.max_tokens",
                                 help="Quality falls past about 2,048 tokens; shorter chunks match more precisely.")
    overlap = c3.number_input("Overlap (tokens)", 0, 4096, 0, 16, key="search.w.overlap")
    if not st.button("Add to collection", key="search.w.ingest", type="primary"):
        return
    if overlap >= max_tokens:
        st.error("The overlap must be smaller than the chunk size.")
        return
    documents, imported = [], []
    try:
        if source == "Upload files":
            if not uploads:
                st.warning("Choose one or more files first.")
                return
            for upload in uploads:
                docs, recs = documents_from_file(upload.getvalue(), upload.name)
                documents.extend(docs)
                imported.extend(recs)
        elif source == "Paste text":
            if not pasted.strip():
                st.warning("Paste some text first.")
                return
            from embedlab.ingest import Document

            documents = [Document(pasted_name.strip() or "pasted.txt", pasted)]
        else:
            documents = list(load_sample(sample_domain).documents)
        records = chunk_documents(documents, strategy, int(max_tokens), int(overlap)) + imported
    except (UploadError, ValueError) as exc:
        st.error(str(exc), icon=":material/upload_file:")
        return
    if not ensure_local_model(embedder):
        return
    report = run_ingest(store, name, embedder, records, name)
    if report is not None:
        st.session_state[state.SEARCH_INGEST_REPORT] = [report]
        st.session_state[state.SEARCH_RESULT] = None
        st.rerun()


# -- query ----------------------------------------------------------------------------------
@dataclass
class QueryOutcome:
    """Everything one query produced, kept in session state so reruns redraw without recomputing."""

    collection: str
    query: str
    sent: str  # the exact text embedded for the query
    threshold: float
    instruction_name: str
    hits: list[Hit]
    plain_hits: list[Hit] | None = None  # the same query without instruction (compare mode)
    reranked: list[RerankedHit] | None = None
    rerank_error: str | None = None
    fetched: int = 0
    timings_ms: dict[str, float | None] = field(default_factory=dict)
    embed_cached: bool = False


def _where(sources: list[str]) -> dict | None:
    if not sources:
        return None
    return {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}


def run_query(store: Store, spec: CollectionSpec, embedder: CachedEmbedder, settings: Settings, query: str,
              k: int, sources: list[str], compare: bool, rerank: bool, fetch_n: int) -> QueryOutcome | None:
    sent = format_query(spec.instruction, query)
    texts = [sent] + ([query] if compare and sent != query else [])
    misses = embedder.cache.misses
    t0 = time.perf_counter()
    vectors = embed_with_progress(embedder, texts, "Embedding the query")
    embed_ms = (time.perf_counter() - t0) * 1000
    if vectors is None:
        return None
    where = _where(sources)
    n = max(k, fetch_n) if rerank else k
    t1 = time.perf_counter()
    hits = _store_call(store.search, spec.name, embedder.model_id, vectors[0], n, where)
    if hits is None:
        return None
    plain = None
    if compare:
        plain = hits[:k] if len(texts) == 1 else _store_call(store.search, spec.name, embedder.model_id,
                                                             vectors[1], k, where)
    search_ms = (time.perf_counter() - t1) * 1000
    outcome = QueryOutcome(spec.name, query, sent, spec.threshold, spec.instruction_name, hits[:k], plain,
                           fetched=len(hits), embed_cached=embedder.cache.misses == misses,
                           timings_ms={"embed": embed_ms, "search": search_ms, "rerank": None})
    if rerank and hits:
        client = RerankClient(settings.rerank_base_url or "", settings.rerank_model)
        t2 = time.perf_counter()
        try:
            scores = client.rerank(query, [h.text for h in hits], top_n=k)
            outcome.reranked = apply_rerank(hits, scores, k)
        except RerankError as exc:
            outcome.rerank_error = str(exc)
        outcome.timings_ms["rerank"] = (time.perf_counter() - t2) * 1000
    return outcome


def query_panel(store: Store, spec: CollectionSpec, embedder: CachedEmbedder, settings: Settings) -> None:
    sample = next((load_sample(d) for d in SAMPLE_DOMAINS if load_sample(d).collection == spec.name), None)
    with st.form("search.w.query_form", border=False):
        query = st.text_input("Question", key="search.w.query",
                              placeholder=sample.questions[0] if sample else "What do you want to find?")
        c1, c2, c3 = st.columns([1, 2, 2])
        k = c1.number_input("Top K", 1, 50, 5, key="search.w.k")
        sources = c2.multiselect("Only these sources (optional)", _store_call(store.sources, spec.name) or [],
                                 key="search.w.sources")
        compare = c3.toggle("Compare with and without the instruction", key="search.w.compare",
                            disabled=not spec.instruction,
                            help=None if spec.instruction else "This collection has no instruction.")
        can_rerank = bool(settings.rerank_base_url)
        c4, c5 = st.columns([2, 3])
        rerank = c4.toggle("Rerank", key="search.w.rerank", disabled=not can_rerank,
                           help=f"Two stages: top N by embedding, then {settings.rerank_model or 'the reranker'}.")
        fetch_n = c5.number_input("Candidates for the reranker (top N)", 5, 200, 50, 5, key="search.w.fetch_n",
                                  disabled=not can_rerank)
        submitted = st.form_submit_button("Search", type="primary")
    if not can_rerank:
        st.caption(f"Reranking is off: no RERANK_BASE_URL is set. {START_HINT}")
    if sample:
        st.caption("Try: " + " · ".join(escape_markdown(q) for q in sample.questions))
    if submitted:
        if not query.strip():
            st.warning("Type a question first.")
        else:
            outcome = run_query(store, spec, embedder, settings, query.strip(), int(k), sources, compare,
                                rerank and can_rerank, int(fetch_n))
            if outcome is not None:
                st.session_state[state.SEARCH_RESULT] = outcome
    outcome = st.session_state.get(state.SEARCH_RESULT)
    if outcome is not None and outcome.collection == spec.name:
        show_outcome(store, outcome)


def hits_frame(hits: list[Hit], threshold: float) -> pd.DataFrame:
    return pd.DataFrame([{
        "rank": h.rank,
        "similarity": round(h.similarity, 4),
        "above threshold": "yes" if h.similarity >= threshold else "no",
        "source": h.source,
        "chunk": h.metadata.get("chunk"),
        "text": _short(h.text),
    } for h in hits])


def _grey_below(frame: pd.DataFrame):
    """Rows under the threshold in grey: shown, not hidden."""
    def style(row: pd.Series) -> list[str]:
        return ["color: #a0a0a0" if row["above threshold"] == "no" else "" for _ in row]

    return frame.style.apply(style, axis=1).format({"similarity": "{:.3f}"})


def show_outcome(store: Store, out: QueryOutcome) -> None:
    t = out.timings_ms
    c1, c2, c3 = st.columns(3)
    c1.metric("Embed query", f"{t['embed']:.0f} ms", help="Through the embedding cache.")
    c1.caption("from the cache" if out.embed_cached else "sent to the model")
    c2.metric("Vector search", f"{t['search']:.0f} ms")
    c2.caption(f"{out.fetched} candidate(s) from Chroma")
    c3.metric("Rerank", "off" if t["rerank"] is None else f"{t['rerank']:.0f} ms")
    st.markdown("**Query sent to the model** (instruction: "
                f"{escape_markdown(out.instruction_name) if out.instruction_name else 'none'})")
    st.code(out.sent, language=None, wrap_lines=True)
    if not out.hits:
        st.info("No results: the collection is empty or the source filter excludes everything.")
        return
    below = sum(h.similarity < out.threshold for h in out.hits)
    st.subheader(f"Top {len(out.hits)} by embedding")
    if below:
        st.caption(f"{below} result(s) under the threshold {out.threshold:.2f} are shown in grey.")
    frame = hits_frame(out.hits, out.threshold)
    st.dataframe(_grey_below(frame), hide_index=True, key="search.w.results_table")
    download_table(frame, f"{out.collection}_results", key="search.w.dl_results")

    if out.rerank_error:
        st.error(out.rerank_error, icon=":material/sort:")
    if out.reranked is not None:
        st.subheader(f"After reranking (top {len(out.reranked)} of {out.fetched})")
        rr = pd.DataFrame([{
            "rank": r.rank, "embedding rank": r.embedding_rank, "move": move_label(r.move),
            "rerank score": round(r.score, 4), "similarity": round(r.hit.similarity, 4),
            "above threshold": "yes" if r.hit.similarity >= out.threshold else "no",
            "source": r.hit.source, "text": _short(r.hit.text),
        } for r in out.reranked])
        st.dataframe(_grey_below(rr), hide_index=True, key="search.w.rerank_table")
        download_table(rr, f"{out.collection}_reranked", key="search.w.dl_rerank")
        fig = figures.search_rank_moves([(_short(r.hit.text, 60), r.embedding_rank, r.rank) for r in out.reranked],
                                        "embedding", "rerank")
        st.plotly_chart(fig, key="search.w.rerank_fig")
        download_figure(fig, f"{out.collection}_rerank_moves", key="search.w.dl_rerank_fig")

    if out.plain_hits is not None:
        st.subheader("With and without the instruction")
        other = {h.id: h.rank for h in out.plain_hits}
        mine = {h.id: h.rank for h in out.hits}
        left, right = st.columns(2)
        with left:
            st.markdown(f"**With** *{escape_markdown(out.instruction_name)}*")
            f1 = hits_frame(out.hits, out.threshold)
            f1["rank without"] = [other.get(h.id) for h in out.hits]
            st.dataframe(_grey_below(f1), hide_index=True, key="search.w.with_table")
        with right:
            st.markdown("**Without** instruction")
            f2 = hits_frame(out.plain_hits, out.threshold)
            f2["rank with"] = [mine.get(h.id) for h in out.plain_hits]
            st.dataframe(_grey_below(f2), hide_index=True, key="search.w.without_table")
        union = {h.id: h for h in [*out.hits, *out.plain_hits]}
        fig = figures.search_rank_moves([(_short(h.text, 60), other.get(i), mine.get(i)) for i, h in union.items()],
                                        "without", "with instruction")
        st.plotly_chart(fig, key="search.w.compare_fig")
        download_figure(fig, f"{out.collection}_instruction_moves", key="search.w.dl_compare_fig")

    fig = figures.search_similarity_bars([f"#{h.rank} {h.source}" for h in out.hits],
                                         [h.similarity for h in out.hits], out.threshold, [h.text for h in out.hits])
    st.plotly_chart(fig, key="search.w.sim_fig")
    download_figure(fig, f"{out.collection}_similarities", key="search.w.dl_sim_fig")

    st.subheader("Why it matched")
    options = list(range(len(out.hits)))
    pick = st.selectbox("Result", options, key="search.w.detail",
                        format_func=lambda i: f"#{out.hits[i].rank} · {out.hits[i].source} · chunk "
                                              f"{out.hits[i].metadata.get('chunk')} · {out.hits[i].similarity:.3f}")
    hit = out.hits[pick]
    ctx = _store_call(store.context, out.collection, hit)
    if ctx is None:
        return
    verdict = "above" if hit.similarity >= out.threshold else "below"
    st.caption(f"Similarity {hit.similarity:.3f} is {verdict} the threshold {out.threshold:.2f}. "
               f"Characters {hit.metadata.get('start')}–{hit.metadata.get('end')} of "
               f"{escape_markdown(hit.source)}, {hit.metadata.get('tokens', '?')} tokens.")
    with st.container(border=True):
        if ctx.before:
            st.caption("… " + escape_markdown(ctx.before))
        st.markdown(":material/arrow_right: **Matched chunk**")
        st.markdown(escape_markdown(ctx.match))
        if ctx.after:
            st.caption(escape_markdown(ctx.after) + " …")


# -- manage -----------------------------------------------------------------------------------
def manage_panel(store: Store, spec: CollectionSpec) -> None:
    st.markdown(
        f"Model **{escape_markdown(spec.model_id)}** · {spec.dim} dimensions · created {spec.created_at} · "
        f"instruction *{escape_markdown(spec.instruction_name or 'none')}*"
    )
    if spec.instruction:
        st.text(spec.instruction)
    with st.form("search.w.settings_form"):
        description = st.text_input("Description", spec.description, key="search.w.edit_description")
        threshold = st.number_input("Similarity threshold", 0.0, 1.0, float(spec.threshold), 0.05,
                                    key="search.w.edit_threshold")
        saved = st.form_submit_button("Save settings") and _store_call(
            store.update, spec.name, description=description.strip(), threshold=float(threshold))
        if saved:
            st.session_state[state.SEARCH_NOTICE] = f"Saved the settings of {spec.name!r}."
            st.session_state[state.SEARCH_RESULT] = None
            st.rerun()
    st.caption("The instruction only changes how queries are embedded (documents carry none), so it can be "
               "switched without re-ingesting.")
    instruction = pick_instruction("search.w.edit_instruction", "Change the query instruction")
    if st.button("Use this instruction", key="search.w.set_instruction"):
        changes = {"instruction_name": instruction.name if instruction else "",
                   "instruction": instruction.task if instruction else ""}
        if _store_call(store.update, spec.name, **changes):
            st.session_state[state.SEARCH_NOTICE] = f"{spec.name!r} now uses {changes['instruction_name'] or 'no instruction'}."
            st.session_state[state.SEARCH_RESULT] = None
            st.rerun()

    st.subheader("Export")
    vectors = st.checkbox("Include the vectors", key="search.w.export_vectors",
                          help="Without vectors the file is smaller; importing it re-embeds the texts.")
    if st.button("Prepare JSONL export", key="search.w.export_prepare"):
        lines = _store_call(lambda: list(store.export_jsonl(spec.name, include_embeddings=vectors)))
        if lines is not None:
            st.session_state[state.SEARCH_EXPORT] = {"name": spec.name, "vectors": vectors,
                                                     "data": "".join(lines).encode("utf-8"), "rows": len(lines)}
    export = st.session_state.get(state.SEARCH_EXPORT)
    if export and export["name"] == spec.name:
        st.download_button(f"Download {spec.name}.jsonl ({export['rows']} records)", export["data"],
                           file_name=f"{spec.name}.jsonl", mime="application/jsonl", key="search.w.export_download")

    st.subheader("Delete")
    confirm = st.text_input(f"Type {spec.name} to confirm", key="search.w.delete_confirm")
    if st.button("Delete collection", key="search.w.delete", disabled=confirm.strip() != spec.name):
        if not _store_call(lambda: store.delete(spec.name) or True):
            return
        st.session_state[state.SEARCH_ACTIVE] = None
        st.session_state[state.SEARCH_RESULT] = None
        st.session_state[state.SEARCH_EXPORT] = None
        st.session_state[state.SEARCH_NOTICE] = f"Deleted {spec.name!r}."
        del st.session_state["search.w.delete_confirm"]
        st.rerun()


# -- the page ---------------------------------------------------------------------------------
def render(embedder: CachedEmbedder) -> None:
    settings = current_settings()
    st.caption(f"Collections live in {escape_markdown(location(settings))}; they survive restarts. "
               "Queries embed through the same cache as every other page.")
    notice = st.session_state.get(state.SEARCH_NOTICE)
    if notice:
        st.success(escape_markdown(notice), icon=":material/check_circle:")
        st.session_state[state.SEARCH_NOTICE] = ""
    store = get_store(settings)
    if store is None:
        return
    infos = _store_call(store.list)
    if infos is None:
        return
    dim = _current_dim(embedder) if infos else None
    create_panel(store, embedder, expanded=not infos)
    samples_panel(store, embedder)
    if st.session_state.get(state.SEARCH_INGEST_REPORT):
        show_reports(st.session_state[state.SEARCH_INGEST_REPORT])
    if not infos:
        st.info("No collections yet: create one above, or build the three sample collections.")
        return
    with st.expander(f"All collections ({len(infos)})", icon=":material/table:"):
        table = collections_table(infos, embedder.model_id, dim)
        st.dataframe(table, hide_index=True, key="search.w.collections_table")
        download_table(table, "collections", key="search.w.dl_collections")
    name = pick_collection(infos)
    info = next(i for i in infos if i.name == name)
    if info.spec is None:
        st.error(f"{escape_markdown(name)} was not created by this playground (no embedding model recorded); "
                 "it cannot be searched or filled here safely.")
        return
    spec = info.spec
    problem = spec.mismatch(embedder.model_id, dim) if dim is not None else "The embedding model is unavailable."
    if spec.description:
        st.caption(escape_markdown(spec.description))
    tabs = st.tabs(["Search", "Add documents", "Manage"], default="Search" if info.count else "Add documents")
    with tabs[0]:
        if problem:
            st.error(problem, icon=":material/block:")
        elif info.count == 0:
            st.info("This collection is empty: add documents first.")
        else:
            query_panel(store, spec, embedder, settings)
    with tabs[1]:
        if problem:
            st.error(problem, icon=":material/block:")
        else:
            ingest_panel(store, name, embedder)
    with tabs[2]:
        manage_panel(store, spec)
