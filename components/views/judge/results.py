"""The Judge page's results tab: the configurations' scores from the chosen grades, A against B
with a paired test, the raters' agreement, the exports (kept English: files for other tools) and
the qrels import."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from components import state as S
from components.i18n import _, label_func, tr
from components.page import PageContext
from components.views.judge.labels import (
    config_label,
    dimensions_label,
    instruction_label,
    length_label,
    source_label,
)
from components.widgets import download_table, error_text, literal
from embedlab import judge_metrics as jm
from embedlab import judgments as jd
from embedlab.messages import N_

ss = st.session_state
RESULTS = {"B better": N_("{name} better"), "B worse": N_("{name} worse"), "same": N_("same")}


def render(ctx: PageContext, store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    ctx.model_caption()
    judgments = store.judgments(exp.collection, exp.queries)
    kinds = jd.raters(judgments)
    machines = [r for r, kind in kinds.items() if kind == jd.LLM]
    # Each person on their own; LLM judges as one source (and each apart only when there are several).
    sources = [jd.PEOPLE, *([jd.LLM_SOURCE] if machines else []),
               *(r for r, kind in kinds.items() if kind == jd.PERSON), *(machines if len(machines) > 1 else [])]
    S.keep_valid(S.JUDGE_SOURCE, sources, fallback=jd.PEOPLE)
    names = {s: literal(source_label(s, kinds)) for s in sources}  # radio labels are Markdown
    source = st.radio(_("Grades from"), sources, key=S.JUDGE_SOURCE, persist_state="session", horizontal=True,
                      format_func=names.__getitem__,
                      help=_("With several people, a chunk's grade is the median of theirs (rounded down between "
                             "two). The LLM judge counts only when chosen here."))
    results = jm.results_from(exp, store.runs(exp.id), judgments, source)
    if not results.judged_queries:
        st.info(_("No grades from this source yet: judge some chunks first."), icon=":material/rate_review:")
        _import(store, exp)
        return
    st.caption(_("{judged} of {queries} queries have grades (means are over them); {graded} graded chunks. An "
                 "unjudged chunk counts as not relevant, as in trec_eval.").format(
        judged=len(results.judged_queries), queries=len(exp.queries), graded=len(results.grades)))
    st.markdown(_("**The tuning guide's table**"))
    st.dataframe(_guide_table(results), hide_index=True, key="judge.guide_table")
    table = pd.DataFrame(jm.results_table(results))
    _scores_table(table, results.k)
    for warning in jm.coverage_warnings(results):
        st.warning(literal(tr(warning)), icon=":material/warning:")
    _compare(results)
    _agreement(judgments)
    _exports(store, exp, results, judgments, table)
    _import(store, exp)


def _metric_label(metric: str, k: int) -> str:
    return _("P@{k} (grade 2)").format(k=k) if metric == "strict_precision" else jm.metric_label(metric, k)


def _guide_table(results: jm.Results) -> pd.DataFrame:
    """The tuning guide's table (jm.guide_table), its headers and words translated."""
    accuracy = _("accuracy ({metric})").format(metric=f"P@{results.k}")
    return pd.DataFrame([{
        _("configuration"): scores.name, _("instruction"): instruction_label(cfg),
        _("input length"): length_label(cfg.max_tokens), _("dimensions"): dimensions_label(cfg),
        _("retrieval"): (_("{mode} + rerank").format(mode=_(jd.MODE_LABELS[cfg.mode])) if cfg.rerank
                          else _(jd.MODE_LABELS[cfg.mode])),
        accuracy: f"{scores.metrics['precision']:.0%}",
    } for scores, cfg in zip(results.configs, results.experiment.configs, strict=True)])


def _scores_table(table: pd.DataFrame, k: int) -> None:
    metrics = {jm.metric_label(m, k): _metric_label(m, k) for m in jm.METRICS}
    coverage = f"judged-coverage@{k}"
    shown = table[[c for c in table.columns if c == "configuration" or c in metrics or c == coverage
                   or c == "low coverage"]].copy()
    shown["low coverage"] = shown["low coverage"].map({"yes": _("yes"), "no": _("no")})
    shown = shown.rename(columns={"configuration": _("configuration"), "low coverage": _("low coverage"),
                                  coverage: _("judged-coverage@{k}").format(k=k), **metrics})
    st.dataframe(shown, hide_index=True, key="judge.results_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in shown.columns if "@" in c})


def _compare(results: jm.Results) -> None:
    exp = results.experiment
    st.subheader(_("A vs B"))
    names = list(range(len(exp.configs)))
    S.keep_valid(S.JUDGE_A, names, fallback=0)
    S.keep_valid(S.JUDGE_B, names, fallback=1)
    a, b, c = st.columns(3)
    labels = {i: f"{jd.config_name(i)}: {config_label(exp.configs[i])}" for i in names}
    first = a.selectbox("A", names, format_func=labels.__getitem__, key=S.JUDGE_A, persist_state="session")
    second = b.selectbox("B", names, format_func=labels.__getitem__, key=S.JUDGE_B, persist_state="session")
    metric = c.selectbox(_("Measure"), jm.METRICS, key=S.JUDGE_METRIC, persist_state="session",
                         format_func=label_func({m: _metric_label(m, results.k) for m in jm.METRICS}))
    if first == second:
        st.info(_("Pick two different configurations."), icon=":material/compare_arrows:")
        return
    rows, test = jm.compare(results, first, second, metric)
    name_a, name_b = jd.config_name(first), jd.config_name(second)
    sentence = jm.verdict(test, name_a, name_b, _metric_label(metric, results.k))
    box = st.success if test.significant and test.diff > 0 else st.warning if test.significant else st.info
    box(literal(tr(sentence)), icon=":material/balance:")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(_("{name} (mean)").format(name=name_a), f"{test.mean_a:.3f}")
    m2.metric(_("{name} (mean)").format(name=name_b), f"{test.mean_b:.3f}",
              delta=f"{test.diff:+.3f}" if abs(test.diff) > jm.TIE_TOLERANCE else None)
    m3.metric(_("{level} interval of the difference").format(level="95%"), _("n/a") if test.ci_low is None else _("{low} to {high}").format(
        low=f"{test.ci_low:+.2f}", high=f"{test.ci_high:+.2f}"))
    m4.metric(_("p (paired permutation test)"), _("n/a") if test.p_value is None else f"{test.p_value:.3g}")
    export = pd.DataFrame(jm.comparison_table(rows, name_a, name_b))
    shown = pd.DataFrame([{_("query"): r.query, name_a: round(r.a, 4), name_b: round(r.b, 4),
                           _("change"): round(r.change, 4), _("result"): _(RESULTS[r.label]).format(name=name_b)}
                          for r in rows])
    with st.expander(_("Per query: {metric} of {a} and {b}").format(
            metric=_metric_label(metric, results.k), a=name_a, b=name_b)):
        st.dataframe(shown, hide_index=True, key="judge.per_query")
        download_table(export, f"{exp.collection}-{name_a}-vs-{name_b}", key="judge.dl_per_query",
                       label=_("Download CSV"))


def _agreement(judgments: list[jd.Judgment]) -> None:
    st.subheader(_("Agreement between raters"))
    pairs, group = jm.agreement(judgments)
    people = [r for r, kind in jd.raters(judgments).items() if kind == jd.PERSON]
    st.caption(literal(tr(jm.agreement_sentence(group, pairs, people))))
    if pairs:
        frame = pd.DataFrame(jm.agreement_table(pairs))
        for column in ("rater A", "rater B"):
            frame[column] = frame[column].map(lambda r: _(jm.CONSENSUS) if r == jm.CONSENSUS else r)
        frame["reading"] = frame["reading"].map(_)
        frame = frame.rename(columns={
            "rater A": _("rater A"), "rater B": _("rater B"), "pairs both graded": _("pairs both graded"),
            "same grade": _("same grade"), "weighted kappa (linear)": _("weighted kappa (linear)"),
            "reading": _("reading")})
        st.dataframe(frame, hide_index=True, key="judge.agreement")
        st.caption(_("Cohen's kappa over the chunks both raters graded (scikit-learn); the weighted kappa counts a "
                     "0 vs 2 disagreement twice a 0 vs 1. Readings after Landis and Koch (1977)."))


def _exports(store: jd.JudgmentStore, exp: jd.Experiment, results: jm.Results, judgments: list[jd.Judgment],
             table: pd.DataFrame) -> None:
    st.subheader(_("Export"))
    grades = results.grades
    try:
        labelled = jd.labelled_set(exp, grades, store.chunk_texts(exp.collection))
    except jd.JudgeError as exc:
        st.error(literal(error_text(exc)), icon=":material/error:")
        return
    base = f"{exp.collection}-{exp.id}"
    st.caption(_("Grades from: {source}. The qrels and runs are TREC files (trec_eval, ir_measures); the labelled "
                 "set (judged chunks as the corpus, queries with graded relevance) is read as it is by the Evaluate "
                 "page and `python -m embedlab.evaluate`.").format(
        source=literal(source_label(results.source, jd.raters(judgments)))))
    row = st.container(horizontal=True)
    row.download_button(_("TREC qrels"), lambda: "".join(jd.qrels_lines(exp, grades)).encode("utf-8"),
                        file_name=f"{base}.qrels", mime="text/plain", key="judge.dl_qrels", on_click="ignore")
    row.download_button(_("TREC runs"), lambda: "".join(jd.run_lines(exp, store.runs(exp.id))).encode("utf-8"),
                        file_name=f"{base}.runs", mime="text/plain", key="judge.dl_runs", on_click="ignore")
    row.download_button(_("Corpus JSONL"), labelled.corpus.encode("utf-8"), file_name=f"{base}.corpus.jsonl",
                        mime="application/jsonl", key="judge.dl_corpus", on_click="ignore",
                        disabled=not labelled.query_count)
    row.download_button(_("Queries JSONL"), labelled.queries.encode("utf-8"), file_name=f"{base}.queries.jsonl",
                        mime="application/jsonl", key="judge.dl_queries", on_click="ignore",
                        disabled=not labelled.query_count)
    row.download_button(_("Results JSON"), lambda: json.dumps(
        jm.report(results, judgments, ss[S.JUDGE_A], ss[S.JUDGE_B], ss[S.JUDGE_METRIC]), ensure_ascii=False,
        indent=2).encode("utf-8"), file_name=f"{base}-results.json", mime="application/json",
        key="judge.dl_json", on_click="ignore")
    with row:
        download_table(table, f"{base}-results", key="judge.dl_results", label=_("Results CSV"))
    if labelled.dropped:
        n = len(labelled.dropped)
        st.caption((_("The labelled set leaves out {n} judged query without a relevant chunk: the Evaluate page "
                      "needs at least one per query.") if n == 1 else
                    _("The labelled set leaves out {n} judged queries without a relevant chunk: the Evaluate page "
                      "needs at least one per query.")).format(n=n))


def _import(store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    with st.expander(_("Import qrels"), icon=":material/upload_file:"):
        st.caption(_("TREC qrels (`qid 0 docno grade`) with this experiment's query ids and chunk keys, e.g. an "
                     "export edited elsewhere; the grades are kept under the rater name below."))
        upload = st.file_uploader(_("qrels file"), type=["qrels", "txt", "tsv"], key=S.JUDGE_IMPORT_FILE)
        st.text_input(_("Rater name for the imported grades"), key=S.JUDGE_IMPORT_RATER, persist_state="session",
                      max_chars=jd.MAX_RATER_CHARS)
        if not st.button(_("Import grades"), key="judge.import", disabled=upload is None):
            return
        try:
            rater = jd.validate_rater(ss[S.JUDGE_IMPORT_RATER])
            parsed = jd.parse_qrels(upload.getvalue(), exp, set(store.chunk_texts(exp.collection)))
        except jd.JudgeError as exc:
            st.error(literal(error_text(exc)), icon=":material/error:")
            return
        store.import_grades(exp.collection, parsed.rows, rater)
        ss[S.JUDGE_FLASH] = [("success", _(
            "Imported {n} grade(s) as {rater}; left out {queries} line(s) of other queries and {chunks} of unknown "
            "chunks.").format(n=len(parsed.rows), rater=literal(rater), queries=parsed.unknown_queries,
                              chunks=parsed.unknown_chunks))]
        st.rerun()
