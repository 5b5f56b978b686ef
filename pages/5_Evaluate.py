"""Evaluate: measure Recall@k, MRR@10 and nDCG@10 per instruction, input length, dimension and chunking."""

import time

import pandas as pd
import streamlit as st

from components import page, resources
from components import state as S
from components.instruction_picker import NO_INSTRUCTION, current_library
from components.widgets import download_figure, download_table, embed_with_progress
from embedlab import evaluation as ev
from embedlab import figures

MAX_CONFIGS = 48  # one click should stay affordable and the charts readable
MAX_TEXTS = 20_000  # distinct model inputs per run
TRUNCATIONS = {"full": None, "2048 tokens": 2048, "512 tokens": 512}
DOCUMENT_MODES = {"whole documents": False, "chunked (max-sim over chunks)": True}
ss = st.session_state

embedder = page.setup("Evaluate", "📏")
st.title("Evaluate retrieval quality")
st.caption(
    "Pick a labelled set (a corpus and queries with their relevant documents), choose the set-ups to "
    "compare, and get Recall@1/5/10, MRR@10 and nDCG@10 as MTEB defines them (nDCG@10 is MTEB's main "
    "retrieval score). Everything is embedded once at full size through the cache; smaller Matryoshka "
    "sizes are cut from those vectors, so re-running a grid only embeds what is new."
)


@st.cache_data(max_entries=4, show_spinner=False)
def load_upload(corpus: bytes, queries: bytes, name: str) -> ev.LabelledSet:
    return ev.load_labelled_set(corpus, queries, name)


@st.cache_data(max_entries=4, show_spinner=False)
def load_bundled(name: str) -> ev.LabelledSet:
    return ev.load_bundled(name)


def model_dimension() -> int | None:
    """The embedder's full size, from the sidebar's (cached) probe; None when unknown."""
    settings = resources.current_settings()
    if settings.backend != "server":
        return embedder.dim  # local model: known without loading it
    result, _error = resources.probe(settings, ss[S.CONN_PROBE_NONCE])
    return result.dim if result else None


# --- 1. the labelled set ---------------------------------------------------------------------------
st.subheader("1 · Labelled set")
source = st.radio("Source", ["Bundled set", "Upload my own"], horizontal=True, key="eval.w.source")
dataset: ev.LabelledSet | None = None
if source == "Bundled set":
    name = st.selectbox("Bundled set", list(ev.BUNDLED), key="eval.w.bundled")
    dataset = load_bundled(name)
else:
    left, right = st.columns(2)
    corpus_file = left.file_uploader("Corpus (JSONL)", type=["jsonl", "json", "txt"], key="eval.w.corpus_file",
                                     help='One document per line: {"id": "d1", "text": "..."}')
    queries_file = right.file_uploader(
        "Queries (JSONL)", type=["jsonl", "json", "txt"], key="eval.w.queries_file",
        help='One query per line: {"id": "q1", "text": "...", "relevant": ["d1", "d7"]} or, graded, '
             '{"relevant": {"d1": 2, "d7": 1}} (grade >= 1 is relevant).',
    )
    if corpus_file is None or queries_file is None:
        st.info("Upload both files to evaluate your own data.", icon=":material/upload_file:")
    else:
        try:
            dataset = load_upload(corpus_file.getvalue(), queries_file.getvalue(), corpus_file.name)
        except ValueError as exc:  # DatasetError / UploadError: messages are written for users
            st.error(str(exc), icon=":material/error:")

if dataset is not None:
    limit = st.number_input(
        "Evaluate only the first N queries (0 = all)", min_value=0, max_value=len(dataset.queries), value=0,
        key="eval.w.max_queries", help="A quick look on part of the queries; the corpus stays whole.",
    )
    if limit:
        dataset = dataset.subset(int(limit))
    n_rel = sum(sum(g >= 1 for g in q.relevant.values()) for q in dataset.queries)
    c1, c2, c3 = st.columns(3)
    c1.metric("Documents", len(dataset.documents))
    c2.metric("Queries", len(dataset.queries))
    c3.metric("Relevant per query", f"{n_rel / len(dataset.queries):.1f}")
    with st.expander("Preview the queries"):
        st.dataframe(
            pd.DataFrame([{"id": q.id, "query": q.text, "relevant": ", ".join(f"{d} ({g})" for d, g in q.relevant.items())}
                          for q in dataset.queries]),
            hide_index=True, width="stretch",
        )

# --- 2. the grid -----------------------------------------------------------------------------------
st.subheader("2 · Configurations")
library = {i.name: i for i in current_library().all()}
full_dim = model_dimension()
dim_options = ["full", *(str(d) for d in ev.usable_dimensions(full_dim or 10**9) if d)]
default_instr = [n for n in (NO_INSTRUCTION, "IT security policy") if n == NO_INSTRUCTION or n in library]
with st.form("eval.w.form", border=True):
    a, b = st.columns(2)
    chosen_instr = a.multiselect("Instructions", [NO_INSTRUCTION, *library], default=default_instr,
                                 key="eval.w.instructions",
                                 help="Queries are sent as `Instruct: {task}\\nQuery:{query}`; documents as they are.")
    custom = b.text_input("Custom instruction (optional)", key="eval.w.custom",
                          placeholder="Given a question about IT security policy, retrieve the passage that answers it")
    a, b, c = st.columns(3)
    chosen_trunc = a.multiselect("Truncate inputs to", list(TRUNCATIONS), default=["full"], key="eval.w.truncation",
                                 help="Every query, document or chunk is cut with the exact Qwen tokenizer.")
    chosen_dims = b.multiselect("Dimensions (Matryoshka)", dim_options, default=["full"], key="eval.w.dimensions",
                                help=f"Model size: {full_dim or 'unknown'}; smaller sizes are cut from the full vectors.")
    chosen_docs = c.multiselect("Documents", list(DOCUMENT_MODES), default=["whole documents"], key="eval.w.documents")
    chunk_tokens = c.number_input("Chunk size (tokens)", min_value=32, max_value=8192, value=ev.DEFAULT_CHUNK_TOKENS,
                                  step=32, key="eval.w.chunk_tokens")
    run = st.form_submit_button("Run evaluation", type="primary", disabled=dataset is None)

if run and dataset is not None:
    instructions = [("none", "") if n == NO_INSTRUCTION else (n, library[n].task) for n in chosen_instr]
    if custom.strip():
        instructions.append(("custom", custom.strip()))
    configs = ev.make_grid(
        instructions,
        [TRUNCATIONS[t] for t in chosen_trunc],
        [None if d == "full" else int(d) for d in chosen_dims],
        [DOCUMENT_MODES[m] for m in chosen_docs],
        int(chunk_tokens),
    )
    if not configs:
        st.error("Choose at least one value on every axis (instruction, truncation, dimensions, documents).")
    elif len(configs) > MAX_CONFIGS:
        st.error(f"{len(configs)} configurations is too many for one run; choose at most {MAX_CONFIGS}.")
    else:
        try:
            with st.spinner("Preparing inputs (formatting, truncating, chunking)..."):
                plan = ev.plan_grid(dataset, configs)
        except ValueError as exc:
            st.error(f"Could not prepare the inputs: {exc}")
            plan = None
        if plan is not None and len(plan.texts) > MAX_TEXTS:
            st.error(f"This grid needs {len(plan.texts):,} distinct inputs; at most {MAX_TEXTS:,} per run.")
        elif plan is not None:
            misses = embedder.cache.misses
            start = time.perf_counter()
            vectors = embed_with_progress(embedder, plan.texts, "Embedding queries and documents")
            if vectors is not None:
                skipped = ev.oversized(configs, vectors.shape[1])
                ss[S.EVAL_RESULTS] = ev.score_grid(plan, vectors, skip_oversized=True)
                ss[S.EVAL_DATASET] = dataset
                ss[S.EVAL_RUN_INFO] = {
                    "model": embedder.model_id, "texts": len(plan.texts), "new": embedder.cache.misses - misses,
                    "seconds": time.perf_counter() - start, "skipped": [c.label for c in skipped],
                }
                ss["eval.w.baseline"] = 0


# --- 3. results ------------------------------------------------------------------------------------
@st.fragment
def show_results() -> None:
    results: list[ev.ConfigResult] = ss[S.EVAL_RESULTS]
    data: ev.LabelledSet = ss[S.EVAL_DATASET]
    info = ss[S.EVAL_RUN_INFO]
    st.subheader("3 · Results")
    st.text(f"Set: {data.name} · {len(data.documents)} documents · {len(data.queries)} queries · "
            f"model {info['model']}")
    st.caption(f"{info['texts']:,} distinct inputs: {info['new']:,} embedded now, "
               f"{info['texts'] - info['new']:,} from the cache · {info['seconds']:.1f} s")
    if info["skipped"]:
        st.warning(f"Skipped {len(info['skipped'])} configuration(s) asking for more dimensions than the "
                   "model gives: " + "; ".join(info["skipped"]), icon=":material/warning:")
    if not results:
        return
    labels = [r.config.label for r in results]
    a, b = st.columns(2)
    if ss.get("eval.w.baseline", 0) >= len(labels):
        ss["eval.w.baseline"] = 0
    baseline = a.selectbox("Baseline", range(len(labels)), format_func=labels.__getitem__, key="eval.w.baseline")
    metric = b.selectbox("Wins / losses / ties on", ev.METRICS, index=ev.METRICS.index(ev.MAIN_METRIC),
                         key="eval.w.metric")
    table = pd.DataFrame(ev.results_table(results, baseline, metric))
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(table, hide_index=True, width="stretch", key="eval.table",
                 column_config={m: number for m in ev.METRICS})
    st.caption(f"wins / losses / ties: queries whose {metric} is higher / lower / equal than under the baseline.")
    c1, c2 = st.columns(2)
    with c1:
        download_table(table, "evaluation-results", key="eval.dl_csv")
    c2.download_button("Download JSON", ev.results_json(results, data, info["model"], baseline).encode("utf-8"),
                       file_name="evaluation-results.json", mime="application/json", key="eval.dl_json")

    bars = figures.eval_metric_bars(table)
    st.plotly_chart(bars, key="eval.bars")
    download_figure(bars, "evaluation-metrics", key="eval.dl_bars")
    if table.groupby(["instruction", "max_tokens", "documents"])["dimensions"].nunique().max() > 1:
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
        qids = [q.id for q in data.queries]
        texts = {q.id: q.text for q in data.queries}
        qid = st.selectbox("Query", qids, format_func=lambda i: f"{i} · {texts[i][:80]}", key="eval.w.detail_query")
        st.dataframe(pd.DataFrame(ev.top_documents_table(results, data, qid)), hide_index=True, width="stretch")
        st.caption("✓ relevant (grade ≥ 1), ✗ not judged relevant.")


if ss[S.EVAL_DATASET] is not None:
    show_results()
