"""Pooled blind judgments on a real embedded Chroma: pools, input lengths, dimensions and rerank
through the Search page's retrieval; SQLite persistence shared by processes; the figures against
trec_eval (ir_measures); the paired test, kappas, exports read by the Evaluate code, qrels import,
the CLI and the LLM judge against a scripted chat server."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import ir_measures
import numpy as np
import pytest
from ir_measures import RR, P, nDCG
from sklearn.metrics import cohen_kappa_score

from embedlab import judge, llm_judge, retrieval
from embedlab import judge_metrics as jm
from embedlab import judgments as jd
from embedlab.backends import normalize_rows
from embedlab.evaluation import datasets as evaluation
from embedlab.ingest import Document, chunk_documents, ingest
from embedlab.instructions import format_query
from embedlab.keyword import IndexCache
from embedlab.rerank import RerankClient
from embedlab.significance import paired_test
from embedlab.stores.base import CollectionSpec, ModelMismatch
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support.jsonserver import JsonServer
from tests.support.rerank_server import RerankServer, overlap_score
from tests.support.word_embedder import HR_CHUNKS, HR_TASK, WordEmbedder

ROOT = Path(__file__).resolve().parents[2]
NAME = "hr_judge_v1"
LONG = ("Remote work rules: staff may work from home two days a week with their manager's consent, "
        "must be reachable in core hours from ten to four, use the company VPN for every connection, "
        "keep printed documents locked away, and report a lost laptop to security within one hour.")
QUERIES = ["how many days of annual leave do I get", "taxi home after working late", "lock the laptop screen",
           "can I work from home", "hotel costs on a business trip"]


def documents() -> list[Document]:
    by_source: dict[str, list[str]] = {}
    for source, text in HR_CHUNKS:
        by_source.setdefault(source, []).append(text)
    docs = [Document(s, "\n\n".join(t)) for s, t in by_source.items()]
    return docs + [Document("remote.md", LONG)]


def records(docs: list[Document] | None = None):
    """One chunk per HR sentence (11-16 tokens) and the remote-work note whole (55 tokens)."""
    docs = docs or documents()
    return (chunk_documents([d for d in docs if d.source != "remote.md"], "recursive", max_tokens=20)
            + chunk_documents([d for d in docs if d.source == "remote.md"], "recursive", max_tokens=208))


@pytest.fixture
def embedder() -> WordEmbedder:
    return WordEmbedder()


@pytest.fixture
def store(tmp_path, embedder) -> ChromaStore:
    store = ChromaStore(open_client(path=str(tmp_path / "chroma")))
    store.create(CollectionSpec(NAME, embedder.model_id, embedder.dim, "HR policy", HR_TASK))
    assert ingest(store, NAME, embedder, records()).ok
    embedder.calls.clear()
    return store


@pytest.fixture
def jstore(tmp_path) -> jd.JudgmentStore:
    return jd.JudgmentStore(tmp_path / "data" / jd.DB_FILE)


def build(store, embedder, configs=None, k=3, **kw) -> jd.PoolBuild:
    return jd.build_pools(store, store.spec(NAME), embedder, QUERIES, configs or jd.guide_configs(), k,
                          cache=IndexCache(), seed=kw.pop("seed", 7), **kw)


def ranking(vectors: np.ndarray, texts: list[str], query_vector: np.ndarray) -> list[str]:
    order = np.argsort(-(vectors @ query_vector), kind="stable")
    return [jd.chunk_key(texts[i]) for i in order]


# -- pools -----------------------------------------------------------------------------------
def test_pools_are_the_union_of_every_top_k_in_a_seeded_blind_order(store, embedder):
    configs = [jd.JudgeConfig(), jd.JudgeConfig(jd.COLLECTION_INSTRUCTION), jd.JudgeConfig(mode="bm25")]
    built = build(store, embedder, configs)
    records = store.get_records(NAME, include_embeddings=True)
    texts = [r["text"] for r in records]
    vectors = np.asarray([r["embedding"] for r in records], dtype=np.float32)
    assert built.configs[1].instruction == HR_TASK and built.configs[1].instruction_name == "HR policy"
    for query in QUERIES:
        # A: plain query, B: the collection's instruction; both exact cosine over the stored vectors.
        plain = ranking(vectors, texts, embedder.embed([query])[0])[:3]
        instructed = ranking(vectors, texts, embedder.embed([format_query(HR_TASK, query)])[0])[:3]
        assert [c for c, _ in built.runs[0][query]] == plain
        assert [c for c, _ in built.runs[1][query]] == instructed
        pooled = [it for it in built.items if it.query == query]
        assert {it.chunk for it in pooled} == {c for run in built.runs for c, _ in run[query]}
        assert sorted(it.position for it in pooled) == list(range(len(pooled)))
        assert all(jd.chunk_key(it.text) == it.chunk and it.text in texts for it in pooled)
    # The order is random (not the sorted keys nor any configuration's order) but fixed by the seed.
    again = build(store, embedder, configs)
    assert [(i.query, i.chunk) for i in again.items] == [(i.query, i.chunk) for i in built.items]
    other = build(store, embedder, configs, seed=8)
    assert [(i.query, i.chunk) for i in other.items] != [(i.query, i.chunk) for i in built.items]
    # Nothing a rater is shown names a configuration.
    assert set(jd.PoolItem.__dataclass_fields__) == {"query", "chunk", "position", "chunk_id", "source", "text",
                                                     "before", "after"}


def test_an_input_length_reembeds_only_the_longer_chunks_and_ranks_the_same_chunks(store, embedder):
    built = build(store, embedder, [jd.JudgeConfig(), jd.JudgeConfig(max_tokens=20)])
    long = [r for r in store.get_records(NAME) if r["metadata"]["source"] == "remote.md"]
    assert len(long) == 1  # the remote-work note is one chunk of more than 20 tokens; the others are shorter
    from embedlab.tokens import count_tokens, truncate

    cut = truncate(long[0]["text"], 20)
    assert count_tokens(cut) <= 20 < count_tokens(long[0]["text"])
    embedded = [t for call in embedder.calls for t in call]
    assert cut in embedded and not any(t == long[0]["text"] for t in embedded)  # only the cut text was embedded
    assert [str(n) for n in built.notes] == ["B: 1 of 8 chunks are longer than 20 tokens and were embedded from their start."]
    # B ranks by the cut vector: "work from home" (only at the start of the note) still finds it,
    # "report a lost laptop" (only in its cut-off end) finds it under A but not first under B.
    query = "can I work from home"
    assert built.runs[0][query][0][0] == built.runs[1][query][0][0] == jd.chunk_key(long[0]["text"])
    records = store.get_records(NAME, include_embeddings=True)
    vectors = np.asarray([r["embedding"] for r in records], dtype=np.float32)
    texts = [r["text"] for r in records]
    side = vectors.copy()
    side[[i for i, t in enumerate(texts) if t == long[0]["text"]]] = embedder.embed([cut])
    for q in QUERIES:
        assert [c for c, _ in built.runs[1][q]] == ranking(side, texts, embedder.embed([q])[0])[:3]
    # The pool shows the whole chunk, not the cut input.
    assert {it.text for it in built.items if it.source == "remote.md"} == {long[0]["text"]}
    same_length = build(store, embedder, [jd.JudgeConfig(), jd.JudgeConfig(max_tokens=2048)])
    assert [str(n) for n in same_length.notes] == ["B: 0 of 8 chunks are longer than 2,048 tokens and were embedded from their start: "
                                 "this input length changes nothing here."]


def test_dimensions_cut_both_sides_and_rerank_reorders_the_candidates(store, embedder):
    server = RerankServer()
    try:
        configs = [jd.JudgeConfig(dimensions=16), jd.JudgeConfig(rerank=True), jd.JudgeConfig(mode="hybrid-rrf")]
        built = build(store, embedder, configs, reranker=RerankClient(server.url + "/v1"))
    finally:
        server.close()
    records = store.get_records(NAME, include_embeddings=True)
    texts = [r["text"] for r in records]
    vectors = np.asarray([r["embedding"] for r in records], dtype=np.float32)
    for query in QUERIES:
        q = embedder.embed([query])
        assert [c for c, _ in built.runs[0][query]] == ranking(normalize_rows(vectors, 16), texts,
                                                               normalize_rows(q, 16)[0])[:3]
        # The reranker scores word overlap with the bare query over every candidate (8 < RERANK_FETCH).
        candidates = ranking(vectors, texts, q[0])
        by_key = {jd.chunk_key(t): t for t in texts}
        scores = [overlap_score(query, by_key[c]) for c in candidates]
        expected = [candidates[i] for i in sorted(range(len(candidates)), key=lambda i: -scores[i])][:3]
        assert [c for c, _ in built.runs[1][query]] == expected
        assert len(built.runs[2][query]) == 3
    assert all(len(r["documents"]) == 8 for r in server.requests)
    with pytest.raises(jd.JudgeError, match="no reranker is configured"):
        build(store, embedder, [jd.JudgeConfig(), jd.JudgeConfig(rerank=True)])


def test_bad_set_ups_are_refused_with_a_reason(store, embedder):
    with pytest.raises(jd.JudgeError, match="2 to 4 configurations"):
        build(store, embedder, [jd.JudgeConfig()])
    with pytest.raises(jd.JudgeError, match="A and C are the same set-up"):
        build(store, embedder, [jd.JudgeConfig(), jd.JudgeConfig(mode="bm25"), jd.JudgeConfig()])
    # BM25 ignores instructions and dimensions: two BM25 set-ups differing only there are one.
    with pytest.raises(jd.JudgeError, match="same set-up"):
        build(store, embedder, [jd.JudgeConfig(mode="bm25"), jd.JudgeConfig("x", "task", mode="bm25", dimensions=8)])
    with pytest.raises(jd.JudgeError, match="Depth k must be 1 to 20"):
        build(store, embedder, k=0)
    with pytest.raises(jd.JudgeError, match="128 dimensions asked for"):
        build(store, embedder, [jd.JudgeConfig(), jd.JudgeConfig(dimensions=128)])

    class Other(WordEmbedder):
        model_id = "another-model@test"

    with pytest.raises(ModelMismatch):
        build(store, Other())


def test_queries_come_from_lines_files_and_bundled_sets():
    assert jd.queries_from_text("  first \n\nsecond\nfirst\n") == ["first", "second"]
    assert jd.queries_from_file(b"one\r\ntwo\n", "q.txt") == ["one", "two"]
    assert jd.queries_from_file(b"id,query\n1,alpha beta\n2,gamma\n", "q.csv") == ["alpha beta", "gamma"]
    jsonl = '{"id": 1, "question": "where is the VPN"}\n{"id": 2, "question": "who approves leave"}\n'
    assert jd.queries_from_file(jsonl.encode(), "q.jsonl") == ["where is the VPN", "who approves leave"]
    with pytest.raises(jd.JudgeError, match="q.csv"):
        jd.queries_from_file(b"", "q.csv")
    with pytest.raises(jd.JudgeError, match="No queries"):
        jd.queries_from_text("\n  \n")
    with pytest.raises(jd.JudgeError, match="too many"):
        jd.queries_from_text("\n".join(f"q{i}" for i in range(jd.MAX_QUERIES + 1)))
    sets = jd.bundled_query_sets()
    assert "hr_policy_v1 sample questions" in sets and "IT security policy (Chinese) queries" in sets
    assert len(jd.bundled_queries("IT security policy (Chinese) queries")) == 48
    assert jd.bundled_for_collection("hr_policy_v1") == "hr_policy_v1 sample questions"
    assert jd.bundled_for_collection("mine") is None
    assert jd.validate_rater("  Ana   Lee ") == "Ana Lee"
    for bad, reason in (("", "Enter your name"), ("LLM judge · me", "kept for the LLM judge"), ("x" * 61, "60")):
        with pytest.raises(jd.JudgeError, match=reason):
            jd.validate_rater(bad)


# -- persistence -----------------------------------------------------------------------------
def test_judgments_persist_the_latest_grade_counts_and_undo_restores_the_one_before(store, embedder, tmp_path):
    jstore = jd.JudgmentStore(tmp_path / "j.sqlite")
    exp = jstore.save_experiment(build(store, embedder))
    pool = jstore.pool(exp.id)
    first, second = pool[0], pool[1]
    jstore.judge(NAME, first.query, first.chunk, "ana", 2)
    jstore.judge(NAME, second.query, second.chunk, "ana", 0)
    jstore.judge(NAME, second.query, second.chunk, "ana", 1)  # changed her mind
    jstore.judge(NAME, first.query, first.chunk, "bob", 0)
    reopened = jd.JudgmentStore(tmp_path / "j.sqlite")  # another session or a restart
    current = {(j.rater, j.chunk): j.grade for j in reopened.judgments(NAME)}
    assert current == {("ana", first.chunk): 2, ("ana", second.chunk): 1, ("bob", first.chunk): 0}
    undone = reopened.undo(NAME, "ana")
    assert (undone.chunk, undone.grade) == (second.chunk, 1)
    current = {(j.rater, j.chunk): j.grade for j in reopened.judgments(NAME)}
    assert current[("ana", second.chunk)] == 0 and current[("bob", first.chunk)] == 0  # bob's stays
    assert reopened.undo(NAME, "ana").grade == 0 and reopened.undo(NAME, "ana").grade == 2
    assert reopened.undo(NAME, "ana") is None
    assert reopened.history_count(NAME) == 1
    assert [e.id for e in reopened.experiments(NAME)] == [exp.id] and reopened.experiments("other") == []
    elsewhere = build(store, embedder)
    elsewhere.collection, elsewhere.queries = "other_v1", QUERIES[:2]
    other = reopened.save_experiment(elsewhere, "second")
    assert [(e.id, e.queries) for e in reopened.experiments()] == [(other.id, tuple(QUERIES[:2])),
                                                                    (exp.id, tuple(QUERIES))]
    assert reopened.experiments("other_v1") == [other] and other.name == "second" and exp.name == "Experiment 1"
    assert reopened.experiment(exp.id) == exp and exp.configs[1].max_tokens == 2048
    with pytest.raises(jd.JudgeError, match="no experiment #99"):
        reopened.experiment(99)
    with pytest.raises(jd.JudgeError, match="0, 1 or 2"):
        reopened.judge(NAME, first.query, first.chunk, "ana", 3)
    # Blind order and next item: the rater's own judged and skipped pairs are passed over.
    done = jd.judged_by(reopened.judgments(NAME), "bob")
    assert jd.next_item(pool, done) == second
    assert jd.next_item(pool, done, [(second.query, second.chunk)]) == pool[2]
    assert jd.next_item(pool, {(i.query, i.chunk) for i in pool}) is None


def test_judgments_survive_reingesting_unchanged_chunks(store, embedder, jstore):
    exp = jstore.save_experiment(build(store, embedder))
    for item in jstore.pool(exp.id):
        jstore.judge(NAME, item.query, item.chunk, "ana", 1)
    store.delete(NAME)  # rebuilt from scratch, one document edited
    store.create(CollectionSpec(NAME, embedder.model_id, embedder.dim, "HR policy", HR_TASK))
    docs = [Document(d.source, d.text.replace("ten days", "twelve days")) for d in documents()]
    ingest(store, NAME, embedder, records(docs))
    again = jstore.save_experiment(build(store, embedder))
    done = jd.judged_by(jstore.judgments(NAME), "ana")
    left = [i for i in jstore.pool(again.id) if (i.query, i.chunk) not in done]
    assert [i.text for i in left] and all("twelve days" in i.text for i in left)


_WRITER = """
import sys
from embedlab.judgments import JudgmentStore
store = JudgmentStore(sys.argv[1])
rater, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    store.judge("shared_v1", f"query {i % 7}", f"chunk {i}", rater, i % 3)
    if i % 10 == 9:
        store.undo("shared_v1", rater)
        store.judge("shared_v1", f"query {i % 7}", f"chunk {i}", rater, i % 3)
print("done", flush=True)
"""


def test_several_processes_judging_at_once_lose_nothing(tmp_path):
    path = tmp_path / "data" / jd.DB_FILE
    jd.JudgmentStore(path)
    n, raters = 150, ["ana", "bob", "eve"]
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), r, str(n)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in raters]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-500:] for o in outs]
    current = jd.JudgmentStore(path).judgments("shared_v1")
    assert len(current) == n * len(raters)
    for rater in raters:
        mine = {j.chunk: j.grade for j in current if j.rater == rater}
        assert mine == {f"chunk {i}": i % 3 for i in range(n)}


# -- figures ---------------------------------------------------------------------------------
def judged_experiment(store, embedder, jstore, configs=None, k=3) -> jd.Experiment:
    """An experiment with two people's grades (seeded), one query left unjudged and one pooled
    chunk of another query left without a grade."""
    exp = jstore.save_experiment(build(store, embedder, configs, k=k))
    rng = np.random.default_rng(3)
    pool = [i for i in jstore.pool(exp.id) if i.query != QUERIES[-1]]
    for n, item in enumerate(pool):
        if n == 1:
            continue  # unjudged: counts as not relevant
        for rater in ("ana", "bob"):
            grade = int(rng.integers(0, 3))
            jstore.judge(NAME, item.query, item.chunk, rater, grade)
    return exp


def test_figures_equal_trec_eval_on_the_exported_qrels_and_runs(store, embedder, jstore):
    configs = [jd.JudgeConfig(), jd.JudgeConfig(jd.COLLECTION_INSTRUCTION, max_tokens=20),
               jd.JudgeConfig(mode="bm25"), jd.JudgeConfig(mode="hybrid-weighted", dimensions=32)]
    exp = judged_experiment(store, embedder, jstore, configs, k=4)
    judgments = jstore.judgments(NAME, exp.queries)
    runs = jstore.runs(exp.id)
    for source in (jd.PEOPLE, "ana"):
        grades = jd.select_grades(judgments, source)
        results = jm.score(exp, runs, grades, source)
        assert results.judged_queries == tuple(QUERIES[:-1])  # the unjudged query is left out, as in trec_eval
        qrels = list(ir_measures.read_trec_qrels("".join(jd.qrels_lines(exp, grades))))
        measures = {"precision": P @ 4, "strict_precision": P(rel=2) @ 4, "ndcg": nDCG @ 4, "mrr": RR @ 4}
        for scores in results.configs:
            lines = [line for line in jd.run_lines(exp, runs) if line.split()[5] == scores.name]
            run = list(ir_measures.read_trec_run("".join(lines)))
            assert {r.query_id for r in run} >= {jd.query_id(q) for q in results.judged_queries}
            expected = ir_measures.calc_aggregate(list(measures.values()), qrels, run)
            for metric, measure in measures.items():
                assert scores.metrics[metric] == pytest.approx(expected[measure], abs=1e-12), (source, metric)
            per_query = {(m.query_id, str(m.measure)): m.value for m in ir_measures.iter_calc(list(measures.values()),
                                                                                              qrels, run)}
            for query in results.judged_queries:
                for metric, measure in measures.items():
                    assert scores.per_query[query][metric] == pytest.approx(per_query[(jd.query_id(query),
                                                                                       str(measure))])
    # The people's grade of a pair is the median of theirs, rounded down between two.
    people = jd.select_grades(judgments, jd.PEOPLE)
    for pair, grade in people.items():
        theirs = sorted(j.grade for j in judgments if (j.query, j.chunk) == pair)
        assert grade == theirs[(len(theirs) - 1) // 2]


def test_unjudged_chunks_count_as_not_relevant_and_low_coverage_is_flagged(store, embedder, jstore):
    exp = jstore.save_experiment(build(store, embedder))
    runs = jstore.runs(exp.id)
    query = QUERIES[0]
    top_a = runs[0][query]
    for chunk in top_a:  # every chunk of A's top 3 relevant, B's own chunks left unjudged
        jstore.judge(NAME, query, chunk, "ana", 2)
    results = jm.results_from(exp, runs, jstore.judgments(NAME), jd.PEOPLE)
    a, b = results.configs
    assert results.judged_queries == (query,)
    assert a.metrics["precision"] == 1.0 and a.coverage == 1.0 and not a.low_coverage
    shared = len(set(runs[1][query]) & set(top_a))
    assert b.metrics["precision"] == pytest.approx(shared / 3) and b.coverage == pytest.approx(shared / 3)
    assert b.low_coverage == (shared < 3)
    warnings = jm.coverage_warnings(results)
    assert len(warnings) == (shared < 3) and all(str(w).startswith("B:") and "lower bounds" in str(w) for w in warnings)
    row = jm.guide_table(results)[1]
    assert row == {"configuration": "B", "instruction": "HR policy", "input length": "≤2,048 tokens",
                   "dimensions": "full", "retrieval": "dense", "accuracy (P@3)": f"{shared / 3:.0%}"}


def test_the_paired_test_is_exact_for_few_queries_and_its_interval_holds_the_difference():
    a = [0.4, 0.2, 0.6, 0.4, 0.2, 0.8, 0.4, 0.6]
    b = [0.8, 0.6, 0.6, 0.8, 0.6, 1.0, 0.4, 1.0]
    test = paired_test(a, b)
    d = np.subtract(b, a)
    flips = [abs(np.mean(d * signs)) >= abs(d.mean()) - 1e-12 for signs in itertools.product((1, -1), repeat=len(d))]
    assert test.p_value == pytest.approx(np.mean(flips))  # all 256 sign patterns: an exact test
    assert test.ci_low <= test.diff <= test.ci_high and test.ci_low > 0
    assert (test.better, test.worse, test.ties, test.n) == (6, 0, 2, 8) and test.significant
    assert paired_test(a, b) == test  # seeded
    sentence = str(jm.verdict(test, "A", "B", "P@5"))
    assert sentence.startswith("B is better than A: P@5 0.72 vs 0.45 (+0.28, 95% CI +")
    assert "significant at the 5% level" in sentence
    assert str(jm.verdict(paired_test(b, a), "A", "B", "P@5")).startswith("B is worse than A")
    same = paired_test(a, a)
    assert same.p_value == 1.0 and str(jm.verdict(same, "A", "B", "P@5")).startswith("No significant difference")
    assert "judge at least two queries" in str(jm.verdict(paired_test([0.2], [0.4]), "A", "B", "P@5"))
    with pytest.raises(ValueError):
        paired_test([0.1, 0.2], [0.3])


def test_fleiss_kappa_on_its_worked_example_and_cohen_from_scikit_learn():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; kappa 0.210.
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert jm.fleiss_kappa(table) == pytest.approx(0.20993, abs=5e-5)
    assert jm.fleiss_kappa(np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3]])) == pytest.approx(1.0)
    assert jm.fleiss_kappa(np.array([[2, 0, 0], [2, 0, 0]])) is None  # one category only
    with pytest.raises(ValueError):
        jm.fleiss_kappa(np.array([[2, 0], [1, 0]]))
    x, y = [0, 1, 2, 2, 1, 0, 2], [0, 2, 2, 1, 1, 0, 2]
    assert jm.cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y))
    assert jm.cohen_kappa(x, y, "linear") == pytest.approx(cohen_kappa_score(x, y, weights="linear"))
    assert jm.cohen_kappa([2, 2], [2, 2]) is None and jm.cohen_kappa([1], [1]) is None
    assert [jm.kappa_label(v) for v in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.9, None)] == [
        "poor", "slight", "fair", "moderate", "substantial", "almost perfect", "undefined"]


def test_agreement_of_people_and_of_the_llm_judge_with_them():
    def j(rater, chunk, grade, kind=jd.PERSON):
        return jd.Judgment(NAME, "q", chunk, rater, kind, grade, "")

    grades = {"ana": [2, 1, 0, 2, 0, 1], "bob": [2, 1, 0, 1, 0, 1], "eve": [2, 0, 0, 2, 1, 1]}
    judgments = [j(r, f"c{i}", g) for r, gs in grades.items() for i, g in enumerate(gs)]
    llm = [2, 1, 0, 2, 0, 0]
    judgments += [j("LLM judge · m", f"c{i}", g, jd.LLM) for i, g in enumerate(llm)]
    pairs, group = jm.agreement(judgments)
    by = {(p.rater_a, p.rater_b): p for p in pairs}
    assert by[("ana", "bob")].items == 6
    assert by[("ana", "bob")].kappa == pytest.approx(cohen_kappa_score(grades["ana"], grades["bob"]))
    consensus = [sorted(col)[1] for col in zip(*grades.values(), strict=True)]
    llm_vs = by[("LLM judge · m", jm.CONSENSUS)]
    assert llm_vs.kappa == pytest.approx(cohen_kappa_score(llm, consensus))
    assert llm_vs.agreement == pytest.approx(np.mean(np.equal(llm, consensus)))
    counts = np.zeros((6, 3), dtype=int)
    for gs in grades.values():
        for i, g in enumerate(gs):
            counts[i, g] += 1
    assert group.raters == ("ana", "bob", "eve") and group.items == 6
    assert group.kappa == pytest.approx(jm.fleiss_kappa(counts))
    assert str(jm.agreement_sentence(group, pairs)).startswith("Fleiss' kappa of the 3 people over the 6 chunks")
    assert str(jm.agreement_sentence(None, [])) == "Agreement needs two or more raters who graded the same chunks."
    # Two people: Cohen's kappa says it (Fleiss' kappa is for three or more).
    two = [x for x in judgments if x.rater in ("ana", "bob")]
    pairs, group = jm.agreement(two)
    kappa = cohen_kappa_score(grades["ana"], grades["bob"])
    assert group is None and str(jm.agreement_sentence(group, pairs, ["ana", "bob"])) == (
        f"Cohen's kappa of ana and bob over the 6 chunks both graded: {kappa:.2f} ({jm.kappa_label(kappa)} "
        "agreement); same grade on 83%.")


# -- exports, imports, CLI -------------------------------------------------------------------
def test_the_labelled_set_export_is_read_by_the_evaluation_code_and_its_cli(store, embedder, jstore, tmp_path,
                                                                            monkeypatch):
    exp = judged_experiment(store, embedder, jstore)
    jstore.judge(NAME, QUERIES[-1], jstore.pool(exp.id)[-1].chunk, "ana", 0)  # a query with nothing relevant
    grades = jd.select_grades(jstore.judgments(NAME, exp.queries), jd.PEOPLE)
    nothing_relevant = [q for q in QUERIES if q in {qq for qq, _ in grades}
                        and max(g for (qq, _), g in grades.items() if qq == q) == 0]
    out = jd.labelled_set(exp, grades, jstore.chunk_texts(NAME))
    assert QUERIES[-1] in nothing_relevant and out.dropped == tuple(nothing_relevant)
    dataset = evaluation.load_labelled_set(out.corpus.encode(), out.queries.encode(), "judged")
    assert len(dataset.documents) == out.documents == len({c for _, c in grades})
    assert [q.text for q in dataset.queries] == [q for q in QUERIES if q in {qq for qq, _ in grades}
                                                 and q not in nothing_relevant]
    for q in dataset.queries:
        assert dict(q.relevant) == {c: g for (qq, c), g in grades.items() if qq == q.text}
    (tmp_path / "c.jsonl").write_text(out.corpus, encoding="utf-8")
    (tmp_path / "q.jsonl").write_text(out.queries, encoding="utf-8")
    from embedlab.evaluate import main as evaluate_main

    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    assert evaluate_main(["--corpus", str(tmp_path / "c.jsonl"), "--queries", str(tmp_path / "q.jsonl"),
                          "--mode", "bm25", "--no-cache", "--format", "json"]) == 0


def test_qrels_import_back_and_its_errors(store, embedder, jstore):
    exp = judged_experiment(store, embedder, jstore)
    people = jd.select_grades(jstore.judgments(NAME, exp.queries), jd.PEOPLE)
    data = "".join(jd.qrels_lines(exp, people)) + "q000000000000 0 abc 1\n" + f"{jd.query_id(QUERIES[0])} 0 nope 2\n"
    parsed = jd.parse_qrels(data.encode(), exp, set(jstore.chunk_texts(NAME)))
    assert (parsed.unknown_queries, parsed.unknown_chunks, len(parsed.rows)) == (1, 1, len(people))
    jstore.import_grades(NAME, parsed.rows, "qrels copy")
    assert jd.select_grades(jstore.judgments(NAME, exp.queries), "qrels copy") == people
    for bad, reason in ((b"q1 0 d1\n", "line 1: expected 4 fields"), (b"\nq1 0 d1 x\n", "line 2: the grade 'x'"),
                        (b"q1 0 d1 3\n", "grade 3"), (b"\n", "no lines")):
        with pytest.raises(jd.JudgeError, match=reason):
            jd.parse_qrels(bad, exp, set())


def test_cli_report_export_and_import(store, embedder, tmp_path, capsys):
    data = tmp_path / "data"
    jstore = jd.JudgmentStore.in_data_dir(data)
    exp = judged_experiment(store, embedder, jstore)
    assert judge.main(["report", "--collection", NAME, "--data-dir", str(data), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    results = jm.results_from(exp, jstore.runs(exp.id), jstore.judgments(NAME, exp.queries), jd.PEOPLE)
    assert payload["experiment"]["id"] == exp.id and payload["judged_queries"] == 4
    assert [c["P@3"] for c in payload["configurations"]] == [s.metrics["precision"] for s in results.configs]
    assert payload["comparison"]["verdict"] == str(jm.verdict(jm.compare(results, 0, 1)[1], "A", "B", "P@3"))
    assert payload["agreement"]["pairs"][0]["rater A"] == "ana"

    assert judge.main(["report", "--collection", NAME, "--data-dir", str(data), "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "judged queries: 4 of 5" in table and "HR policy" in table and "≤2048" not in table
    assert payload["comparison"]["verdict"] in table

    out = tmp_path / "out"
    assert judge.main(["export", "--collection", NAME, "--data-dir", str(data), "--format", "trec",
                       "--out", str(out)]) == 0
    assert (out / f"{NAME}.qrels").read_text() == "".join(jd.qrels_lines(exp, results.grades))
    assert len((out / f"{NAME}.runs").read_text().splitlines()) == 2 * 3 * len(QUERIES)
    assert judge.main(["export", "--collection", NAME, "--data-dir", str(data), "--format", "jsonl",
                       "--out", str(out)]) == 0
    evaluation.load_labelled_set((out / f"{NAME}.corpus.jsonl").read_bytes(),
                                 (out / f"{NAME}.queries.jsonl").read_bytes())
    capsys.readouterr()
    assert judge.main(["import", "--collection", NAME, "--data-dir", str(data), "--qrels",
                       str(out / f"{NAME}.qrels"), "--rater", "copy"]) == 0
    assert capsys.readouterr().out.startswith(f"imported {len(results.grades)} grade(s) as 'copy'")
    assert judge.main(["report", "--collection", "nothing_here", "--data-dir", str(data)]) == 2
    assert "No experiment on 'nothing_here'" in capsys.readouterr().err
    assert judge.main(["report", "--collection", NAME, "--data-dir", str(data), "--b", "Z"]) == 2


# -- the LLM judge ---------------------------------------------------------------------------
class ChatServer(JsonServer):
    """A scripted OpenAI-compatible chat server: grades by word overlap of the query with the
    passage, answering in the shape of `style`; refuses chat_template_kwargs when `strict`."""

    def __init__(self, style: str = "json", strict: bool = False) -> None:
        self.style, self.strict = style, strict
        self.requests: list[dict] = []
        super().__init__(self._answer)

    def _answer(self, method, path, body, headers):
        self.requests.append({"path": path, "auth": headers.get("Authorization"), **body})
        if path != "/v1/chat/completions":
            return 404, {"error": "not found"}
        if self.strict and "chat_template_kwargs" in body:
            return 400, {"error": "unknown field chat_template_kwargs"}
        user = body["messages"][1]["content"]
        query = user.split("\n", 1)[0].removeprefix("Query: ")
        passage = user.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
        grade = min(2, round(overlap_score(query, passage) * 4))
        content = {"json": f'{{"grade": {grade}, "reason": "word overlap"}}',
                   "think": f"<think>The grade is surely 0 here.</think>\nGrade: {grade}",
                   "garbage": "I cannot tell."}[self.style]
        return 200, {"choices": [{"message": {"role": "assistant", "content": content}}]}


def test_llm_judge_rates_a_pool_as_its_own_rater_and_keeps_prompts_and_answers(store, embedder, jstore):
    assert llm_judge.judge_settings(env={}, secrets={}) is None
    assert llm_judge.judge_settings(env={"JUDGE_BASE_URL": "http://x"}, secrets={}) is None
    exp = judged_experiment(store, embedder, jstore)
    pool = jstore.pool(exp.id)
    server = ChatServer("think", strict=True)
    try:
        settings = llm_judge.judge_settings(env={"JUDGE_BASE_URL": server.url, "JUDGE_MODEL": "qwen3-judge",
                                                 "JUDGE_API_KEY": "sk-judge"}, secrets={})
        assert settings.rater == "LLM judge · qwen3-judge" and "sk-judge" not in repr(settings)
        seen = []
        calls = llm_judge.rate_items(llm_judge.LLMJudge(settings), pool, lambda c: jstore.record_llm(NAME, c),
                                     progress=lambda done, total: seen.append((done, total)))
    finally:
        server.close()
    assert seen[-1] == (len(pool), len(pool)) and len(calls) == len(pool)
    assert all(r["auth"] == "Bearer sk-judge" and r["temperature"] == 0 for r in server.requests)
    # The thinking switch is refused (HTTP 400) by this server: each refused request is asked again
    # without it, and once refused it is no longer sent (only requests already in flight carried it).
    with_switch = sum("chat_template_kwargs" in r for r in server.requests)
    assert "chat_template_kwargs" in server.requests[0] and 1 <= with_switch <= llm_judge.WORKERS
    assert len(server.requests) == len(pool) + with_switch
    kept = jstore.llm_calls(NAME)
    assert len(kept) == len(pool) and all(c.error == "" and c.grade is not None for c in kept)
    assert kept[0].answer.startswith("<think>") and json.loads(kept[0].prompt)[1]["content"].startswith("Query: ")
    judgments = jstore.judgments(NAME, exp.queries)
    llm = [j for j in judgments if j.kind == jd.LLM]
    assert {j.rater for j in llm} == {"LLM judge · qwen3-judge"} and len(llm) == len(pool)
    for j in llm:  # the grade after the thinking block, not the 0 inside it
        text = next(i.text for i in pool if (i.query, i.chunk) == (j.query, j.chunk))
        assert j.grade == min(2, round(overlap_score(j.query, text) * 4))
    # Never mixed with people: their grades are unchanged; the LLM is a source of its own.
    people_only = jd.select_grades([j for j in judgments if j.kind == jd.PERSON], jd.PEOPLE)
    assert jd.select_grades(judgments, jd.PEOPLE) == people_only
    assert len(jd.select_grades(judgments, jd.LLM_SOURCE)) == len(pool)
    pairs, _ = jm.agreement(judgments)
    assert any(p.rater_a == "LLM judge · qwen3-judge" and p.rater_b == jm.CONSENSUS for p in pairs)


def test_llm_answers_without_a_grade_are_kept_with_the_error_and_a_refused_key_stops():
    assert llm_judge.parse_grade('{"grade": 1, "reason": "x"}') == 1
    assert llm_judge.parse_grade("<think>grade 2?</think> {\"grade\": \"0\"}") == 0
    assert llm_judge.parse_grade("2") == 2 and llm_judge.parse_grade("Relevance grade: 1.") == 1
    assert llm_judge.parse_grade("<think>unfinished") is None and llm_judge.parse_grade('{"grade": 5}') is None
    item = jd.PoolItem("vpn port", "c1", 0, "id1", "net.md", "The VPN listens on port 51820.")
    server = ChatServer("garbage")
    try:
        judge_ = llm_judge.LLMJudge(llm_judge.LLMJudgeSettings(server.url + "/v1", "m"))
        call = judge_.rate(item)
        assert (call.grade, call.error, call.answer) == (None, "no grade in the answer", "I cannot tell.")
        refused = JsonServer(lambda *a: (401, {"error": "bad key"}))
        try:
            with pytest.raises(llm_judge.JudgeUnavailable, match="JUDGE_API_KEY"):
                llm_judge.rate_items(llm_judge.LLMJudge(llm_judge.LLMJudgeSettings(refused.url, "m")), [item],
                                     lambda c: None)
        finally:
            refused.close()
    finally:
        server.close()


def test_retrieval_reuse_matches_mode_lists(store, embedder):
    """The BM25 and hybrid runs are retrieval.mode_lists' lists over the collection (one code path)."""
    built = build(store, embedder, [jd.JudgeConfig(mode="bm25"), jd.JudgeConfig(mode="hybrid-rrf")])
    index = retrieval.collection_index(store, NAME, cache=IndexCache()).index
    for query in QUERIES:
        lists = retrieval.mode_lists(index, embedder.embed([query])[0], query, 3)
        assert [c for c, _ in built.runs[0][query]] == [jd.chunk_key(h.text) for h in lists.bm25]
        assert [c for c, _ in built.runs[1][query]] == [jd.chunk_key(h.text) for h in lists.hybrid]
