"""Evaluate page: Recall@k, MRR@10 and nDCG@10 of a grid of set-ups on a labelled set; per-query
comparison of two set-ups; a similarity threshold calibrated on the set and applied to a collection."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pandas as pd
import streamlit as st

from components import resources
from components import state as S
from components.i18n import _, bound_gettext, tr
from components.instruction_picker import NO_INSTRUCTION
from components.page import PageContext
from components.widgets import (
    download_figure,
    download_table,
    embed_with_progress,
    error_text,
    literal,
    show_error,
)
from embedlab import figures
from embedlab.evaluation.calibration import Calibration, calibrate_config, for_precision, matching_collection
from embedlab.evaluation.datasets import BUNDLED, LabelledSet, load_bundled, load_labelled_set
from embedlab.evaluation.form import (
    DOCUMENT_MODES,
    PRECISION_CHOICES,
    RETRIEVAL_MODES,
    TRUNCATIONS,
    GridChoices,
    GridError,
    RunInfo,
    choice_label,
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
    TEST_COLUMNS,
    compare_ranks,
    per_query_table,
    rank_change_counts,
    rank_change_table,
    results_json,
    results_table,
    top_documents_table,
)
from embedlab.evaluation.verdict import Verdict, query_scores, tests_against, verdict
from embedlab.figures.evaluation import config_colour
from embedlab.instructions import PRESETS
from embedlab.messages import N_
from embedlab.served import with_models
from embedlab.significance import CONFIDENCE, PairedTest
from embedlab.stores.base import CALIBRATED, StoreError, model_name
from embedlab.textio import decode_bytes

ss = st.session_state
# The results table's first columns: nDCG@10, the test against the baseline and wins / losses / ties
# (visible without scrolling), then the other metrics, then what a configuration costs.
FRONT_COLUMNS = ["configuration", MAIN_METRIC, "wins", "losses", "ties", *TEST_COLUMNS]
SIZE_COLUMNS = ["mode", "precision", "dimensions", "bytes per vector", "1M vectors (GB)"]
# Column headers and cell values of the tables as shown (exports keep the English keys).
HEADERS = {
    "configuration": N_("configuration"), "wins": N_("wins"), "losses": N_("losses"), "ties": N_("ties"),
    TEST_COLUMNS[0]: N_("Δ {metric} vs baseline"), TEST_COLUMNS[1]: N_("{level} CI low"),
    TEST_COLUMNS[2]: N_("{level} CI high"), TEST_COLUMNS[3]: N_("p-value"), "mode": N_("mode"),
    "precision": N_("precision"), "dimensions": N_("dimensions"), "bytes per vector": N_("bytes per vector"),
    "1M vectors (GB)": N_("1M vectors (GB)"), "baseline": N_("baseline"), "instruction": N_("instruction"),
    "max_tokens": N_("max tokens"), "documents": N_("documents"), "instruction_text": N_("instruction text"),
    "query id": N_("query id"), "query": N_("query"), "rank": N_("rank"), "rank A": N_("rank A"),
    "rank B": N_("rank B"), "change": N_("change"), "result": N_("result"), "suggestion": N_("suggestion"),
    "threshold": N_("threshold"), "recall": N_("recall"), "pairs kept": N_("pairs kept"), "id": N_("id"),
    "relevant": N_("relevant"),
}
VALUES = {"none": N_("none"), "custom": N_("custom"), "full": N_("full"), "whole": N_("whole"), "n/a": N_("n/a"),
          "dense": N_("dense"), "fixed": N_("fixed"), "broke": N_("broke"), "same": N_("same"),
          "best F1": N_("best F1")}
INSTRUCTION_NAMES = {NO_INSTRUCTION: N_("(no instruction)"), **{p.name: p.name for p in PRESETS}}
SOURCES = {"Bundled set": N_("Bundled set"), "Upload my own": N_("Upload my own")}
GLOSSARY = (
    ("Recall@k", N_("The share of a query's relevant documents found among the first k results (here k = 1, 5, 10), "
                    "averaged over queries.")),
    ("MRR@10", N_("Mean reciprocal rank: 1 / the rank of the first relevant document (0 when it is not in the "
                  "top 10), averaged over queries. It rewards putting one good answer first.")),
    ("nDCG@10", N_("Normalised discounted cumulative gain over the top 10: relevant documents count more the "
                   "higher they rank (and the higher their grade), divided by the best possible ranking's score. "
                   "1.0 is a perfect ranking; MTEB's main retrieval score.")),
    ("ARI", N_("Adjusted Rand index (Clusters page): how well clusters agree with given labels, corrected for "
               "chance. 1 is the same grouping, about 0 is chance, below 0 is worse than chance.")),
    ("NMI", N_("Normalised mutual information (Clusters page): how much knowing the cluster tells about the label, "
               "from 0 (nothing) to 1 (everything).")),
    (N_("silhouette"), N_("Silhouette (Clusters page): per text, how much closer it is to its own cluster than to "
                          "the nearest other one, from -1 to 1; higher means tighter, better separated clusters.")),
)


def _header(column: str) -> str:
    """A table column's header in the session's language."""
    if column in TEST_COLUMNS:
        return _(HEADERS[column]).format(metric=MAIN_METRIC, level=f"{CONFIDENCE:.0%}")
    return _(HEADERS[column]) if column in HEADERS else column


def _shown(frame: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """`frame` as shown: translated headers, and configuration labels (English -> shown) as column names."""
    return frame.rename(columns=lambda c: (labels or {}).get(c) or _header(c))



def _instruction_name(name: str, gettext: Callable[[str], str] = _) -> str:
    """A picker name as shown: the presets' names and "(no instruction)" translated, the user's own as typed."""
    return gettext(INSTRUCTION_NAMES[name]) if name in INSTRUCTION_NAMES else name


def _value(value: object) -> object:
    """A table cell as shown: the few English words of the settings columns translated."""
    if isinstance(value, str):
        if value in VALUES:
            return _(VALUES[value])
        if value in INSTRUCTION_NAMES:
            return _instruction_name(value)
        if value.startswith("chunks of ") and value.endswith(" tokens"):
            return _("chunks of {n} tokens").format(n=value[len("chunks of "):-len(" tokens")])
    return value


def render(ctx: PageContext) -> None:
    st.title(_("Evaluate retrieval quality"))
    st.caption(_(
        "Pick a labelled set (a corpus and queries with their relevant documents), choose the set-ups to "
        "compare, and get Recall@1/5/10, MRR@10 and nDCG@10 as MTEB defines them (nDCG@10 is MTEB's main "
        "retrieval score). Everything is embedded once at full size through the cache; smaller Matryoshka "
        "sizes are cut from those vectors, so re-running a grid only embeds what is new."
    ))
    _glossary()
    st.subheader(_("1 · Labelled set"))
    dataset = _labelled_set()
    if dataset is not None:
        dataset = _describe(dataset)
    st.subheader(_("2 · Configurations"))
    choices = _grid_form(ctx, dataset)
    if choices is not None and dataset is not None:
        _run(ctx, dataset, choices)
    if ss[S.EVAL_DATASET] is not None:
        _results(ctx)


def _glossary() -> None:
    """What the metrics of this page (and of Clusters) mean, in the session's language."""
    with st.expander(_("Glossary: Recall@k, MRR, nDCG@10, ARI, NMI, silhouette")):
        st.markdown("\n".join(f"- **{_(term)}**: {_(text)}" for term, text in GLOSSARY))


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
    shown = bound_gettext()
    source = st.radio(_("Source"), list(SOURCES), horizontal=True, key=S.EVAL_SOURCE, persist_state="session",
                      format_func=lambda k: shown(SOURCES[k]))
    if source == "Bundled set":
        return _load_bundled(st.selectbox(_("Bundled set"), list(BUNDLED), key=S.EVAL_BUNDLED,
                                          persist_state="session", format_func=shown))
    left, right = st.columns(2)
    corpus_file = left.file_uploader(_("Corpus (JSONL)"), type=["jsonl", "json", "txt"], key="eval.corpus_file",
                                     help=_('One document per line: {"id": "d1", "text": "..."}'))
    queries_file = right.file_uploader(
        _("Queries (JSONL)"), type=["jsonl", "json", "txt"], key="eval.queries_file",
        help=_('One query per line: {"id": "q1", "text": "...", "relevant": ["d1", "d7"]} or, graded, '
               '{"relevant": {"d1": 2, "d7": 1}} (grade >= 1 is relevant).'),
    )
    if corpus_file is None or queries_file is None:
        st.info(_("Upload both files to evaluate your own data."), icon=":material/upload_file:")
        return None
    try:
        dataset, (corpus_encoding, queries_encoding) = _load_upload(
            corpus_file.getvalue(), queries_file.getvalue(), corpus_file.name)
    except ValueError as exc:  # DatasetError / UploadError: messages are written for users
        st.error(literal(error_text(exc)), icon=":material/error:")
        return None
    st.caption(_("{corpus} read as {corpus_encoding}, {queries} read as {queries_encoding}.").format(
        corpus=literal(corpus_file.name), corpus_encoding=corpus_encoding,
        queries=literal(queries_file.name), queries_encoding=queries_encoding))
    return dataset


def _describe(dataset: LabelledSet) -> LabelledSet:
    """The query limit, the set's figures and a preview; returns the set cut to the limit."""
    # A kept limit above this set's query count is reset to 0 (all) by the widget itself.
    limit = st.number_input(_("Evaluate only the first N queries (0 = all)"), min_value=0,
                            max_value=len(dataset.queries), key=S.EVAL_MAX_QUERIES, persist_state="session",
                            help=_("A quick look on part of the queries; the corpus stays whole."))
    if limit:
        dataset = dataset.subset(int(limit))
    c1, c2, c3 = st.columns(3)
    c1.metric(_("Documents"), len(dataset.documents))
    c2.metric(_("Queries"), len(dataset.queries))
    c3.metric(_("Relevant per query"), f"{dataset.relevant_per_query:.1f}")
    with st.expander(_("Preview the queries")):
        st.dataframe(_shown(pd.DataFrame(preview_rows(dataset))), hide_index=True, width="stretch")
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

    shown = bound_gettext()

    def chosen(key: str) -> str:
        return choice_label(key, shown)

    with st.form("eval.form", border=True):
        # The instructions take a whole row: in half of it, their chips were cut at 1440 px.
        # "Task instructions", not "Instructions": that msgid is the Instruction Lab's menu title.
        st.multiselect(_("Task instructions"), list(tasks), key=S.EVAL_INSTRUCTIONS, persist_state="session",
                       format_func=lambda name: _instruction_name(name, shown),
                       help=_("Queries are sent as `Instruct: {task}\\nQuery:{query}`; documents as they are."))
        st.text_input(_("Custom instruction (optional)"), key=S.EVAL_CUSTOM, persist_state="session",
                      placeholder=_("Given a question about IT security policy, retrieve the passage that answers it"))
        a, b, c = st.columns(3)
        a.multiselect(_("Truncate inputs to"), list(TRUNCATIONS), key=S.EVAL_TRUNCATION, persist_state="session",
                      format_func=chosen, help=_("Every query, document or chunk is cut with the exact Qwen tokenizer."))
        b.multiselect(_("Dimensions (Matryoshka)"), dimension_options(full_dim), key=S.EVAL_DIMENSIONS,
                      persist_state="session", format_func=chosen,
                      help=_("Model size: {size}; smaller sizes are cut from the full vectors.").format(
                          size=full_dim or _("unknown")))
        c.multiselect(_("Documents"), list(DOCUMENT_MODES), key=S.EVAL_DOCUMENTS, persist_state="session",
                      format_func=chosen)
        c.number_input(_("Chunk size (tokens)"), min_value=32, max_value=8192, step=32, key=S.EVAL_CHUNK_TOKENS,
                       persist_state="session")
        a, b = st.columns(2)
        a.multiselect(_("Retrieval mode"), list(RETRIEVAL_MODES), key=S.EVAL_MODES, persist_state="session",
                      format_func=chosen,
                      help=_("BM25 ranks the same document inputs by keywords (jieba for Chinese) and reads the bare "
                             "query: it embeds nothing and ignores instructions and dimensions. Hybrid fuses the "
                             "dense and BM25 top 100."))
        b.multiselect(_("Vector precision"), list(PRECISION_CHOICES), key=S.EVAL_PRECISIONS, persist_state="session",
                      format_func=chosen,
                      help=_("int8: per-dimension scalar quantisation; binary: sign bits scored by Hamming distance; "
                             "rescore: the top {n} scored again with the float32 vectors.").format(n=RESCORE_TOP))
        if not st.form_submit_button(_("Run evaluation"), type="primary", disabled=dataset is None):
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
        with st.spinner(_("Preparing inputs (formatting, truncating, chunking)...")):
            plan = plan_choices(dataset, choices)
    except GridError as exc:
        st.error(literal(error_text(exc)), icon=":material/error:")
        return
    misses = ctx.embedder.cache.misses
    start = time.perf_counter()
    vectors = embed_with_progress(ctx, plan.texts, _("Embedding queries and documents"))
    if vectors is None:
        return
    ss[S.EVAL_RESULTS] = score_grid(plan, vectors, skip_oversized=True)
    ss[S.EVAL_DATASET] = dataset
    ss[S.EVAL_RUN_INFO] = RunInfo.of(plan, vectors.shape[1], ctx.embedder.model_id,
                                        new=ctx.embedder.cache.misses - misses,
                                        seconds=time.perf_counter() - start, served_model=ctx.embedder.served_model)
    # The fragment below has not drawn its widgets yet in this run: they can be reset.
    ss[S.EVAL_BASELINE] = 0
    ss[S.EVAL_COMPARE_A], ss[S.EVAL_COMPARE_B] = 0, max(len(ss[S.EVAL_RESULTS]) - 1, 0)
    ss[S.EVAL_CALIBRATIONS] = {}
    ss.pop(S.EVAL_APPLY_COLLECTION, None)  # preselected again for this set (see _apply)


# The comparison columns as text: the baseline's own row is empty there, and an empty number cell
# would show the grid's "None" (English in either language) instead of a dash.
COMPARISON_FORMATS = {"wins": "{:.0f}", "losses": "{:.0f}", "ties": "{:.0f}", TEST_COLUMNS[0]: "{:+.3f}",
                      TEST_COLUMNS[1]: "{:+.3f}", TEST_COLUMNS[2]: "{:+.3f}", TEST_COLUMNS[3]: "{:.4f}"}


def _dashed(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its comparison columns as formatted text, "—" where a value is missing."""
    return frame.assign(**{c: [("—" if v is None or pd.isna(v) else f.format(v)) for v in frame[c]]
                           for c, f in COMPARISON_FORMATS.items() if c in frame})


@st.cache_data(max_entries=8, show_spinner=False)
def _tests(scores: tuple[tuple[float, ...], ...], baseline: int) -> list[PairedTest | None]:
    """Each configuration's paired test against the baseline, once per run and baseline."""
    return tests_against(scores, baseline)


def _verdict_box(found: Verdict, shown: list[str]) -> None:
    """The headline: the best configuration, its score and its test against the baseline."""
    with st.container(border=True, key="eval_verdict"):
        st.markdown(" ".join(tr(m) for m in found.sentences([literal(x) for x in shown])))


def _table(results: list[ConfigResult], data: LabelledSet, info: RunInfo, baseline: int, metric: str,
           tests: list[PairedTest | None], found: Verdict) -> pd.DataFrame:
    """The results table sorted by the main metric with its downloads; returns it as shown (English
    headers, translated labels and values; the index is each configuration's run position)."""
    labels = [r.config.label for r in results]
    shown = [r.config.display_label(_) for r in results]
    # Sorted by the main metric (best first); the index keeps each configuration's run position,
    # which gives it its colour in every chart.
    table = pd.DataFrame(results_table(results, baseline, metric, tests))
    table = table[[*FRONT_COLUMNS, *(m for m in METRICS if m != MAIN_METRIC), *SIZE_COLUMNS,
                   *(c for c in table.columns if c not in {*FRONT_COLUMNS, *METRICS, *SIZE_COLUMNS})]]
    table = table.sort_values(MAIN_METRIC, ascending=False, kind="stable")
    display = table.assign(configuration=[shown[i] for i in table.index]).map(_value)
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(_shown(_dashed(display)), hide_index=True, width="stretch", key="eval.table",
                 column_config={_header("configuration"): st.column_config.TextColumn(pinned=True),
                                **{m: number for m in METRICS}})
    st.caption(_("wins / losses / ties: queries whose {metric} is higher / lower / equal than under the baseline. "
                 "Δ, interval and p-value: {main} against the baseline, paired over queries.").format(
                     metric=metric, main=MAIN_METRIC))
    c1, c2 = st.columns(2)
    with c1:
        download_table(with_models(table, info.model, info.served_model), "evaluation-results", key="eval.dl_csv", label=_("Download CSV"))
    # Made when clicked (the JSON holds every per-query score), like the other downloads.
    c2.download_button(_("Download JSON"),
                       lambda: results_json(results, data, info.model, baseline,
                                            verdict=found.as_dict(labels), served_model=info.served_model).encode("utf-8"),
                       file_name="evaluation-results.json", mime="application/json", key="eval.dl_json",
                       on_click="ignore")
    return display


@st.fragment
def _results(ctx: PageContext) -> None:
    """Verdict, tables, charts and downloads of the last run; the baseline and metric pickers rerun only this."""
    results: list[ConfigResult] = ss[S.EVAL_RESULTS]
    data: LabelledSet = ss[S.EVAL_DATASET]
    info: RunInfo = ss[S.EVAL_RUN_INFO]
    st.subheader(_("3 · Results"))
    st.text(describe_set(data, model_name(info.model), _))
    ctx.model_caption(info.served_model)
    st.caption(tr(info.inputs_line))
    if info.skipped_line is not None:
        st.warning(literal(tr(info.skipped_line)), icon=":material/warning:")
    if not results:
        return
    labels = [r.config.label for r in results]
    shown = [r.config.display_label(_) for r in results]
    a, b = st.columns(2)
    S.keep_valid(S.EVAL_BASELINE, range(len(labels)), fallback=0)
    baseline = a.selectbox(_("Baseline"), range(len(labels)), format_func=shown.__getitem__, key=S.EVAL_BASELINE,
                           persist_state="session")
    metric = b.selectbox(_("Wins / losses / ties on"), METRICS, key=S.EVAL_METRIC, persist_state="session")
    tests = _tests(query_scores(results, MAIN_METRIC), baseline)
    found = verdict(results, baseline, MAIN_METRIC, tests)
    _verdict_box(found, shown)

    display = _table(results, data, info, baseline, metric, tests, found)
    bars = figures.eval_metric_bars(display, [config_colour(i) for i in display.index], gettext=_)
    st.plotly_chart(bars, key="eval.bars")
    download_figure(bars, "evaluation-metrics", key="eval.dl_bars", label=_("Download HTML"))
    if sweeps_dimensions(results):
        line = figures.eval_dimension_line(display, gettext=_)
        st.plotly_chart(line, key="eval.dim_line")
        download_figure(line, "evaluation-dimensions", key="eval.dl_line", label=_("Download HTML"))
    else:
        st.info(_("Choose two or more dimensions to see how nDCG@10 changes with the embedding size."),
                icon=":material/show_chart:")

    names = dict(zip(labels, shown, strict=True))
    with st.expander(_("Per query: {metric}").format(metric=metric)):
        per_query = pd.DataFrame(per_query_table(results, data, metric))
        st.dataframe(_shown(per_query, names), hide_index=True, width="stretch", key="eval.per_query")
        download_table(per_query, f"evaluation-per-query-{metric}", key="eval.dl_per_query", label=_("Download CSV"))
    with st.expander(_("Top documents for one query")):
        queries = query_choices(data)
        S.keep_valid(S.EVAL_DETAIL_QUERY, list(queries))
        qid = st.selectbox(_("Query"), list(queries), format_func=queries.__getitem__, key=S.EVAL_DETAIL_QUERY,
                           persist_state="session")
        st.dataframe(_shown(pd.DataFrame(top_documents_table(results, data, qid)), names), hide_index=True,
                     width="stretch")
        st.caption(_("✓ relevant (grade ≥ 1), ✗ not judged relevant."))
    _compare(results, data, shown)
    _calibrate(ctx, results, data, info, shown)


def _compare(results: list[ConfigResult], data: LabelledSet, shown: list[str]) -> None:
    """Per query, the first relevant document's rank under A and under B, sorted by change."""
    st.subheader(_("Which queries changed: A vs B"))
    if len(results) < 2:
        st.info(_("Run two or more configurations to compare them query by query."), icon=":material/compare_arrows:")
        return
    S.keep_valid(S.EVAL_COMPARE_A, range(len(shown)), fallback=0)
    S.keep_valid(S.EVAL_COMPARE_B, range(len(shown)), fallback=len(shown) - 1)
    a, b = st.columns(2)
    first = a.selectbox("A", range(len(shown)), format_func=shown.__getitem__, key=S.EVAL_COMPARE_A,
                        persist_state="session")
    second = b.selectbox("B", range(len(shown)), format_func=shown.__getitem__, key=S.EVAL_COMPARE_B,
                         persist_state="session")
    if first == second:
        st.info(_("Pick two different configurations."), icon=":material/compare_arrows:")
        return
    changes = compare_ranks(results[first], results[second], data)
    counts = rank_change_counts(changes)
    c1, c2, c3 = st.columns(3)
    c1.metric(_("Fixed by B"), counts["fixed"], help=_("B ranks the first relevant document higher than A."))
    c2.metric(_("Broken by B"), counts["broke"], help=_("B ranks it lower."))
    c3.metric(_("Same"), counts["same"])
    st.caption(_("Rank of the first relevant document in each configuration's full ranking; >100: beyond 100 or "
                 "not retrieved at all (BM25 finds no shared word). Sorted by change: B's biggest gains first."))
    rows = rank_change_table(changes)
    frame = pd.DataFrame(rows)
    frame[["rank A", "rank B"]] = frame[["rank A", "rank B"]].astype(str)  # ">100" beside numbers
    st.dataframe(_shown(frame.assign(result=frame["result"].map(_value))), hide_index=True, width="stretch",
                 key="eval.rank_changes")
    download_table(frame, "evaluation-rank-changes", key="eval.dl_rank_changes", label=_("Download CSV"))
    fig = figures.rank_change_dumbbell(rows, shown[first], shown[second], gettext=_)
    st.plotly_chart(fig, key="eval.rank_fig")
    download_figure(fig, "evaluation-rank-changes", key="eval.dl_rank_fig", label=_("Download HTML"))


def _calibration(ctx: PageContext, results: list[ConfigResult], data: LabelledSet,
                 index: int) -> Calibration | None:
    """The calibration of result `index`, computed once per run (its inputs come from the cache)."""
    done = ss[S.EVAL_CALIBRATIONS]
    if index not in done:
        plan = plan_grid(data, [results[index].config])
        vectors = embed_with_progress(ctx, plan.texts, _("Similarities for calibration (from the cache)"))
        if vectors is None:
            return None
        done[index] = calibrate_config(plan, vectors, 0)
    return done[index]


def _suggestion(key: str, gettext: Callable[[str], str] = _) -> str:
    """A threshold suggestion's key ("best F1", "precision ≥ 0.90") as shown."""
    if key.startswith("precision ≥ "):
        return gettext(N_("precision ≥ {target}")).format(target=key.removeprefix("precision ≥ "))
    return gettext(VALUES.get(key, key))


def _calibrate(ctx: PageContext, results: list[ConfigResult], data: LabelledSet, info: RunInfo,
               shown: list[str]) -> None:
    """The threshold calibration of one dense configuration and its "Apply to collection"."""
    st.subheader(_("Similarity threshold from the labelled pairs"))
    dense = [i for i, r in enumerate(results) if r.config.mode == "dense"]
    if not dense:
        st.info(_("A threshold applies to dense similarities: include the dense mode in the run."),
                icon=":material/tune:")
        return
    if ctx.embedder.model_id != info.model:
        st.warning(_("These results come from {old}, but the connection now uses {new}: run the evaluation again "
                     "to calibrate a threshold for it.").format(old=literal(info.model),
                                                                 new=literal(ctx.embedder.model_id)),
                   icon=":material/warning:")
        return
    S.keep_valid(S.EVAL_CALIB_CONFIG, dense, fallback=dense[0])
    a, b = st.columns([3, 1])
    index = a.selectbox(_("Configuration"), dense, format_func=shown.__getitem__,
                        key=S.EVAL_CALIB_CONFIG, persist_state="session")
    target = float(b.number_input(_("Precision wanted"), min_value=0.05, max_value=1.0, step=0.05,
                                  key=S.EVAL_CALIB_PRECISION, persist_state="session",
                                  help=_("Suggests the lowest threshold whose precision reaches it.")))
    found = _calibration(ctx, results, data, index)
    if found is None:
        return
    found = replace(found, target_precision=target, at_precision=for_precision(found.curve, target))
    suggested = {"best F1": found.best.threshold}
    if found.at_precision is not None:
        suggested[f"precision ≥ {target:.2f}"] = found.at_precision.threshold
    st.caption(_("{relevant} relevant and {other} non-relevant (query, document) pairs; a threshold keeps the pairs "
                 "whose cosine similarity is at least that value.").format(
                     relevant=f"{found.relevant.size:,}", other=f"{found.non_relevant.size:,}"))
    points = [("best F1", found.best), (f"precision ≥ {target:.2f}", found.at_precision)]
    numbers = pd.DataFrame([
        {"suggestion": name, "threshold": None if p is None else round(p.threshold, 4),
         "precision": None if p is None else round(p.precision, 4), "recall": None if p is None else round(p.recall, 4),
         "F1": None if p is None else round(p.f1, 4), "pairs kept": None if p is None else p.kept}
        for name, p in points])
    st.dataframe(_shown(numbers.assign(suggestion=numbers["suggestion"].map(_suggestion))), hide_index=True,
                 key="eval.calib_table")
    if found.at_precision is None:
        st.caption(_("No threshold reaches a precision of {target} on this set.").format(target=f"{target:.2f}"))
    c1, c2 = st.columns(2)
    with c1:
        download_table(numbers, "threshold-suggestions", key="eval.dl_calib", label=_("Download CSV"))
    with c2:
        download_table(found.curve, "threshold-curve", key="eval.dl_curve", label=_("Download the curve (CSV)"))
    lines = {_suggestion(k): v for k, v in suggested.items()}
    left, right = st.columns(2)
    with left:
        dist = figures.similarity_distributions(found.relevant, found.non_relevant, lines, gettext=_)
        st.plotly_chart(dist, key="eval.calib_dist")
        download_figure(dist, "similarity-distributions", key="eval.dl_calib_dist", label=_("Download HTML"))
    with right:
        curve = figures.threshold_metrics(found.curve, lines, gettext=_)
        st.plotly_chart(curve, key="eval.calib_curve")
        download_figure(curve, "threshold-metrics", key="eval.dl_calib_curve", label=_("Download HTML"))
    _apply(ctx, suggested, info.model, data)


def _apply(ctx: PageContext, suggested: dict[str, float], model: str, data: LabelledSet) -> None:
    """Set a Search collection's threshold to one of the suggestions. The collection holding this
    labelled set's documents is preselected once per run; when none does, nothing is."""
    st.markdown(_("**Apply to a Search collection**"))
    try:
        infos = [i for i in ctx.store.list() if i.spec is not None]
        S.keep_valid(S.EVAL_APPLY_COLLECTION, [i.name for i in infos])
        if infos and S.EVAL_APPLY_COLLECTION not in ss:
            match = matching_collection(ctx.store, infos, data, model)
            if match is not None:
                ss[S.EVAL_APPLY_COLLECTION] = match
    except StoreError as exc:
        show_error(exc)
        return
    if not infos:
        st.info(_("No Search collection exists yet: create one on the Search page, then apply the threshold here."),
                icon=":material/database:")
        return
    by_name = {i.name: i.spec for i in infos}
    S.keep_valid(S.EVAL_APPLY_WHICH, list(suggested), fallback="best F1")
    a, b = st.columns(2)
    name = a.selectbox(_("Collection"), list(by_name), index=None, key=S.EVAL_APPLY_COLLECTION,
                       persist_state="session", placeholder=_("Choose a collection"))
    shown = bound_gettext()
    which = b.radio(_("Threshold"), list(suggested), key=S.EVAL_APPLY_WHICH, persist_state="session", horizontal=True,
                    format_func=lambda k: f"{_suggestion(k, shown)}: {suggested[k]:.4f}")
    if name is None:
        st.caption(_("No collection holds this labelled set's documents, so none is chosen: pick the one the "
                     "threshold is for."))
        return
    spec = by_name[name]
    if spec.model_id != model_name(model):
        st.warning(_("{name} holds vectors of {theirs}; these similarities come from {ours}. A threshold does not "
                     "carry over between models.").format(name=literal(name), theirs=literal(spec.model_id),
                                                          ours=literal(model_name(model))),
                   icon=":material/warning:")
    if st.button(_("Apply to collection"), key="eval.apply_threshold", type="primary"):
        try:
            spec = ctx.store.update(name, threshold=float(suggested[which]), threshold_source=CALIBRATED,
                                    threshold_note=which)
        except StoreError as exc:
            show_error(exc)
            return
        st.success(_("The similarity threshold of {name} is now {threshold} ({which}).").format(
            name=literal(name), threshold=f"{spec.threshold:.4f}", which=_suggestion(which)),
            icon=":material/check_circle:")
    else:
        st.caption(_("Threshold of {name} now: {threshold}.").format(name=literal(name),
                                                                    threshold=f"{spec.threshold:.4f}"))
