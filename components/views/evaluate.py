"""Evaluate page: Recall@k, MRR@10 and nDCG@10 of a grid of set-ups on a labelled set; per-query
comparison of two set-ups; a similarity threshold calibrated on the set and applied to a collection."""

from __future__ import annotations

import time
from dataclasses import replace

import pandas as pd
import streamlit as st

from components import resources
from components import state as S
from components.instruction_picker import NO_INSTRUCTION
from components.page import PageContext
from components.widgets import download_figure, download_table, embed_with_progress, literal, show_error
from embedlab import figures
from embedlab.evaluation.calibration import Calibration, calibrate_config, for_precision
from embedlab.evaluation.datasets import BUNDLED, LabelledSet, load_bundled, load_labelled_set
from embedlab.evaluation.form import (
    DOCUMENT_MODES,
    PRECISION_CHOICES,
    RETRIEVAL_MODES,
    TRUNCATIONS,
    GridChoices,
    GridError,
    RunInfo,
    describe_set,
    dimension_options,
    plan_choices,
    preview_rows,
    query_choices,
    sweeps_dimensions,
)
from embedlab.evaluation.grid import RESCORE_TOP, ConfigResult, plan_grid, score_grid
from embedlab.evaluation.metrics import MAIN_METRIC, METRICS
from embedlab.evaluation.report import (
    compare_ranks,
    per_query_table,
    rank_change_counts,
    rank_change_table,
    results_json,
    results_table,
    top_documents_table,
)
from embedlab.stores.base import CALIBRATED, StoreError, model_name
from embedlab.textio import decode_bytes

ss = st.session_state
# The results table's first columns: nDCG@10 beside what it costs (mode, precision, vector size).
SIZE_COLUMNS = ["configuration", MAIN_METRIC, "mode", "precision", "dimensions", "bytes per vector",
                "1M vectors (GB)"]


def render(ctx: PageContext) -> None:
    st.title("Evaluate retrieval quality")
    st.caption(
        "Pick a labelled set (a corpus and queries with their relevant documents), choose the set-ups to "
        "compare, and get Recall@1/5/10, MRR@10 and nDCG@10 as MTEB defines them (nDCG@10 is MTEB's main "
        "retrieval score). Everything is embedded once at full size through the cache; smaller Matryoshka "
        "sizes are cut from those vectors, so re-running a grid only embeds what is new."
    )
    st.subheader("1 · Labelled set")
    dataset = _labelled_set()
    if dataset is not None:
        dataset = _describe(dataset)
    st.subheader("2 · Configurations")
    choices = _grid_form(ctx, dataset)
    if choices is not None and dataset is not None:
        _run(ctx, dataset, choices)
    if ss[S.EVAL_DATASET] is not None:
        _results(ctx)


@st.cache_data(max_entries=4, show_spinner=False)
def _load_upload(corpus: bytes, queries: bytes, name: str) -> tuple[LabelledSet, tuple[str, str]]:
    """The labelled set of two uploads, and how each file's bytes were decoded."""
    dataset = load_labelled_set(corpus, queries, name)
    return dataset, (decode_bytes(corpus).encoding, decode_bytes(queries).encoding)


@st.cache_data(max_entries=4, show_spinner=False)
def _load_bundled(name: str) -> LabelledSet:
    return load_bundled(name)


def _labelled_set() -> LabelledSet | None:
    """A bundled set, or the two uploaded files; None (with the reason shown) when there is none."""
    source = st.radio("Source", ["Bundled set", "Upload my own"], horizontal=True, key=S.EVAL_SOURCE, persist_state="session")
    if source == "Bundled set":
        return _load_bundled(st.selectbox("Bundled set", list(BUNDLED), key=S.EVAL_BUNDLED, persist_state="session"))
    left, right = st.columns(2)
    corpus_file = left.file_uploader("Corpus (JSONL)", type=["jsonl", "json", "txt"], key="eval.corpus_file",
                                     help='One document per line: {"id": "d1", "text": "..."}')
    queries_file = right.file_uploader(
        "Queries (JSONL)", type=["jsonl", "json", "txt"], key="eval.queries_file",
        help='One query per line: {"id": "q1", "text": "...", "relevant": ["d1", "d7"]} or, graded, '
             '{"relevant": {"d1": 2, "d7": 1}} (grade >= 1 is relevant).',
    )
    if corpus_file is None or queries_file is None:
        st.info("Upload both files to evaluate your own data.", icon=":material/upload_file:")
        return None
    try:
        dataset, (corpus_encoding, queries_encoding) = _load_upload(
            corpus_file.getvalue(), queries_file.getvalue(), corpus_file.name)
    except ValueError as exc:  # DatasetError / UploadError: messages are written for users
        st.error(literal(exc), icon=":material/error:")
        return None
    st.caption(f"{literal(corpus_file.name)} read as {corpus_encoding}, {literal(queries_file.name)} read as {queries_encoding}.")
    return dataset


def _describe(dataset: LabelledSet) -> LabelledSet:
    """The query limit, the set's figures and a preview; returns the set cut to the limit."""
    # A kept limit above this set's query count is reset to 0 (all) by the widget itself.
    limit = st.number_input("Evaluate only the first N queries (0 = all)", min_value=0,
                            max_value=len(dataset.queries), key=S.EVAL_MAX_QUERIES, persist_state="session",
                            help="A quick look on part of the queries; the corpus stays whole.")
    if limit:
        dataset = dataset.subset(int(limit))
    c1, c2, c3 = st.columns(3)
    c1.metric("Documents", len(dataset.documents))
    c2.metric("Queries", len(dataset.queries))
    c3.metric("Relevant per query", f"{dataset.relevant_per_query:.1f}")
    with st.expander("Preview the queries"):
        st.dataframe(pd.DataFrame(preview_rows(dataset)), hide_index=True, width="stretch")
    return dataset


def _model_dimension(ctx: PageContext) -> int | None:
    """The embedder's full size, from the sidebar's (cached) probe; None when unknown."""
    if ctx.settings.backend != "server":
        return ctx.embedder.dim  # local model: known without loading it
    result, _error = resources.probe(ctx.settings, ss[S.CONN_PROBE_NONCE])
    return result.dim if result else None


def _grid_form(ctx: PageContext, dataset: LabelledSet | None) -> GridChoices | None:
    """The grid's axes; the choices when "Run evaluation" was pressed, else None."""
    tasks = {NO_INSTRUCTION: "", **{i.name: i.task for i in ctx.library.all()}}
    full_dim = _model_dimension(ctx)
    with st.form("eval.form", border=True):
        a, b = st.columns(2)
        a.multiselect("Instructions", list(tasks), key=S.EVAL_INSTRUCTIONS, persist_state="session",
                      help="Queries are sent as `Instruct: {task}\\nQuery:{query}`; documents as they are.")
        b.text_input("Custom instruction (optional)", key=S.EVAL_CUSTOM, persist_state="session",
                     placeholder="Given a question about IT security policy, retrieve the passage that answers it")
        a, b, c = st.columns(3)
        a.multiselect("Truncate inputs to", list(TRUNCATIONS), key=S.EVAL_TRUNCATION, persist_state="session",
                      help="Every query, document or chunk is cut with the exact Qwen tokenizer.")
        b.multiselect("Dimensions (Matryoshka)", dimension_options(full_dim), key=S.EVAL_DIMENSIONS, persist_state="session",
                      help=f"Model size: {full_dim or 'unknown'}; smaller sizes are cut from the full vectors.")
        c.multiselect("Documents", list(DOCUMENT_MODES), key=S.EVAL_DOCUMENTS, persist_state="session")
        c.number_input("Chunk size (tokens)", min_value=32, max_value=8192, step=32, key=S.EVAL_CHUNK_TOKENS, persist_state="session")
        a, b = st.columns(2)
        a.multiselect("Retrieval mode", list(RETRIEVAL_MODES), key=S.EVAL_MODES, persist_state="session",
                      help="BM25 ranks the same document inputs by keywords (jieba for Chinese) and reads the bare "
                           "query: it embeds nothing and ignores instructions and dimensions. Hybrid fuses the dense "
                           "and BM25 top 100.")
        b.multiselect("Vector precision", list(PRECISION_CHOICES), key=S.EVAL_PRECISIONS, persist_state="session",
                      help="int8: per-dimension scalar quantisation; binary: sign bits scored by Hamming distance; "
                           f"rescore: the top {RESCORE_TOP} scored again with the float32 vectors.")
        if not st.form_submit_button("Run evaluation", type="primary", disabled=dataset is None):
            return None
    return GridChoices(
        instructions=tuple((name, tasks[name]) for name in ss[S.EVAL_INSTRUCTIONS]),
        custom=ss[S.EVAL_CUSTOM],
        truncations=tuple(ss[S.EVAL_TRUNCATION]),
        dimensions=tuple(ss[S.EVAL_DIMENSIONS]),
        documents=tuple(ss[S.EVAL_DOCUMENTS]),
        chunk_tokens=int(ss[S.EVAL_CHUNK_TOKENS]),
        modes=tuple(ss[S.EVAL_MODES]),
        precisions=tuple(ss[S.EVAL_PRECISIONS]),
    )


def _run(ctx: PageContext, dataset: LabelledSet, choices: GridChoices) -> None:
    """Plan, embed (through the cache) and score the grid; keeps the results for the fragment."""
    try:
        with st.spinner("Preparing inputs (formatting, truncating, chunking)..."):
            plan = plan_choices(dataset, choices)
    except GridError as exc:
        st.error(literal(exc), icon=":material/error:")
        return
    misses = ctx.embedder.cache.misses
    start = time.perf_counter()
    vectors = embed_with_progress(ctx, plan.texts, "Embedding queries and documents")
    if vectors is None:
        return
    ss[S.EVAL_RESULTS] = score_grid(plan, vectors, skip_oversized=True)
    ss[S.EVAL_DATASET] = dataset
    ss[S.EVAL_RUN_INFO] = RunInfo.of(plan, vectors.shape[1], ctx.embedder.model_id,
                                        new=ctx.embedder.cache.misses - misses,
                                        seconds=time.perf_counter() - start)
    # The fragment below has not drawn its widgets yet in this run: they can be reset.
    ss[S.EVAL_BASELINE] = 0
    ss[S.EVAL_COMPARE_A], ss[S.EVAL_COMPARE_B] = 0, max(len(ss[S.EVAL_RESULTS]) - 1, 0)
    ss[S.EVAL_CALIBRATIONS] = {}


@st.fragment
def _results(ctx: PageContext) -> None:
    """Tables, charts and downloads of the last run; the baseline and metric pickers rerun only this."""
    results: list[ConfigResult] = ss[S.EVAL_RESULTS]
    data: LabelledSet = ss[S.EVAL_DATASET]
    info: RunInfo = ss[S.EVAL_RUN_INFO]
    st.subheader("3 · Results")
    st.text(describe_set(data, info.model))
    st.caption(info.inputs_line)
    if info.skipped:
        st.warning(literal(info.skipped_line), icon=":material/warning:")
    if not results:
        return
    labels = [r.config.label for r in results]
    a, b = st.columns(2)
    S.keep_valid(S.EVAL_BASELINE, range(len(labels)), fallback=0)
    baseline = a.selectbox("Baseline", range(len(labels)), format_func=labels.__getitem__, key=S.EVAL_BASELINE, persist_state="session")
    metric = b.selectbox("Wins / losses / ties on", METRICS, key=S.EVAL_METRIC, persist_state="session")
    table = pd.DataFrame(results_table(results, baseline, metric))
    table = table[[*SIZE_COLUMNS, *(c for c in table.columns if c not in SIZE_COLUMNS)]]
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(table, hide_index=True, width="stretch", key="eval.table",
                 column_config={m: number for m in METRICS})
    st.caption(f"wins / losses / ties: queries whose {metric} is higher / lower / equal than under the baseline.")
    c1, c2 = st.columns(2)
    with c1:
        download_table(table, "evaluation-results", key="eval.dl_csv")
    # Made when clicked (the JSON holds every per-query score), like the other downloads.
    c2.download_button("Download JSON", lambda: results_json(results, data, info.model, baseline).encode("utf-8"),
                       file_name="evaluation-results.json", mime="application/json", key="eval.dl_json",
                       on_click="ignore")

    bars = figures.eval_metric_bars(table)
    st.plotly_chart(bars, key="eval.bars")
    download_figure(bars, "evaluation-metrics", key="eval.dl_bars")
    if sweeps_dimensions(results):
        line = figures.eval_dimension_line(table)
        st.plotly_chart(line, key="eval.dim_line")
        download_figure(line, "evaluation-dimensions", key="eval.dl_line")
    else:
        st.info("Choose two or more dimensions to see how nDCG@10 changes with the embedding size.",
                icon=":material/show_chart:")

    with st.expander(f"Per query: {metric}"):
        per_query = pd.DataFrame(per_query_table(results, data, metric))
        st.dataframe(per_query, hide_index=True, width="stretch", key="eval.per_query")
        download_table(per_query, f"evaluation-per-query-{metric}", key="eval.dl_per_query")
    with st.expander("Top documents for one query"):
        names = query_choices(data)
        S.keep_valid(S.EVAL_DETAIL_QUERY, list(names))
        qid = st.selectbox("Query", list(names), format_func=names.__getitem__, key=S.EVAL_DETAIL_QUERY, persist_state="session")
        st.dataframe(pd.DataFrame(top_documents_table(results, data, qid)), hide_index=True, width="stretch")
        st.caption("✓ relevant (grade ≥ 1), ✗ not judged relevant.")
    _compare(results, data)
    _calibrate(ctx, results, data, info)


def _compare(results: list[ConfigResult], data: LabelledSet) -> None:
    """Per query, the first relevant document's rank under A and under B, sorted by change."""
    st.subheader("Which queries changed: A vs B")
    if len(results) < 2:
        st.info("Run two or more configurations to compare them query by query.", icon=":material/compare_arrows:")
        return
    labels = [r.config.label for r in results]
    S.keep_valid(S.EVAL_COMPARE_A, range(len(labels)), fallback=0)
    S.keep_valid(S.EVAL_COMPARE_B, range(len(labels)), fallback=len(labels) - 1)
    a, b = st.columns(2)
    first = a.selectbox("A", range(len(labels)), format_func=labels.__getitem__, key=S.EVAL_COMPARE_A, persist_state="session")
    second = b.selectbox("B", range(len(labels)), format_func=labels.__getitem__, key=S.EVAL_COMPARE_B, persist_state="session")
    if first == second:
        st.info("Pick two different configurations.", icon=":material/compare_arrows:")
        return
    changes = compare_ranks(results[first], results[second], data)
    counts = rank_change_counts(changes)
    c1, c2, c3 = st.columns(3)
    c1.metric("Fixed by B", counts["fixed"], help="B ranks the first relevant document higher than A.")
    c2.metric("Broken by B", counts["broke"], help="B ranks it lower.")
    c3.metric("Same", counts["same"])
    st.caption("Rank of the first relevant document in each configuration's full ranking; >100: beyond 100 or not "
               "retrieved at all (BM25 finds no shared word). Sorted by change: B's biggest gains first.")
    rows = rank_change_table(changes)
    frame = pd.DataFrame(rows)
    frame[["rank A", "rank B"]] = frame[["rank A", "rank B"]].astype(str)  # ">100" beside numbers
    st.dataframe(frame, hide_index=True, width="stretch", key="eval.rank_changes")
    download_table(frame, "evaluation-rank-changes", key="eval.dl_rank_changes")
    fig = figures.rank_change_dumbbell(rows, labels[first], labels[second])
    st.plotly_chart(fig, key="eval.rank_fig")
    download_figure(fig, "evaluation-rank-changes", key="eval.dl_rank_fig")


def _calibration(ctx: PageContext, results: list[ConfigResult], data: LabelledSet,
                 index: int) -> Calibration | None:
    """The calibration of result `index`, computed once per run (its inputs come from the cache)."""
    done = ss[S.EVAL_CALIBRATIONS]
    if index not in done:
        plan = plan_grid(data, [results[index].config])
        vectors = embed_with_progress(ctx, plan.texts, "Similarities for calibration (from the cache)")
        if vectors is None:
            return None
        done[index] = calibrate_config(plan, vectors, 0)
    return done[index]


def _calibrate(ctx: PageContext, results: list[ConfigResult], data: LabelledSet, info: RunInfo) -> None:
    """The threshold calibration of one dense configuration and its "Apply to collection"."""
    st.subheader("Similarity threshold from the labelled pairs")
    dense = [i for i, r in enumerate(results) if r.config.mode == "dense"]
    if not dense:
        st.info("A threshold applies to dense similarities: include the dense mode in the run.",
                icon=":material/tune:")
        return
    if ctx.embedder.model_id != info.model:
        st.warning(f"These results come from {literal(info.model)}, but the connection now uses "
                   f"{literal(ctx.embedder.model_id)}: "
                   "run the evaluation again to calibrate a threshold for it.", icon=":material/warning:")
        return
    S.keep_valid(S.EVAL_CALIB_CONFIG, dense, fallback=dense[0])
    a, b = st.columns([3, 1])
    index = a.selectbox("Configuration", dense, format_func=lambda i: results[i].config.label,
                        key=S.EVAL_CALIB_CONFIG, persist_state="session")
    target = float(b.number_input("Precision wanted", min_value=0.05, max_value=1.0, step=0.05,
                                  key=S.EVAL_CALIB_PRECISION, persist_state="session",
                                  help="Suggests the lowest threshold whose precision reaches it."))
    found = _calibration(ctx, results, data, index)
    if found is None:
        return
    found = replace(found, target_precision=target, at_precision=for_precision(found.curve, target))
    suggested = {"best F1": found.best.threshold}
    if found.at_precision is not None:
        suggested[f"precision ≥ {target:.2f}"] = found.at_precision.threshold
    st.caption(f"{found.relevant.size:,} relevant and {found.non_relevant.size:,} non-relevant (query, document) "
               "pairs; a threshold keeps the pairs whose cosine similarity is at least that value.")
    points = [("best F1", found.best), (f"precision ≥ {target:.2f}", found.at_precision)]
    numbers = pd.DataFrame([
        {"suggestion": name, "threshold": None if p is None else round(p.threshold, 4),
         "precision": None if p is None else round(p.precision, 4), "recall": None if p is None else round(p.recall, 4),
         "F1": None if p is None else round(p.f1, 4), "pairs kept": None if p is None else p.kept}
        for name, p in points])
    st.dataframe(numbers, hide_index=True, key="eval.calib_table")
    if found.at_precision is None:
        st.caption(f"No threshold reaches a precision of {target:.2f} on this set.")
    c1, c2 = st.columns(2)
    with c1:
        download_table(numbers, "threshold-suggestions", key="eval.dl_calib")
    with c2:
        download_table(found.curve, "threshold-curve", key="eval.dl_curve", label="Download the curve (CSV)")
    left, right = st.columns(2)
    with left:
        dist = figures.similarity_distributions(found.relevant, found.non_relevant, suggested)
        st.plotly_chart(dist, key="eval.calib_dist")
        download_figure(dist, "similarity-distributions", key="eval.dl_calib_dist")
    with right:
        curve = figures.threshold_metrics(found.curve, suggested)
        st.plotly_chart(curve, key="eval.calib_curve")
        download_figure(curve, "threshold-metrics", key="eval.dl_calib_curve")
    _apply(ctx, suggested, info.model)


def _apply(ctx: PageContext, suggested: dict[str, float], model: str) -> None:
    """Set a Search collection's threshold to one of the suggestions."""
    st.markdown("**Apply to a Search collection**")
    try:
        infos = [i for i in ctx.store.list() if i.spec is not None]
    except StoreError as exc:
        show_error(exc)
        return
    if not infos:
        st.info("No Search collection exists yet: create one on the Search page, then apply the threshold here.",
                icon=":material/database:")
        return
    by_name = {i.name: i.spec for i in infos}
    S.keep_valid(S.EVAL_APPLY_COLLECTION, list(by_name))
    S.keep_valid(S.EVAL_APPLY_WHICH, list(suggested), fallback="best F1")
    a, b = st.columns(2)
    name = a.selectbox("Collection", list(by_name), key=S.EVAL_APPLY_COLLECTION, persist_state="session")
    which = b.radio("Threshold", list(suggested), key=S.EVAL_APPLY_WHICH, persist_state="session", horizontal=True,
                    format_func=lambda k: f"{k}: {suggested[k]:.4f}")
    spec = by_name[name]
    if spec.model_id != model_name(model):
        st.warning(f"{literal(name)} holds vectors of {literal(spec.model_id)}; these similarities come from "
                   f"{literal(model_name(model))}. A threshold does not carry over between models.",
                   icon=":material/warning:")
    if st.button("Apply to collection", key="eval.apply_threshold", type="primary"):
        try:
            spec = ctx.store.update(name, threshold=float(suggested[which]), threshold_source=CALIBRATED,
                                    threshold_note=which)
        except StoreError as exc:
            show_error(exc)
            return
        st.success(f"The similarity threshold of {literal(name)} is now {spec.threshold:.4f} ({which}).",
                   icon=":material/check_circle:")
    else:
        st.caption(f"Threshold of {literal(name)} now: {spec.threshold:.4f}.")
