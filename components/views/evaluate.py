"""Evaluate page: Recall@k, MRR@10 and nDCG@10 of a grid of set-ups on a labelled set."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from components import resources
from components import state as S
from components.instruction_picker import NO_INSTRUCTION
from components.page import PageContext
from components.widgets import download_figure, download_table, embed_with_progress
from embedlab import evaluation as ev
from embedlab import figures

ss = st.session_state


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
        _results()


@st.cache_data(max_entries=4, show_spinner=False)
def _load_upload(corpus: bytes, queries: bytes, name: str) -> ev.LabelledSet:
    return ev.load_labelled_set(corpus, queries, name)


@st.cache_data(max_entries=4, show_spinner=False)
def _load_bundled(name: str) -> ev.LabelledSet:
    return ev.load_bundled(name)


def _labelled_set() -> ev.LabelledSet | None:
    """A bundled set, or the two uploaded files; None (with the reason shown) when there is none."""
    source = st.radio("Source", ["Bundled set", "Upload my own"], horizontal=True, key=S.EVAL_SOURCE)
    if source == "Bundled set":
        return _load_bundled(st.selectbox("Bundled set", list(ev.BUNDLED), key=S.EVAL_BUNDLED))
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
        return _load_upload(corpus_file.getvalue(), queries_file.getvalue(), corpus_file.name)
    except ValueError as exc:  # DatasetError / UploadError: messages are written for users
        st.error(str(exc), icon=":material/error:")
        return None


def _describe(dataset: ev.LabelledSet) -> ev.LabelledSet:
    """The query limit, the set's figures and a preview; returns the set cut to the limit."""
    # A kept limit above this set's query count is reset to 0 (all) by the widget itself.
    limit = st.number_input("Evaluate only the first N queries (0 = all)", min_value=0,
                            max_value=len(dataset.queries), key=S.EVAL_MAX_QUERIES,
                            help="A quick look on part of the queries; the corpus stays whole.")
    if limit:
        dataset = dataset.subset(int(limit))
    c1, c2, c3 = st.columns(3)
    c1.metric("Documents", len(dataset.documents))
    c2.metric("Queries", len(dataset.queries))
    c3.metric("Relevant per query", f"{dataset.relevant_per_query:.1f}")
    with st.expander("Preview the queries"):
        st.dataframe(pd.DataFrame(ev.preview_rows(dataset)), hide_index=True, width="stretch")
    return dataset


def _model_dimension(ctx: PageContext) -> int | None:
    """The embedder's full size, from the sidebar's (cached) probe; None when unknown."""
    if ctx.settings.backend != "server":
        return ctx.embedder.dim  # local model: known without loading it
    result, _error = resources.probe(ctx.settings, ss[S.CONN_PROBE_NONCE])
    return result.dim if result else None


def _grid_form(ctx: PageContext, dataset: ev.LabelledSet | None) -> ev.GridChoices | None:
    """The grid's axes; the choices when "Run evaluation" was pressed, else None."""
    tasks = {NO_INSTRUCTION: "", **{i.name: i.task for i in ctx.library.all()}}
    full_dim = _model_dimension(ctx)
    with st.form("eval.form", border=True):
        a, b = st.columns(2)
        a.multiselect("Instructions", list(tasks), key=S.EVAL_INSTRUCTIONS,
                      help="Queries are sent as `Instruct: {task}\\nQuery:{query}`; documents as they are.")
        b.text_input("Custom instruction (optional)", key=S.EVAL_CUSTOM,
                     placeholder="Given a question about IT security policy, retrieve the passage that answers it")
        a, b, c = st.columns(3)
        a.multiselect("Truncate inputs to", list(ev.TRUNCATIONS), key=S.EVAL_TRUNCATION,
                      help="Every query, document or chunk is cut with the exact Qwen tokenizer.")
        b.multiselect("Dimensions (Matryoshka)", ev.dimension_options(full_dim), key=S.EVAL_DIMENSIONS,
                      help=f"Model size: {full_dim or 'unknown'}; smaller sizes are cut from the full vectors.")
        c.multiselect("Documents", list(ev.DOCUMENT_MODES), key=S.EVAL_DOCUMENTS)
        c.number_input("Chunk size (tokens)", min_value=32, max_value=8192, step=32, key=S.EVAL_CHUNK_TOKENS)
        if not st.form_submit_button("Run evaluation", type="primary", disabled=dataset is None):
            return None
    return ev.GridChoices(
        instructions=tuple((name, tasks[name]) for name in ss[S.EVAL_INSTRUCTIONS]),
        custom=ss[S.EVAL_CUSTOM],
        truncations=tuple(ss[S.EVAL_TRUNCATION]),
        dimensions=tuple(ss[S.EVAL_DIMENSIONS]),
        documents=tuple(ss[S.EVAL_DOCUMENTS]),
        chunk_tokens=int(ss[S.EVAL_CHUNK_TOKENS]),
    )


def _run(ctx: PageContext, dataset: ev.LabelledSet, choices: ev.GridChoices) -> None:
    """Plan, embed (through the cache) and score the grid; keeps the results for the fragment."""
    try:
        with st.spinner("Preparing inputs (formatting, truncating, chunking)..."):
            plan = ev.plan_choices(dataset, choices)
    except ev.GridError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    misses = ctx.embedder.cache.misses
    start = time.perf_counter()
    vectors = embed_with_progress(ctx, plan.texts, "Embedding queries and documents")
    if vectors is None:
        return
    ss[S.EVAL_RESULTS] = ev.score_grid(plan, vectors, skip_oversized=True)
    ss[S.EVAL_DATASET] = dataset
    ss[S.EVAL_RUN_INFO] = ev.RunInfo.of(plan, vectors.shape[1], ctx.embedder.model_id,
                                        new=ctx.embedder.cache.misses - misses,
                                        seconds=time.perf_counter() - start)
    ss[S.EVAL_BASELINE] = 0  # the fragment below has not drawn its widgets yet in this run


@S.fragment
def _results() -> None:
    """Tables, charts and downloads of the last run; the baseline and metric pickers rerun only this."""
    results: list[ev.ConfigResult] = ss[S.EVAL_RESULTS]
    data: ev.LabelledSet = ss[S.EVAL_DATASET]
    info: ev.RunInfo = ss[S.EVAL_RUN_INFO]
    st.subheader("3 · Results")
    st.text(ev.describe_set(data, info.model))
    st.caption(info.inputs_line)
    if info.skipped:
        st.warning(info.skipped_line, icon=":material/warning:")
    if not results:
        return
    labels = [r.config.label for r in results]
    a, b = st.columns(2)
    S.keep_valid(S.EVAL_BASELINE, range(len(labels)), fallback=0)
    baseline = a.selectbox("Baseline", range(len(labels)), format_func=labels.__getitem__, key=S.EVAL_BASELINE)
    metric = b.selectbox("Wins / losses / ties on", ev.METRICS, key=S.EVAL_METRIC)
    table = pd.DataFrame(ev.results_table(results, baseline, metric))
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(table, hide_index=True, width="stretch", key="eval.table",
                 column_config={m: number for m in ev.METRICS})
    st.caption(f"wins / losses / ties: queries whose {metric} is higher / lower / equal than under the baseline.")
    c1, c2 = st.columns(2)
    with c1:
        download_table(table, "evaluation-results", key="eval.dl_csv")
    # Made when clicked (the JSON holds every per-query score), like the other downloads.
    c2.download_button("Download JSON", lambda: ev.results_json(results, data, info.model, baseline).encode("utf-8"),
                       file_name="evaluation-results.json", mime="application/json", key="eval.dl_json",
                       on_click="ignore")

    bars = figures.eval_metric_bars(table)
    st.plotly_chart(bars, key="eval.bars")
    download_figure(bars, "evaluation-metrics", key="eval.dl_bars")
    if ev.sweeps_dimensions(results):
        line = figures.eval_dimension_line(table)
        st.plotly_chart(line, key="eval.dim_line")
        download_figure(line, "evaluation-dimensions", key="eval.dl_line")
    else:
        st.info("Choose two or more dimensions to see how nDCG@10 changes with the embedding size.",
                icon=":material/show_chart:")

    with st.expander(f"Per query: {metric}"):
        per_query = pd.DataFrame(ev.per_query_table(results, data, metric))
        st.dataframe(per_query, hide_index=True, width="stretch", key="eval.per_query")
        download_table(per_query, f"evaluation-per-query-{metric}", key="eval.dl_per_query")
    with st.expander("Top documents for one query"):
        names = ev.query_choices(data)
        S.keep_valid(S.EVAL_DETAIL_QUERY, list(names))
        qid = st.selectbox("Query", list(names), format_func=names.__getitem__, key=S.EVAL_DETAIL_QUERY)
        st.dataframe(pd.DataFrame(ev.top_documents_table(results, data, qid)), hide_index=True, width="stretch")
        st.caption("✓ relevant (grade ≥ 1), ✗ not judged relevant.")
