"""Judge page: rate pooled search results blind, then see which configuration retrieves better for
this collection (P@k, nDCG@k, MRR, coverage, a paired test, rater agreement), and export the
judgments as TREC qrels or a labelled set. The work is in embedlab.judgments / judge_metrics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import state as S
from components.i18n import _, label_func, tr
from components.instruction_picker import NO_INSTRUCTION, display_name
from components.page import PageContext
from components.views.judge import results
from components.views.judge.labels import dimensions_label, instruction_label, length_label
from components.widgets import download_table, ensure_local_model, error_text, literal, show_error
from embedlab import judgments as jd
from embedlab import llm_judge
from embedlab.backends import EmbeddingError
from embedlab.messages import N_, Message
from embedlab.rerank import RerankClient
from embedlab.stores.base import CollectionSpec, StoreError
from embedlab.text import one_line

ss = st.session_state
QUERY_SOURCES = {"Type them": N_("Type them"), "Upload a file": N_("Upload a file"),
                 "Bundled set": N_("Bundled set")}  # stable keys (kept in session state): labels
TABS = [N_("Judge"), N_("Results and export")]
GRADE_BUTTONS = ((0, N_("0 · Not relevant")), (1, N_("1 · Partly relevant")), (2, N_("2 · Relevant")))


@st.cache_resource(show_spinner=False)
def _judgment_store(data_dir: str) -> jd.JudgmentStore:
    # One per data directory and process: opening it creates the tables (a write transaction).
    return jd.JudgmentStore.in_data_dir(data_dir)


def render(ctx: PageContext) -> None:
    _header()
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
        instruction=literal(display_name(spec.instruction_name)) if spec.instruction_name else _("none")))
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
    titles = {i: _experiment_title(e) for i, e in by_id.items()}
    exp = by_id[st.selectbox(_("Experiment"), list(by_id), format_func=titles.__getitem__, key=S.JUDGE_EXPERIMENT,
                             persist_state="session")]
    _describe(store, exp)
    st.text_input(_("Your name (rater)"), key=S.JUDGE_RATER, persist_state="session", max_chars=jd.MAX_RATER_CHARS,
                  placeholder=_("e.g. Ana"), help=_("Each person judges under their own name; the same name resumes "
                                                    "where you stopped, in this or any later session."))
    labels = [_(t) for t in TABS]
    judge_tab, results_tab = st.tabs(labels, key="judge.tabs", on_change="rerun", default=labels[0])
    if judge_tab.open:
        with judge_tab:
            _judge(store, exp)
            _llm_panel(store, exp)
    if results_tab.open:
        with results_tab:
            results.render(ctx, store, exp)


def _header() -> None:
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


def _experiment_title(exp: jd.Experiment) -> str:
    return _("#{id} {name} · {n} queries · {created}").format(
        id=exp.id, name=exp.name, n=len(exp.queries), created=exp.created_at[:16].replace("T", " "))


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
    return pd.DataFrame([{_("configuration"): jd.config_name(i), _("instruction"): instruction_label(c),
                          _("input length"): length_label(c.max_tokens), _("dimensions"): dimensions_label(c),
                          _("mode"): _(jd.MODE_LABELS[c.mode]), _("rerank"): _("yes") if c.rerank else _("no")}
                         for i, c in enumerate(configs)])


def _bundled_label(name: str, sample: str, labelled: str) -> str:
    """A bundled query set's name (or description) in the session's language."""
    for suffix, message in ((" sample questions", sample), (" queries", labelled)):
        if name.endswith(suffix):
            return message.format(name=name.removesuffix(suffix))
    return name


def _query_source(spec: CollectionSpec) -> None:
    st.markdown(_("**Queries**"))
    source = st.radio(_("Queries from"), list(QUERY_SOURCES), horizontal=True, key=S.JUDGE_QUERY_SOURCE,
                      format_func=label_func(QUERY_SOURCES), persist_state="session", label_visibility="collapsed")
    if source == "Type them":
        st.text_area(_("Queries, one per line"), height=140, key=S.JUDGE_QUERIES, persist_state="session",
                     placeholder=_("How do I get approval for a penetration test?\nWho may use the vulnerability "
                                   "scanner?"))
    elif source == "Upload a file":
        st.file_uploader(_("Queries (.txt one per line; .csv or .jsonl with a query, question or text column)"),
                         type=["txt", "csv", "tsv", "jsonl"], key=S.JUDGE_QUERY_FILE)
    else:
        sets = jd.bundled_query_sets()
        guess = jd.bundled_for_collection(spec.name)
        if S.JUDGE_BUNDLED not in ss and guess:
            ss[S.JUDGE_BUNDLED] = guess
        names = {n: _bundled_label(n, _("{name} sample questions"), _("{name} queries")) for n in sets}
        picked = st.selectbox(_("Bundled set"), list(sets), format_func=names.__getitem__, key=S.JUDGE_BUNDLED,
                              persist_state="session")
        what = _bundled_label(picked, _("questions of the {name} sample collection"),
                              _("queries of the labelled set {name} (Evaluate page)"))
        st.caption(_("{what}. They fit a collection made from the same corpus.").format(what=literal(what)))


def _setup(ctx: PageContext, store: jd.JudgmentStore, spec: CollectionSpec, count: int) -> None:
    _query_source(spec)
    st.markdown(_("**Configurations** (two to four; A is the baseline)"))
    configs = _configs()
    st.dataframe(_config_rows(configs), hide_index=True, key="judge.config_table")
    with st.container(horizontal=True):
        for i in range(len(configs)):
            st.button(_("Remove {name}").format(name=jd.config_name(i)), key=f"judge.remove_{i}",
                      on_click=_remove_config, args=(i,), disabled=len(configs) <= jd.MIN_CONFIGS)
        st.button(_("Back to the guide's two"), key="judge.reset_configs", on_click=_reset_configs,
                  help=_("A: no instruction, full-length inputs; B: the collection's instruction, inputs of at most "
                         "2,048 tokens (the tuning guide's experiment)."))
    _add_config_form(ctx, spec, configs)
    st.caption(_(
        "Input length: each chunk is embedded from its first N tokens (exact Qwen tokenizer) instead of its whole "
        "text; chunks already within N tokens keep their stored vectors, longer ones are embedded once through "
        "the cache. Every configuration ranks the same chunks, so one grade serves all of them. To compare chunk "
        "sizes instead, ingest the documents into two collections and run an experiment on each."
    ))
    a, b = st.columns(2)
    a.number_input(_("Depth k (top k of each configuration)"), 1, jd.MAX_K, key=S.JUDGE_K, persist_state="session",
                   help=_("The tuning guide judged the top 5."))
    b.text_input(_("Experiment name (optional)"), key=S.JUDGE_NAME, persist_state="session", max_chars=80,
                 placeholder=_("e.g. instruction + 2,048 tokens vs plain"))
    if st.button(_("Build pools"), key="judge.build", type="primary",
                 help=_("Retrieves every configuration's top k for every query from the {n} chunks.").format(
                     n=f"{count:,}")):
        _build(ctx, store, spec, configs)


def _add_config_form(ctx: PageContext, spec: CollectionSpec, configs: list[jd.JudgeConfig]) -> None:
    instructions = {NO_INSTRUCTION: "", jd.COLLECTION_INSTRUCTION: "",
                    **{i.name: i.task for i in ctx.library.all()}}
    dims = [0, *(d for d in jd.DIMENSION_CHOICES if d and d < spec.dim)]  # 0 = full
    lengths = [t or 0 for t in jd.LENGTH_CHOICES]  # 0 = full length
    S.keep_valid(S.JUDGE_NEW_INSTRUCTION, list(instructions), fallback=NO_INSTRUCTION)
    S.keep_valid(S.JUDGE_NEW_DIMS, dims, fallback=0)
    can_rerank = bool(ctx.settings.rerank_base_url)
    length_names = {t: length_label(t) for t in lengths}
    dim_names = {d: f"{d}" if d else _("full ({dim})").format(dim=spec.dim) for d in dims}
    instruction_names = {**{n: display_name(n) for n in instructions}, NO_INSTRUCTION: _("(no instruction)"),
                         jd.COLLECTION_INSTRUCTION: _("(the collection's instruction)")}
    with st.form("judge.add_form", border=True):
        st.markdown(_("**Add a configuration**"))
        a, b, c = st.columns(3)
        a.selectbox(_("Instruction"), list(instructions), key=S.JUDGE_NEW_INSTRUCTION, persist_state="session",
                    format_func=instruction_names.__getitem__,
                    help=_("Queries are sent as `Instruct: {task}\\nQuery:{query}`; chunks as they are."))
        b.selectbox(_("Input length"), lengths, key=S.JUDGE_NEW_LENGTH, persist_state="session",
                    format_func=length_names.__getitem__)
        c.selectbox(_("Dimensions (Matryoshka)"), dims, key=S.JUDGE_NEW_DIMS, persist_state="session",
                    format_func=dim_names.__getitem__)
        a, b = st.columns(2)
        a.selectbox(_("Retrieval"), jd.MODES, key=S.JUDGE_NEW_MODE, persist_state="session",
                    format_func=label_func(jd.MODE_LABELS),
                    help=_("BM25 reads the bare query (no instruction, no vectors); hybrid fuses dense and BM25."))
        b.toggle(_("Rerank"), key=S.JUDGE_NEW_RERANK, persist_state="session", disabled=not can_rerank,
                 help=(_("The top {n} go to {model}, which picks the top k.").format(
                     n=jd.RERANK_FETCH, model=literal(ctx.settings.rerank_model) if ctx.settings.rerank_model
                     else _("the reranker")) if can_rerank
                     else _("Set RERANK_BASE_URL (and RERANK_MODEL) to rerank.")))
        added = st.form_submit_button(_("Add configuration"), disabled=len(configs) >= jd.MAX_CONFIGS)
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
                st.warning(_("Choose a file of queries first."), icon=":material/upload_file:")
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
    bar = st.progress(0.0, text=_("Preparing"))

    def progress(stage: Message, done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=_("{stage}: {done} / {total}").format(
            stage=literal(tr(stage)), done=f"{done:,}", total=f"{total:,}"))

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
    ss[S.JUDGE_FLASH] = [("success", _(
        "Built the pools of {name}: {chunks} chunks to judge for {queries} queries (top {k} of {configs} "
        "configurations, each chunk once).").format(name=literal(exp.name), chunks=f"{len(built.items):,}",
                                                    queries=len(built.queries), k=built.k, configs=len(built.configs)))]
    st.rerun()


def _describe(store: jd.JudgmentStore, exp: jd.Experiment) -> None:
    with st.expander(_("Configurations of {name} (top {k})").format(name=literal(exp.name), k=exp.k),
                     icon=":material/tune:"):
        st.dataframe(_config_rows(list(exp.configs)), hide_index=True, key="judge.exp_configs")
        for note in store.notes(exp.id):
            st.caption(literal(tr(note)))
        st.caption(_("Model {model} · built {created} UTC · {n} queries.").format(
            model=literal(exp.model.split("@", 1)[0]), created=exp.created_at[:16].replace("T", " "),
            n=len(exp.queries)))


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
    ss[S.JUDGE_LAST] = _("Saved {grade} ({label}) for “{text}”.").format(
        grade=grade, label=_(jd.GRADE_LABELS[grade]), text=literal(one_line(item.text, 60)))


def _skip(exp: jd.Experiment, item: jd.PoolItem, rater: str) -> None:
    skipped = dict(ss[S.JUDGE_SKIPPED])
    skipped[(exp.id, rater)] = [*skipped.get((exp.id, rater), []), (item.query, item.chunk)]
    ss[S.JUDGE_SKIPPED] = skipped
    ss[S.JUDGE_LAST] = _("Skipped: it comes back once every other chunk is judged.")


def _undo(store: jd.JudgmentStore, exp: jd.Experiment, rater: str) -> None:
    undone = store.undo(exp.collection, rater)
    if undone is None:
        ss[S.JUDGE_LAST] = _("Nothing to undo: you have no judgment in this collection.")
        return
    skipped = dict(ss[S.JUDGE_SKIPPED])
    skipped[(exp.id, rater)] = [p for p in skipped.get((exp.id, rater), []) if p != (undone.query, undone.chunk)]
    ss[S.JUDGE_SKIPPED] = skipped
    ss[S.JUDGE_LAST] = _("Undone: your grade {grade} ({label}) for a chunk of “{query}”.").format(
        grade=undone.grade, label=_(jd.GRADE_LABELS[undone.grade]), query=literal(one_line(undone.query, 60)))


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
    st.progress(judged / max(len(pool), 1), text=_("{n} of {total} judged by {rater}").format(
        n=judged, total=len(pool), rater=literal(rater)))
    skipped = _skipped(exp, rater)
    item = jd.next_item(pool, done, skipped)
    if item is None:
        if skipped:
            st.info(_("Every chunk is judged except the {n} you skipped.").format(n=len(skipped)),
                    icon=":material/skip_next:")
            st.button(_("Judge the skipped ones now"), key="judge.unskip", on_click=_clear_skipped, args=(exp, rater))
        else:
            st.success(_("You have judged all {n} pooled chunks of this experiment: see the results in the "
                         "next tab.").format(n=len(pool)), icon=":material/task_alt:")
        st.button(_("Undo my last judgment"), key="judge.undo", on_click=_undo, args=(store, exp, rater), shortcut="U")
        _last_action()
        return
    in_query = [i for i in pool if i.query == item.query]
    number = exp.queries.index(item.query) + 1
    st.caption(_("Query {number} of {queries} · chunk {position} of {chunks} for this query (in a random order; "
                 "which configuration found it is not shown)").format(
        number=number, queries=len(exp.queries), position=item.position + 1, chunks=len(in_query)))
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
        col.button(_(label), key=f"judge.grade_{grade}", on_click=_grade, args=(store, exp, item, rater, grade),
                   shortcut=str(grade), type="primary" if grade == 2 else "secondary", width="stretch")
    cols[3].button(_("Skip"), key="judge.skip", on_click=_skip, args=(exp, item, rater), shortcut="S", width="stretch")
    cols[4].button(_("Undo"), key="judge.undo", on_click=_undo, args=(store, exp, rater), shortcut="U", width="stretch",
                   disabled=not done)
    _last_action()
    st.caption(_("Keys: 0, 1, 2 grade the chunk · S skips it · U undoes your last grade. 2 = relevant (answers the "
                 "query), 1 = partly relevant (on topic, part of an answer), 0 = not relevant. Every grade is saved "
                 "at once: come back later under the same name to go on."))


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
    with st.expander(_("LLM judge: {model}").format(model=literal(settings.model)), icon=":material/smart_toy:"):
        url = settings.public_url.replace("`", "%60")  # in a code span: shown as it is, never a link
        st.caption(_("{model} at `{url}` can pre-rate this experiment's pools as one more rater, “{rater}”. Its "
                     "grades are kept apart from people's: the results use people's grades unless you choose the "
                     "LLM judge as the source, and show how far it agrees with them. Every prompt and answer is "
                     "stored.").format(model=literal(settings.model), url=url, rater=literal(settings.rater)))
        if not todo:
            st.caption(_("It has rated all {n} pooled chunks.").format(n=len(pool)))
        elif st.button(_("Pre-rate {n} of {total} pooled chunks with the LLM judge").format(n=len(todo), total=len(pool)),
                       key="judge.llm_rate"):
            bar = st.progress(0.0, text=_("Asking the LLM judge"))

            def progress(done: int, total: int) -> None:
                bar.progress(done / max(total, 1), text=_("Asking the LLM judge: {done} / {total}").format(
                    done=done, total=total))

            try:
                calls = llm_judge.rate_items(llm_judge.LLMJudge(settings), todo,
                                             lambda call: store.record_llm(exp.collection, call), progress)
            except llm_judge.JudgeUnavailable as exc:
                bar.empty()
                st.error(literal(error_text(exc)), icon=":material/error:")
                return
            bar.empty()
            failed = sum(c.grade is None for c in calls)
            rated_text = (_("The LLM judge rated {n} chunk(s); {failed} answer(s) held no grade (kept below).")
                          if failed else _("The LLM judge rated {n} chunk(s)."))
            st.success(rated_text.format(n=len(calls) - failed, failed=failed), icon=":material/smart_toy:")
        calls = [c for c in store.llm_calls(exp.collection) if c.query in exp.queries]
        if calls:
            frame = pd.DataFrame([{"query": c.query, "chunk": c.chunk, "grade": c.grade, "error": c.error,
                                   "answer": c.answer, "prompt": c.prompt} for c in calls])
            st.dataframe(frame.rename(columns={
                "query": _("query"), "chunk": _("chunk"), "grade": _("grade"), "error": _("error"),
                "answer": _("answer"), "prompt": _("prompt")}), hide_index=True,
                         key="judge.llm_calls")
            download_table(frame, f"{exp.collection}-llm-judge", key="judge.dl_llm")
