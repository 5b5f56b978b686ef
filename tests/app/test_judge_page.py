"""The Judge page in AppTest against the stand-in server: set up an experiment on a Search
collection, judge its pools blind as two raters (skip, undo, resume), read the results, agreement
and exports; the LLM judge option against a scripted chat server; bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score
from streamlit.testing.v1 import AppTest

from components.i18n import translations
from components.widgets import literal as esc
from embedlab import judge_metrics as jm
from embedlab import judgments as jd
from embedlab.evaluation import datasets as evaluation
from tests.app.test_search_page import create_and_fill
from tests.support.apptest import SEARCH, open_page
from tests.support.rerank_server import RerankServer
from tests.support.untranslated import untranslated
from tests.unit.test_judgments import ChatServer

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "5_Judge.py")
QUERIES = ["How many days of annual leave do I get?", "Can I claim a taxi after working late?",
           "产假有多少天？"]


def judge_page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


@pytest.fixture
def collection(app_env) -> str:
    """hr_policy_v1 built from the bundled HR sample (14 chunks) through the Search page."""
    search = open_page(SEARCH, 120)
    create_and_fill(search)
    assert not search.exception and any("14 added" in s.value for s in search.success)
    return "hr_policy_v1"


def build_experiment(at: AppTest, queries=QUERIES, k: int = 3) -> None:
    at.radio(key="judge.w.query_source").set_value("Type them").run()
    at.text_area(key="judge.w.queries").input("\n".join(queries))
    at.number_input(key="judge.w.k").set_value(k)
    at.button(key="judge.build").click().run()


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def progress_line(at: AppTest) -> str:
    return next(p.proto.text for p in at.get("progress") if " judged by " in p.proto.text)


def judge_all(at: AppTest, grade_of) -> int:
    """Press a grade button until the pool is done; grade_of(chunk text) -> grade. Returns presses."""
    presses = 0
    while any(b.key == "judge.grade_0" for b in at.button):
        chunk = next(m.value for m in at.markdown if m.value and not m.value.startswith(("#", "**")))
        at.button(key=f"judge.grade_{grade_of(chunk)}").click().run()
        assert not at.exception, texts(at.exception)
        presses += 1
    return presses


def store(app_env) -> jd.JudgmentStore:
    return jd.JudgmentStore.in_data_dir(app_env["PLAYGROUND_DATA_DIR"])


def test_the_whole_loop_set_up_judge_blind_resume_compare_export(collection, app_env):
    at = judge_page()
    assert not at.exception and at.expander[0].proto.expanded  # no experiment yet: the set-up is open
    # The guide's two configurations to start with; a third is added and removed again.
    table = at.dataframe[0].value
    assert list(table["instruction"]) == ["none", "the collection's"]
    assert list(table["input length"]) == ["full length", "≤2,048 tokens"]
    at.selectbox(key="judge.w.new_mode").set_value("bm25")
    at.button(key="FormSubmitter:judge.add_form-Add configuration").click().run()
    assert list(at.dataframe[0].value["mode"]) == ["dense", "dense", "BM25"]
    at.button(key="FormSubmitter:judge.add_form-Add configuration").click().run()
    assert any(esc("C and D are the same set-up") in e for e in texts(at.error))  # nothing added twice
    at.button(key="judge.remove_2").click().run()
    assert len(at.dataframe[0].value) == 2

    at.radio(key="judge.w.query_source").set_value("Type them").run()
    at.button(key="judge.build").click().run()
    assert any("No queries" in e for e in texts(at.error))
    build_experiment(at)
    assert not at.exception and not texts(at.error)
    [built] = [s for s in texts(at.success) if s.startswith("Built the pools")]
    exp = store(app_env).experiments(collection)[0]
    pool = store(app_env).pool(exp.id)
    assert f"{len(pool)} chunks to judge for 3 queries (top 3 of 2 configurations" in built
    assert exp.configs[1].instruction_name == "HR policy" and exp.configs[1].max_tokens == 2048
    assert any("this input length changes nothing here" in c for c in texts(at.caption))
    assert any(esc("Enter your name as rater") in i for i in texts(at.info))
    assert not [b for b in at.button if b.key == "judge.grade_2"]  # no judging without a name

    at.text_input(key="judge.w.rater").input("Ana").run()
    assert progress_line(at) == f"0 of {len(pool)} judged by Ana"
    first = pool[0]
    # The query as a heading and the chunk as text, both escaped (Streamlit trims the Markdown line breaks).
    assert f"#### {esc(first.query)}" in texts(at.markdown)
    assert any(m.replace("  \n", "\n") == esc(first.text).replace("  \n", "\n") for m in texts(at.markdown))
    # Nothing on the judging screen says which configuration found the chunk, or at which rank.
    screen = texts(at.caption) + texts(at.markdown)
    assert not any(re.search(r"\brank\b", t) or any(c.label in t for c in exp.configs) for t in screen)
    at.button(key="judge.grade_2").click().run()
    at.button(key="judge.skip").click().run()
    at.button(key="judge.grade_0").click().run()
    at.button(key="judge.undo").click().run()
    assert any(c.startswith("Undone: your grade 0") for c in texts(at.caption))
    assert progress_line(at) == f"1 of {len(pool)} judged by Ana"
    relevant = {"annual leave", "年假", "taxi", "出租车", "产假", "maternity"}

    def ana(chunk: str) -> int:
        return 2 if any(w in chunk.lower() for w in relevant) else 0

    judge_all(at, ana)
    assert any("the 1 you skipped" in i for i in texts(at.info))
    at.button(key="judge.unskip").click().run()
    judge_all(at, ana)
    assert any(f"You have judged all {len(pool)} pooled chunks" in s for s in texts(at.success))

    # Another person, another session: resumes nothing of Ana's, judges the same pools.
    bob = judge_page()
    bob.text_input(key="judge.w.rater").input("Bob").run()
    assert progress_line(bob) == f"0 of {len(pool)} judged by Bob"
    judge_all(bob, lambda chunk: 1 if "leave" in chunk.lower() or "假" in chunk else 0)
    again = judge_page()  # Ana comes back later
    again.text_input(key="judge.w.rater").input("Ana").run()
    assert progress_line(again) == f"{len(pool)} of {len(pool)} judged by Ana"

    again.session_state["judge.tabs"] = "Results and export"
    again.run()
    assert not again.exception
    judgments = store(app_env).judgments(collection, exp.queries)
    results = jm.results_from(exp, store(app_env).runs(exp.id), judgments, jd.PEOPLE)
    guide = next(df.value for df in again.dataframe if "accuracy (P@3)" in df.value.columns)
    assert list(guide.columns) == ["configuration", "instruction", "input length", "dimensions", "retrieval",
                                   "accuracy (P@3)"]
    assert list(guide["accuracy (P@3)"]) == [f"{s.metrics['precision']:.0%}" for s in results.configs]
    verdict = str(jm.verdict(jm.compare(results, 0, 1)[1], "A", "B", "P@3"))
    assert esc(verdict) in texts(again.info) + texts(again.success) + texts(again.warning)
    agreement = next(df.value for df in again.dataframe if "Cohen's kappa" in df.value.columns)
    ana_grades = {(j.query, j.chunk): j.grade for j in judgments if j.rater == "Ana"}
    bob_grades = {(j.query, j.chunk): j.grade for j in judgments if j.rater == "Bob"}
    pairs = sorted(ana_grades)
    expected = cohen_kappa_score([ana_grades[p] for p in pairs], [bob_grades[p] for p in pairs], labels=[0, 1, 2])
    assert agreement.loc[0, "rater A"] == "Ana" and agreement.loc[0, "pairs both graded"] == len(pool)
    assert agreement.loc[0, "Cohen's kappa"] == pytest.approx(round(expected, 3))
    # Only Ana's grades: another source, other figures.
    again.radio(key="judge.w.source").set_value("Ana").run()
    table = next(df.value for df in again.dataframe if "P@3" in df.value.columns)
    only_ana = jm.results_from(exp, store(app_env).runs(exp.id), judgments, "Ana")
    assert list(table["P@3"]) == [round(s.metrics["precision"], 4) for s in only_ana.configs]

    # Exports: the labelled set loads in the Evaluate code, the qrels match the grades.
    downloads = {b.proto.label: b for b in again.get("download_button")}
    assert {"TREC qrels", "TREC runs", "Corpus JSONL", "Queries JSONL", "Results JSON"} <= set(downloads)
    grades = jd.select_grades(judgments, "Ana")
    labelled = jd.labelled_set(exp, grades, store(app_env).chunk_texts(collection))
    if labelled.query_count:
        evaluation.load_labelled_set(labelled.corpus.encode(), labelled.queries.encode())


def test_two_sessions_judging_at_once_lose_nothing(collection, app_env):
    first = judge_page()
    build_experiment(first, QUERIES[:2], k=2)
    exp = store(app_env).experiments(collection)[0]
    pool = store(app_env).pool(exp.id)
    second = judge_page()
    for at, name in ((first, "Ana"), (second, "Bob")):
        at.text_input(key="judge.w.rater").input(name).run()
    presses = 0
    while any(b.key == "judge.grade_1" for b in first.button) or any(b.key == "judge.grade_1" for b in second.button):
        for at in (first, second):  # interleaved: each grade lands between the other session's
            if any(b.key == "judge.grade_1" for b in at.button):
                at.button(key="judge.grade_1").click().run()
                presses += 1
    assert presses == 2 * len(pool)
    current = store(app_env).judgments(collection)
    assert sorted((j.rater, j.query, j.chunk) for j in current) == sorted(
        (r, i.query, i.chunk) for r in ("Ana", "Bob") for i in pool)
    assert all(j.grade == 1 for j in current)


def test_the_llm_judge_is_absent_without_its_variables_and_a_rater_of_its_own_with_them(collection, app_env,
                                                                                           monkeypatch):
    at = judge_page()
    build_experiment(at, QUERIES[:2], k=2)
    at.text_input(key="judge.w.rater").input("Ana").run()
    assert not [e for e in at.expander if "LLM judge" in e.label]
    judge_all(at, lambda chunk: 2 if "leave" in chunk.lower() or "假" in chunk else 0)

    server = ChatServer("json")
    try:
        monkeypatch.setenv("JUDGE_BASE_URL", server.url)
        monkeypatch.setenv("JUDGE_MODEL", "qwen3-judge")
        at = judge_page()
        at.text_input(key="judge.w.rater").input("Ana").run()
        assert [e for e in at.expander if e.label == "LLM judge: " + esc("qwen3-judge")]
        [rate] = [b for b in at.button if b.key == "judge.llm_rate"]
        rate.click().run()
    finally:
        server.close()
    assert not at.exception
    exp = store(app_env).experiments(collection)[0]
    pool = store(app_env).pool(exp.id)
    assert any(f"The LLM judge rated {len(pool)} chunk(s)." == s for s in texts(at.success))
    assert len(server.requests) == len(pool)
    calls = next(df.value for df in at.dataframe if "prompt" in df.value.columns)
    assert len(calls) == len(pool) and calls["answer"].str.startswith('{"grade"').all()
    at.session_state["judge.tabs"] = "Results and export"
    at.run()
    assert at.radio(key="judge.w.source").options == [esc(o) for o in ("People (median of 1 rater)", "The LLM judge",
                                                                        "Only Ana")]
    agreement = next(df.value for df in at.dataframe if "Cohen's kappa" in df.value.columns)
    assert set(agreement["rater B"]) >= {jm.CONSENSUS}
    # The people's results do not move when the LLM judge rates.
    judgments = store(app_env).judgments(collection, exp.queries)
    people = jm.results_from(exp, store(app_env).runs(exp.id), judgments, jd.PEOPLE)
    table = next(df.value for df in at.dataframe if "P@2" in df.value.columns)
    assert list(table["P@2"]) == [round(s.metrics["precision"], 4) for s in people.configs]
    report = jm.report(people, judgments)
    assert json.dumps(report)  # JSON-ready


def test_uploaded_queries_bad_files_and_qrels_import(collection, app_env):
    at = judge_page()
    at.radio(key="judge.w.query_source").set_value("Upload a file").run()
    at.button(key="judge.build").click().run()
    assert any("Choose a file of queries" in w for w in texts(at.warning))
    at.file_uploader(key="judge.w.query_file").upload("q.csv", b"id,notes\n", "text/csv").run()
    at.button(key="judge.build").click().run()
    assert any(e.startswith(esc("q.csv:")) for e in texts(at.error))
    at.file_uploader(key="judge.w.query_file").upload(
        "q.csv", "id,question\n1,年假有几天？\n2,How do I book a hotel?\n".encode(), "text/csv").run()
    at.button(key="judge.build").click().run()
    assert not texts(at.error)
    exp = store(app_env).experiments(collection)[0]
    assert exp.queries == ("年假有几天？", "How do I book a hotel?")
    pool = store(app_env).pool(exp.id)
    qrels = "".join(f"{jd.query_id(i.query)} 0 {i.chunk} {n % 3}\n" for n, i in enumerate(pool))
    at.session_state["judge.tabs"] = "Results and export"
    at.run()
    at.file_uploader(key="judge.w.import_file").upload("bad.qrels", b"q1 0 d1\n", "text/plain").run()
    at.button(key="judge.import").click().run()
    assert any(esc("line 1: expected 4 fields") in e for e in texts(at.error))
    at.file_uploader(key="judge.w.import_file").upload("team.qrels", qrels.encode(), "text/plain").run()
    at.button(key="judge.import").click().run()
    assert any(f"Imported {len(pool)} grade(s) as qrels import" in s for s in texts(at.success))
    grades = jd.select_grades(store(app_env).judgments(collection), "qrels import")
    assert grades == {(i.query, i.chunk): n % 3 for n, i in enumerate(pool)}


def test_a_reranking_configuration_with_a_reranker_configured(collection, app_env, monkeypatch):
    at = judge_page()
    assert at.toggle(key="judge.w.new_rerank").proto.disabled  # no reranker configured: rerank cannot be chosen
    server = RerankServer()
    try:
        monkeypatch.setenv("RERANK_BASE_URL", server.url + "/v1")
        at = judge_page()
        at.selectbox(key="judge.w.new_instruction").set_value("HR policy")
        at.toggle(key="judge.w.new_rerank").set_value(True)
        at.button(key="FormSubmitter:judge.add_form-Add configuration").click().run()
        assert list(at.dataframe[0].value["rerank"]) == ["no", "no", "yes"]
        build_experiment(at, QUERIES[:2], k=3)
    finally:
        server.close()
    assert not at.exception and not texts(at.error)
    exp = store(app_env).experiments(collection)[0]
    assert exp.configs[2].rerank and exp.configs[2].instruction_name == "HR policy"
    assert [r["query"] for r in server.requests] == QUERIES[:2]  # the bare questions, once per query
    assert all(len(r["documents"]) == 14 for r in server.requests)  # every chunk (fewer than 50) is a candidate


def test_in_chinese_the_page_without_a_collection_is_translated(app_env):
    from types import SimpleNamespace

    from streamlit.testing.v1 import AppTest

    from tests.support.apptest import ROOT
    from tests.support.untranslated import untranslated

    at = AppTest.from_file(str(ROOT / "pages/5_Judge.py"), default_timeout=60)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value == "人工评判检索结果"
    assert any(i.value.startswith("还没有集合") for i in at.info)
    assert untranslated(SimpleNamespace(_tree=at.main)) == {}  # the page's own area (the sidebar is tested with it)


def test_the_judge_page_in_chinese_after_set_up_grading_and_results(collection, app_env):
    """Drawn in Chinese, the set-up, judging screen, results, verdict and agreement show no English UI text."""
    zh = translations("zh").gettext
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception and untranslated_here(at) == {}
    build_experiment(at, QUERIES[:2], k=2)
    assert not at.exception and untranslated_here(at) == {}
    at.text_input(key="judge.w.rater").input("Ana").run()
    pool = store(app_env).pool(store(app_env).experiments(collection)[0].id)
    assert progress_line_zh(at) == zh("{n} of {total} judged by {rater}").format(n=0, total=len(pool), rater="Ana")
    at.button(key="judge.grade_2").click().run()
    at.button(key="judge.skip").click().run()
    assert not at.exception and untranslated_here(at) == {}
    judge_all(at, lambda chunk: 2 if "leave" in chunk.lower() or "假" in chunk else 0)
    other = AppTest.from_file(PAGE, default_timeout=120)  # a second rater, for the agreement figures
    other.query_params["lang"] = "zh"
    other.run()
    other.text_input(key="judge.w.rater").input("Bob").run()
    judge_all(other, lambda chunk: 1 if "taxi" in chunk.lower() else 0)
    at.session_state["judge.tabs"] = zh("Results and export")
    at.run()
    assert not at.exception and zh("Export") in at.subheader.values
    assert any(zh("Agreement between raters") == s for s in at.subheader.values)
    assert untranslated_here(at) == {}


def untranslated_here(at: AppTest) -> dict[str, str]:
    """English UI text in the page's own area; the preset instruction names and tasks (embedlab/instructions.py)
    are names and stay English on purpose, the sidebar is tested with its own owner."""
    from types import SimpleNamespace

    names = (ROOT / "embedlab" / "instructions.py").read_text(encoding="utf-8")
    # Names kept in both languages: a statistic, a library, file formats and their fields, and the
    # import's default rater name (stored with the grades, so not a UI text).
    terms = frozenset({"Cohen's kappa", "scikit-learn", "TREC qrels", "TREC runs", "docno grade", "qrels import"})
    return {p: seen for p, seen in untranslated(SimpleNamespace(_tree=at.main), terms).items() if p not in names}


def progress_line_zh(at: AppTest) -> str:
    return next(p.proto.text for p in at.get("progress") if "已评判" in p.proto.text)
