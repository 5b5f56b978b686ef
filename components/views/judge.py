"""Judge page: rate pooled search results blind, then see which configuration retrieves better for
this collection (P@k, nDCG@k, MRR, coverage, a paired test, rater agreement), and export the
judgments as TREC qrels or a labelled set. The work is in embedlab.judgments / judge_metrics."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from components import state as S
from components.i18n import _
from components.instruction_picker import NO_INSTRUCTION
from components.page import PageContext
from components.widgets import download_table, ensure_local_model, error_text, literal, show_error
from embedlab import judge_metrics as jm
from embedlab import judgments as jd
from embedlab import llm_judge
from embedlab.backends import EmbeddingError
from embedlab.rerank import RerankClient
from embedlab.stores.base import CollectionSpec, StoreError
from embedlab.text import one_line

ss = st.session_state
QUERY_SOURCES = ("Type them", "Upload a file", "Bundled set")
TABS = ["Judge", "Results and export"]
GRADE_BUTTONS = ((0, "0 · Not relevant"), (1, "1 · Partly relevant"), (2, "2 · Relevant"))


@st.cache_resource(show_spinner=False)
def _judgment_store(data_dir: str) -> jd.JudgmentStore:
    # One per data directory and process: opening it creates the tables (a write transaction).
    return jd.JudgmentStore.in_data_dir(data_dir)


def render(ctx: PageContext) -> None:
    st.title(_("Judge retrieval results"))
    st.caption(_(
        "Does an instruction, a shorter input or a smaller vector help *your* retrieval? Pick a collection and your "
        "own questions, choose two to four configurations, and rate the pooled results: the union of every "
        "configuration's top k, shown one by one in a random order without saying which configuration found "
        "them. The results score each configuration from your grades (P@k, as the tuning guide measured, "
        "nDCG@k and MRR) and say whether the difference is significant. Several people can judge the same "
        "pools, each under their own name; grades are saved at once and kept for good."
    ))
    for kind, message in ss[S.JUDGE_FLASH]:
        getattr(st, kind)(message)
    ss[S.JUDGE_FLASH] = []
    try:
        infos = [i for i in ctx.store.list() if i.spec is not None]
    except StoreError as exc:
        st.error(literal(error_text(exc)), icon=":material/database:")
        return
    if not infos:
        st.info(_("No collection yet: create one on the Search page and add documents, then judge its results "
                  "here."), icon=":material/database:")
        return
    by_name = {i.name: i for i in infos}
    S.keep_valid(S.JUDGE_COLLECTION, list(by_name))
    if S.JUDGE_COLLECTION not in ss and ss[S.SEARCH_ACTIVE] in by_name:
        ss[S.JUDGE_COLLECTION] = ss[S.SEARCH_ACTIVE]  # start on the collection open on the Search page
    name = st.selectbox(_("Collection"), list(by_name), key=S.JUDGE_COLLECTION, persist_state="session")
    info = by_name[name]
    spec = info.spec
    assert spec is not None
    st.caption(_("{chunks} chunks · model {model} · {dim} dimensions · instruction: {instruction}").format(
        chunks=f"{info.count:,}", model=literal(spec.model_id.split("@", 1)[0]), dim=spec.dim,
        instruction=literal(spec.instruction_name) if spec.instruction_name else _("none")))
    store = _judgment_store(str(ctx.settings.data_path))
    st.subheader(_("1 · Set up an experiment"))
    experiments = store.experiments(name)
    with st.expander(_("New experiment: queries, configurations, depth"), expanded=not experiments,
                     icon=":material/science:"):
        _setup(ctx, store, spec, info.count)  # a new experiment reruns the page
    if not experiments:
        return
    st.subheader(_("2 · Judge and compare"))
    by_id = {e.id: e for e in experiments}
    S.keep_valid(S.JUDGE_EXPERIMENT, list(by_id), fallback=experiments[0].id)
    if S.JUDGE_EXPERIMENT not in ss:
        ss[S.JUDGE_EXPERIMENT] = experiments[0].id
    exp_id = st.selectbox(_("Experiment"), list(by_id), format_func=lambda i: by_id[i].title, key=S.JUDGE_EXPERIMENT,
                          persist_state="session")
    exp = by_id[exp_id]
    _describe(store, exp)
    st.text_input(_("Your name (rater)"), key=S.JUDGE_RATER, persist_state="session", max_chars=jd.MAX_RATER_CHARS,
                  placeholder=_("e.g. Ana"), help=_("Each person judges under their own name; the same name resumes "
                                                    "where you stopped, in this or any later session."))
    judge_tab, results_tab = st.tabs(TABS, key="judge.tabs", on_change="rerun", default=TABS[0])
    if judge_tab.open:
        with judge_tab:
            _judge(store, exp)
            _llm_panel(store, exp)
    if results_tab.open:
        with results_tab:
            _results(ctx, store, exp)


# -- set-up --------------------------------------------------------------------------------------
def _configs() -> list[jd.JudgeConfig]:
    if ss[S.JUDGE_CONFIGS] is None:
        ss[S.JUDGE_CONFIGS] = jd.guide_configs()
    return ss[S.JUDGE_CONFIGS]


def _remove_config(index: int) -> None:
    configs = list(_configs())
    del configs[index]
    ss[S.JUDGE_CONFIGS] = configs


def _reset_configs() -> None:
    ss[S.JUDGE_CONFIGS] = jd.guide_configs()


def _config_rows(configs: list[jd.JudgeConfig]) -> pd.DataFrame:
    return pd.DataFrame([{"configuration": jd.config_name(i), "instruction": c.instruction_label,
                          "input length": c.length_label, "dimensions": c.dimensions_label,
                          "mode": jd.MODE_LABELS[c.mode], "rerank": "yes" if c.rerank else "no"}
                         for i, c in enumerate(configs)])


def _setup(ctx: PageContext, store: jd.JudgmentStore, spec: CollectionSpec, count: int) -> None:
    st.markdown("**Queries**")
    source = st.radio("Queries from", QUERY_SOURCES, horizontal=True, key=S.JUDGE_QUERY_SOURCE,
                      persist_state="session", label_visibility="collapsed")
    if source == "Type them":
        st.text_area("Queries, one per line", height=140, key=S.JUDGE_QUERIES, persist_state="session",
                     placeholder="How do I get approval for a penetration test?\nWho may use the vulnerability scanner?")
    elif source == "Upload a file":
        st.file_uploader("Queries (.txt one per line; .csv or .jsonl with a query, question or text column)",
                         type=["txt", "csv", "tsv", "jsonl"], key=S.JUDGE_QUERY_FILE)
    else:
        sets = jd.bundled_query_sets()
        guess = jd.bundled_for_collection(spec.name)
        if S.JUDGE_BUNDLED not in ss and guess:
            ss[S.JUDGE_BUNDLED] = guess
        picked = st.selectbox("Bundled set", list(sets), key=S.JUDGE_BUNDLED, persist_state="session")
        st.caption(literal(sets[picked]) + ". They fit a collection made from the same corpus.")

    st.markdown("**Configurations** (two to four; A is the baseline)")
    configs = _configs()
    st.dataframe(_config_rows(configs), hide_index=True, key="judge.config_table")
    with st.container(horizontal=True):
        for i in range(len(configs)):
            st.button(f"Remove {jd.config_name(i)}", key=f"judge.remove_{i}", on_click=_remove_config, args=(i,),
                      disabled=len(configs) <= jd.MIN_CONFIGS)
        st.button("Back to the guide's two", key="judge.reset_configs", on_click=_reset_configs,
                  help="A: no instruction, full-length inputs; B: the collection's instruction, inputs of at most "
                       "2,048 tokens (the tuning guide's experiment).")
    _add_config_form(ctx, spec, configs)
    st.caption(
        "Input length: each chunk is embedded from its first N tokens (exact Qwen tokenizer) instead of its whole "
        "text; chunks already within N tokens keep their stored vectors, longer ones are embedded once through "
        "the cache. Every configuration ranks the same chunks, so one grade serves all of them. To compare chunk "
        "sizes instead, ingest the documents into two collections and run an experiment on each."
    )
    a, b = st.columns(2)
    a.number_input("Depth k (top k of each configuration)", 1, jd.MAX_K, key=S.JUDGE_K, persist_state="session",
                   help="The tuning guide judged the top 5.")
    b.text_input("Experiment name (optional)", key=S.JUDGE_NAME, persist_state="session", max_chars=80,
                 placeholder="e.g. instruction + 2,048 tokens vs plain")
    if st.button("Build pools", key="judge.build", type="primary",
                 help=f"Retrieves every configuration's top k for every query from the {count:,} chunks."):
        _build(ctx, store, spec, configs)


def _add_config_form(ctx: PageContext, spec: CollectionSpec, configs: list[jd.JudgeConfig]) -> None:
    instructions = {NO_INSTRUCTION: "", jd.COLLECTION_INSTRUCTION: "",
                    **{i.name: i.task for i in ctx.library.all()}}
    dims = [0, *(d for d in jd.DIMENSION_CHOICES if d and d < spec.dim)]  # 0 = full
    lengths = [t or 0 for t in jd.LENGTH_CHOICES]  # 0 = full length
    S.keep_valid(S.JUDGE_NEW_INSTRUCTION, list(instructions), fallback=NO_INSTRUCTION)
    S.keep_valid(S.JUDGE_NEW_DIMS, dims, fallback=0)
    can_rerank = bool(ctx.settings.rerank_base_url)
    with st.form("judge.add_form", border=True):
        st.markdown("**Add a configuration**")
        a, b, c = st.columns(3)
        a.selectbox("Instruction", list(instructions), key=S.JUDGE_NEW_INSTRUCTION, persist_state="session",
                    help="Queries are sent as `Instruct: {task}\\nQuery:{query}`; chunks as they are.")
        b.selectbox("Input length", lengths, key=S.JUDGE_NEW_LENGTH, persist_state="session",
                    format_func=lambda t: f"≤ {t:,} tokens" if t else "full length")
        c.selectbox("Dimensions (Matryoshka)", dims, key=S.JUDGE_NEW_DIMS, persist_state="session",
                    format_func=lambda d: f"{d}" if d else f"full ({spec.dim})")
        a, b = st.columns(2)
        a.selectbox("Retrieval", jd.MODES, key=S.JUDGE_NEW_MODE, persist_state="session",
                    format_func=jd.MODE_LABELS.__getitem__,
                    help="BM25 reads the bare query (no instruction, no vectors); hybrid fuses dense and BM25.")
        b.toggle("Rerank", key=S.JUDGE_NEW_RERANK, persist_state="session", disabled=not can_rerank,
                 help=(f"The top {jd.RERANK_FETCH} go to {ctx.settings.rerank_model or 'the reranker'}, which picks "
                       "the top k." if can_rerank else "Set RERANK_BASE_URL (and RERANK_MODEL) to rerank."))
        added = st.form_submit_button("Add configuration", disabled=len(configs) >= jd.MAX_CONFIGS)
    if not added:
        return
    picked = ss[S.JUDGE_NEW_INSTRUCTION]
    try:
        new = jd.JudgeConfig("" if picked == NO_INSTRUCTION else picked, instructions[picked],
                             ss[S.JUDGE_NEW_LENGTH] or None, ss[S.JUDGE_NEW_DIMS] or None, ss[S.JUDGE_NEW_MODE],
                             bool(ss[S.JUDGE_NEW_RERANK]) and can_rerank).canonical()
        jd.check_configs([*configs, new])
    except jd.JudgeError as exc:
        st.error(literal(error_text(exc)), icon=":material/error:")
        return
    ss[S.JUDGE_CONFIGS] = [*configs, new]
    st.rerun()


def _queries() -> list[str] | None:
    """The queries of the chosen source; None (with the reason shown) when there are none."""
    source = ss[S.JUDGE_QUERY_SOURCE]
    try:
        if source == "Type them":
            return jd.queries_from_text(ss.get(S.JUDGE_QUERIES) or "")
        if source == "Upload a file":
            upload = ss.get(S.JUDGE_QUERY_FILE)
            if upload is None:
                st.warning("Choose a file of queries first.", icon=":material/upload_file:")
                return None
            return jd.queries_from_file(upload.getvalue(), upload.name)
        return jd.bundled_queries(ss[S.JUDGE_BUNDLED])
    except jd.JudgeError as exc:
        st.error(literal(error_text(exc)), icon=":material/error:")
        return None


def _build(ctx: PageContext, store: jd.JudgmentStore, spec: CollectionSpec, configs: list[jd.JudgeConfig]) -> None:
    queries = _queries()
    if queries is None or not ensure_local_model(ctx.embedder):
        return
    reranker = None
    if any(c.rerank for c in configs) and ctx.settings.rerank_base_url:
        reranker = RerankClient(ctx.settings.rerank_base_url, ctx.settings.rerank_model)
    bar = st.progress(0.0, text="Preparing")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"{stage}: {done:,} / {total:,}")

    try:
        built = jd.build_pools(ctx.store, spec, ctx.embedder, queries, configs, int(ss[S.JUDGE_K]),
                               reranker=reranker, progress=progress)
    except EmbeddingError as exc:
        bar.empty()
        show_error(exc)
        return
    except (jd.JudgeError, StoreError) as exc:
        bar.empty()
        st.error(literal(error_text(exc)), icon=":material/error:")
        return
    finally:
        ctx.refresh_cache_stats()
    bar.empty()
    exp = store.save_experiment(built, ss.get(S.JUDGE_NAME) or "")
    ss[S.JUDGE_EXPERIMENT] = exp.id  # the picker below is drawn after this, so it opens the new one
    ss[S.JUDGE_FLASH] = [("success", f"Built the pools of {literal(exp.name)}: {len(built.items):,} chunks to judge "
                                     f"for {len(built.queries)} queries (top {built.k} of {len(built.configs)} "
                                     "configurations, each chunk once).")]
    st.rerun()


def _describe(store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    with st.expander(f"Configurations of {literal(exp.name)} (top {exp.k})", icon=":material/tune:"):
        st.dataframe(_config_rows(list(exp.configs)), hide_index=True, key="judge.exp_configs")
        for note in store.notes(exp.id):
            st.caption(literal(note))
        st.caption(f"Model {literal(exp.model.split('@', 1)[0])} · built {exp.created_at[:16].replace('T', ' ')} UTC · "
                   f"{len(exp.queries)} queries.")


# -- judging -------------------------------------------------------------------------------------
def _rater() -> str | None:
    try:
        return jd.validate_rater(ss.get(S.JUDGE_RATER) or "")
    except jd.JudgeError as exc:
        st.info(literal(error_text(exc)), icon=":material/person:")
        return None


def _skipped(exp: jd.Experiment, rater: str) -> list[tuple[str, str]]:
    return ss[S.JUDGE_SKIPPED].get((exp.id, rater), [])


def _grade(store: jd.JudgmentStore, exp: jd.Experiment, item: jd.PoolItem, rater: str, grade: int) -> None:
    """Button callback: save the grade (one transaction) before the page is drawn again."""
    store.judge(exp.collection, item.query, item.chunk, rater, grade)
    ss[S.JUDGE_LAST] = f"Saved {grade} ({jd.GRADE_LABELS[grade]}) for “{literal(one_line(item.text, 60))}”."


def _skip(exp: jd.Experiment, item: jd.PoolItem, rater: str) -> None:
    skipped = dict(ss[S.JUDGE_SKIPPED])
    skipped[(exp.id, rater)] = [*skipped.get((exp.id, rater), []), (item.query, item.chunk)]
    ss[S.JUDGE_SKIPPED] = skipped
    ss[S.JUDGE_LAST] = "Skipped: it comes back once every other chunk is judged."


def _undo(store: jd.JudgmentStore, exp: jd.Experiment, rater: str) -> None:
    undone = store.undo(exp.collection, rater)
    if undone is None:
        ss[S.JUDGE_LAST] = "Nothing to undo: you have no judgment in this collection."
        return
    skipped = dict(ss[S.JUDGE_SKIPPED])
    skipped[(exp.id, rater)] = [p for p in skipped.get((exp.id, rater), []) if p != (undone.query, undone.chunk)]
    ss[S.JUDGE_SKIPPED] = skipped
    ss[S.JUDGE_LAST] = (f"Undone: your grade {undone.grade} ({jd.GRADE_LABELS[undone.grade]}) for a chunk of "
                        f"“{literal(one_line(undone.query, 60))}”.")


def _clear_skipped(exp: jd.Experiment, rater: str) -> None:
    skipped = dict(ss[S.JUDGE_SKIPPED])
    skipped.pop((exp.id, rater), None)
    ss[S.JUDGE_SKIPPED] = skipped


def _judge(store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    rater = _rater()
    if rater is None:
        return
    pool = store.pool(exp.id)
    done = jd.judged_by(store.judgments(exp.collection, exp.queries), rater)
    judged = sum((i.query, i.chunk) in done for i in pool)
    st.progress(judged / max(len(pool), 1), text=f"{judged} of {len(pool)} judged by {literal(rater)}")
    skipped = _skipped(exp, rater)
    item = jd.next_item(pool, done, skipped)
    if item is None:
        if skipped:
            st.info(f"Every chunk is judged except the {len(skipped)} you skipped.", icon=":material/skip_next:")
            st.button("Judge the skipped ones now", key="judge.unskip", on_click=_clear_skipped, args=(exp, rater))
        else:
            st.success(f"You have judged all {len(pool)} pooled chunks of this experiment: see the results in the "
                       "next tab.", icon=":material/task_alt:")
        st.button("Undo my last judgment", key="judge.undo", on_click=_undo, args=(store, exp, rater), shortcut="U")
        _last_action()
        return
    in_query = [i for i in pool if i.query == item.query]
    number = exp.queries.index(item.query) + 1
    st.caption(f"Query {number} of {len(exp.queries)} · chunk {item.position + 1} of {len(in_query)} for this query "
               "(in a random order; which configuration found it is not shown)")
    st.markdown(f"#### {literal(item.query)}")
    with st.container(border=True, key="judge.chunk"):
        st.caption(f"{literal(item.source)}")
        if item.before:
            st.caption("… " + literal(item.before))
        with st.container(height=360 if len(item.text) > 1200 else "content", border=False):
            st.markdown(literal(item.text))
        if item.after:
            st.caption(literal(item.after) + " …")
    cols = st.columns(5)
    for col, (grade, label) in zip(cols, GRADE_BUTTONS, strict=False):
        col.button(label, key=f"judge.grade_{grade}", on_click=_grade, args=(store, exp, item, rater, grade),
                   shortcut=str(grade), type="primary" if grade == 2 else "secondary", width="stretch")
    cols[3].button("Skip", key="judge.skip", on_click=_skip, args=(exp, item, rater), shortcut="S", width="stretch")
    cols[4].button("Undo", key="judge.undo", on_click=_undo, args=(store, exp, rater), shortcut="U", width="stretch",
                   disabled=not done)
    _last_action()
    st.caption("Keys: 0, 1, 2 grade the chunk · S skips it · U undoes your last grade. 2 = relevant (answers the "
               "query), 1 = partly relevant (on topic, part of an answer), 0 = not relevant. Every grade is saved "
               "at once: come back later under the same name to go on.")


def _last_action() -> None:
    if ss[S.JUDGE_LAST]:
        st.caption(ss[S.JUDGE_LAST])
        ss[S.JUDGE_LAST] = ""


def _llm_panel(store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    """Pre-rating by an LLM judge: only when JUDGE_BASE_URL and JUDGE_MODEL are set."""
    settings = llm_judge.judge_settings()
    if settings is None:
        return
    pool = store.pool(exp.id)
    rated = jd.judged_by(store.judgments(exp.collection, exp.queries), settings.rater)
    todo = [i for i in pool if (i.query, i.chunk) not in rated]
    with st.expander(f"LLM judge: {literal(settings.model)}", icon=":material/smart_toy:"):
        url = settings.public_url.replace("`", "%60")  # in a code span: shown as it is, never a link
        st.caption(f"{literal(settings.model)} at `{url}` can pre-rate this experiment's pools as one more rater, "
                   f"“{literal(settings.rater)}”. Its grades are kept apart from people's: the results use people's "
                   "grades unless you choose the LLM judge as the source, and show how far it agrees with them. "
                   "Every prompt and answer is stored.")
        if not todo:
            st.caption(f"It has rated all {len(pool)} pooled chunks.")
        elif st.button(f"Pre-rate {len(todo)} of {len(pool)} pooled chunks with the LLM judge", key="judge.llm_rate"):
            bar = st.progress(0.0, text="Asking the LLM judge")

            def progress(done: int, total: int) -> None:
                bar.progress(done / max(total, 1), text=f"Asking the LLM judge: {done} / {total}")

            try:
                calls = llm_judge.rate_items(llm_judge.LLMJudge(settings), todo,
                                             lambda call: store.record_llm(exp.collection, call), progress)
            except llm_judge.JudgeUnavailable as exc:
                bar.empty()
                st.error(literal(error_text(exc)), icon=":material/error:")
                return
            bar.empty()
            failed = sum(c.grade is None for c in calls)
            st.success(f"The LLM judge rated {len(calls) - failed} chunk(s)"
                       + (f"; {failed} answer(s) held no grade (kept below)." if failed else "."),
                       icon=":material/smart_toy:")
        calls = [c for c in store.llm_calls(exp.collection) if c.query in exp.queries]
        if calls:
            frame = pd.DataFrame([{"query": c.query, "chunk": c.chunk, "grade": c.grade, "error": c.error,
                                   "answer": c.answer, "prompt": c.prompt} for c in calls])
            st.dataframe(frame, hide_index=True, key="judge.llm_calls")
            download_table(frame, f"{exp.collection}-llm-judge", key="judge.dl_llm")


# -- results -------------------------------------------------------------------------------------
def _source_label(source: str, kinds: dict[str, str]) -> str:
    if source == jd.PEOPLE:
        people = [r for r, k in kinds.items() if k == jd.PERSON]
        return f"People (median of {len(people)} rater{'s' if len(people) != 1 else ''})"
    if source == jd.LLM_SOURCE:
        return "The LLM judge"
    return f"Only {source}"


def _results(ctx: PageContext, store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    ctx.model_caption()
    judgments = store.judgments(exp.collection, exp.queries)
    kinds = jd.raters(judgments)
    machines = [r for r, kind in kinds.items() if kind == jd.LLM]
    # Each person on their own; LLM judges as one source (and each apart only when there are several).
    sources = [jd.PEOPLE, *([jd.LLM_SOURCE] if machines else []),
               *(r for r, kind in kinds.items() if kind == jd.PERSON), *(machines if len(machines) > 1 else [])]
    S.keep_valid(S.JUDGE_SOURCE, sources, fallback=jd.PEOPLE)
    source = st.radio("Grades from", sources, key=S.JUDGE_SOURCE, persist_state="session", horizontal=True,
                      format_func=lambda s: literal(_source_label(s, kinds)),  # radio labels are Markdown
                      help="With several people, a chunk's grade is the median of theirs (rounded down between two). "
                           "The LLM judge counts only when chosen here.")
    results = jm.results_from(exp, store.runs(exp.id), judgments, source)
    if not results.judged_queries:
        st.info("No grades from this source yet: judge some chunks first.", icon=":material/rate_review:")
        _import(store, exp)
        return
    st.caption(f"{len(results.judged_queries)} of {len(exp.queries)} queries have grades (means are over them); "
               f"{len(results.grades)} graded chunks. An unjudged chunk counts as not relevant, as in trec_eval.")
    st.markdown("**The tuning guide's table**")
    guide = pd.DataFrame(jm.guide_table(results))
    st.dataframe(guide, hide_index=True, key="judge.guide_table")
    table = pd.DataFrame(jm.results_table(results))
    shown = [c for c in table.columns if c == "configuration" or "@" in c or c == "low coverage"]
    st.dataframe(table[shown], hide_index=True, key="judge.results_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in shown if "@" in c})
    for warning in jm.coverage_warnings(results):
        st.warning(literal(warning), icon=":material/warning:")
    _compare(results)
    _agreement(judgments)
    _exports(store, exp, results, judgments, table)
    _import(store, exp)


def _compare(results: jm.Results) -> None:
    exp = results.experiment
    st.subheader("A vs B")
    names = list(range(len(exp.configs)))
    S.keep_valid(S.JUDGE_A, names, fallback=0)
    S.keep_valid(S.JUDGE_B, names, fallback=1)
    a, b, c = st.columns(3)
    label = lambda i: f"{jd.config_name(i)}: {exp.configs[i].label}"  # noqa: E731
    first = a.selectbox("A", names, format_func=label, key=S.JUDGE_A, persist_state="session")
    second = b.selectbox("B", names, format_func=label, key=S.JUDGE_B, persist_state="session")
    metric = c.selectbox("Measure", jm.METRICS, format_func=lambda m: jm.metric_label(m, results.k), key=S.JUDGE_METRIC,
                         persist_state="session")
    if first == second:
        st.info("Pick two different configurations.", icon=":material/compare_arrows:")
        return
    rows, test = jm.compare(results, first, second, metric)
    name_a, name_b = jd.config_name(first), jd.config_name(second)
    sentence = jm.verdict(test, name_a, name_b, jm.metric_label(metric, results.k))
    box = st.success if test.significant and test.diff > 0 else st.warning if test.significant else st.info
    box(literal(sentence), icon=":material/balance:")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"{name_a} (mean)", f"{test.mean_a:.3f}")
    m2.metric(f"{name_b} (mean)", f"{test.mean_b:.3f}",
              delta=f"{test.diff:+.3f}" if abs(test.diff) > jm.TIE_TOLERANCE else None)
    m3.metric("95% interval of the difference",
              "n/a" if test.ci_low is None else f"{test.ci_low:+.2f} to {test.ci_high:+.2f}")
    m4.metric("p (paired permutation test)", "n/a" if test.p_value is None else f"{test.p_value:.3g}")
    frame = pd.DataFrame(jm.comparison_table(rows, name_a, name_b))
    with st.expander(f"Per query: {jm.metric_label(metric, results.k)} of {name_a} and {name_b}"):
        st.dataframe(frame, hide_index=True, key="judge.per_query")
        download_table(frame, f"{exp.collection}-{name_a}-vs-{name_b}", key="judge.dl_per_query")


def _agreement(judgments: list[jd.Judgment]) -> None:
    st.subheader("Agreement between raters")
    pairs, group = jm.agreement(judgments)
    people = [r for r, kind in jd.raters(judgments).items() if kind == jd.PERSON]
    st.caption(literal(jm.agreement_sentence(group, pairs, people)))
    if pairs:
        frame = pd.DataFrame(jm.agreement_table(pairs))
        st.dataframe(frame, hide_index=True, key="judge.agreement")
        st.caption("Cohen's kappa over the chunks both raters graded (scikit-learn); the weighted kappa counts a "
                   "0 vs 2 disagreement twice a 0 vs 1. Readings after Landis and Koch (1977).")


def _exports(store: jd.JudgmentStore, exp: jd.Experiment, results: jm.Results, judgments: list[jd.Judgment],
             table: pd.DataFrame) -> None:
    st.subheader("Export")
    grades = results.grades
    try:
        labelled = jd.labelled_set(exp, grades, store.chunk_texts(exp.collection))
    except jd.JudgeError as exc:
        st.error(literal(error_text(exc)), icon=":material/error:")
        return
    base = f"{exp.collection}-{exp.id}"
    st.caption(f"Grades from: {literal(_source_label(results.source, jd.raters(judgments)))}. The qrels and runs are TREC "
               "files (trec_eval, ir_measures); the labelled set (judged chunks as the corpus, queries with graded "
               "relevance) is read as it is by the Evaluate page and `python -m embedlab.evaluate`.")
    row = st.container(horizontal=True)
    row.download_button("TREC qrels", lambda: "".join(jd.qrels_lines(exp, grades)).encode("utf-8"),
                       file_name=f"{base}.qrels", mime="text/plain", key="judge.dl_qrels", on_click="ignore")
    row.download_button("TREC runs", lambda: "".join(jd.run_lines(exp, store.runs(exp.id))).encode("utf-8"),
                       file_name=f"{base}.runs", mime="text/plain", key="judge.dl_runs", on_click="ignore")
    row.download_button("Corpus JSONL", labelled.corpus.encode("utf-8"), file_name=f"{base}.corpus.jsonl",
                       mime="application/jsonl", key="judge.dl_corpus", on_click="ignore",
                       disabled=not labelled.query_count)
    row.download_button("Queries JSONL", labelled.queries.encode("utf-8"), file_name=f"{base}.queries.jsonl",
                       mime="application/jsonl", key="judge.dl_queries", on_click="ignore",
                       disabled=not labelled.query_count)
    row.download_button("Results JSON", lambda: json.dumps(
        jm.report(results, judgments, ss[S.JUDGE_A], ss[S.JUDGE_B], ss[S.JUDGE_METRIC]), ensure_ascii=False,
        indent=2).encode("utf-8"), file_name=f"{base}-results.json", mime="application/json",
        key="judge.dl_json", on_click="ignore")
    with row:
        download_table(table, f"{base}-results", key="judge.dl_results", label="Results CSV")
    if labelled.dropped:
        st.caption(f"The labelled set leaves out {len(labelled.dropped)} judged quer"
                   f"{'y' if len(labelled.dropped) == 1 else 'ies'} without a relevant chunk: the Evaluate page needs "
                   "at least one per query.")


def _import(store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    with st.expander("Import qrels", icon=":material/upload_file:"):
        st.caption("TREC qrels (`qid 0 docno grade`) with this experiment's query ids and chunk keys, e.g. an "
                   "export edited elsewhere; the grades are kept under the rater name below.")
        upload = st.file_uploader("qrels file", type=["qrels", "txt", "tsv"], key=S.JUDGE_IMPORT_FILE)
        st.text_input("Rater name for the imported grades", key=S.JUDGE_IMPORT_RATER, persist_state="session",
                      max_chars=jd.MAX_RATER_CHARS)
        if not st.button("Import grades", key="judge.import", disabled=upload is None):
            return
        try:
            rater = jd.validate_rater(ss[S.JUDGE_IMPORT_RATER])
            parsed = jd.parse_qrels(upload.getvalue(), exp, set(store.chunk_texts(exp.collection)))
        except jd.JudgeError as exc:
            st.error(literal(error_text(exc)), icon=":material/error:")
            return
        store.import_grades(exp.collection, parsed.rows, rater)
        ss[S.JUDGE_FLASH] = [("success", f"Imported {len(parsed.rows)} grade(s) as {literal(rater)}; left out "
                                         f"{parsed.unknown_queries} line(s) of other queries and "
                                         f"{parsed.unknown_chunks} of unknown chunks.")]
        st.rerun()
