"""Retrieval metrics (MTEB definitions), labelled-set validation and the configuration grid."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.evaluation import form
from embedlab.evaluation.datasets import DatasetError, LabelledSet, Query, load_bundled, load_labelled_set
from embedlab.evaluation.form import (
    MAX_CONFIGS,
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
from embedlab.evaluation.grid import EvalConfig, make_grid, max_sim, plan_grid, run_grid
from embedlab.evaluation.metrics import (
    METRICS,
    compare_per_query,
    evaluate_scores,
    mean_metrics,
    query_metrics,
)
from embedlab.evaluation.report import results_json, results_table
from embedlab.instructions import format_query
from embedlab.ranking import rank_order
from embedlab.tokens import count_tokens
from tests.support.labelled import HashEmbedder, small_set


def jsonl(rows) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("utf-8")


# --- metrics against hand computation -------------------------------------------------------------


def test_graded_query_by_hand():
    grades = {"d1": 2, "d4": 1, "d9": 0}
    got = query_metrics(["d2", "d1", "d3", "d4", "d5"], grades)
    dcg = 2 / math.log2(3) + 1 / math.log2(5)  # d1 at rank 2, d4 at rank 4
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert got == pytest.approx(
        {"recall@1": 0.0, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 0.5, "ndcg@10": dcg / idcg}
    )
    assert got["ndcg@10"] == pytest.approx(0.64333, abs=1e-5)


def test_relevant_documents_below_rank_ten_count_for_nothing():
    ranked = [f"x{i}" for i in range(10)] + ["d1"]
    got = query_metrics(ranked, {"d1": 1, "x7": 1})
    # x7 is at rank 8: half of the relevant documents are in the top 10, none in the top 5.
    assert got["recall@5"] == 0.0 and got["recall@10"] == 0.5
    assert got["mrr@10"] == pytest.approx(1 / 8)
    assert got["ndcg@10"] == pytest.approx((1 / math.log2(9)) / (1 + 1 / math.log2(3)))


def test_grade_zero_is_judged_but_not_relevant():
    got = query_metrics(["d0", "d1"], {"d0": 0, "d1": 1})
    assert got["recall@1"] == 0.0 and got["mrr@10"] == 0.5


def test_ties_are_broken_by_document_order():
    scores = np.array([[0.5, 0.5, 0.5, 0.9], [0.2, 0.2, 0.2, 0.2]], dtype=np.float32)
    order = rank_order(scores)
    assert order[0].tolist() == [3, 0, 1, 2]
    assert order[1].tolist() == [0, 1, 2, 3]
    queries = [Query("a", "a", {"c": 1}), Query("b", "b", {"c": 1})]
    per_query = evaluate_scores(scores, ["a0", "b0", "c", "z"], queries)
    assert per_query["a"]["mrr@10"] == pytest.approx(1 / 4)  # z first, then a0, b0, c
    assert per_query["b"]["mrr@10"] == pytest.approx(1 / 3)
    # The same call gives the same answer every time.
    assert evaluate_scores(scores, ["a0", "b0", "c", "z"], queries) == per_query


def test_ndcg_matches_sklearn_on_random_graded_queries():
    rng = np.random.default_rng(7)
    n_docs, n_queries = 40, 25
    doc_ids = [f"d{i}" for i in range(n_docs)]
    scores = rng.normal(size=(n_queries, n_docs))  # continuous: no ties, so no tie convention matters
    truth = rng.integers(0, 4, size=(n_queries, n_docs)) * (rng.random((n_queries, n_docs)) < 0.2)
    truth[:, 0] = np.maximum(truth[:, 0], 1)  # every query has at least one relevant document
    queries = [
        Query(f"q{r}", "", {doc_ids[c]: int(g) for c, g in enumerate(row) if g > 0})
        for r, row in enumerate(truth)
    ]
    per_query = evaluate_scores(scores, doc_ids, queries)
    for r, q in enumerate(queries):
        expected = ndcg_score(truth[r : r + 1], scores[r : r + 1], k=10)
        assert per_query[q.id]["ndcg@10"] == pytest.approx(expected, abs=1e-12)
    mean = mean_metrics(per_query)["ndcg@10"]
    assert mean == pytest.approx(ndcg_score(truth, scores, k=10), abs=1e-12)


def test_wins_losses_ties_against_baseline():
    base = {"a": {"ndcg@10": 0.5}, "b": {"ndcg@10": 1.0}, "c": {"ndcg@10": 0.2}, "d": {"ndcg@10": 0.0}}
    other = {"a": {"ndcg@10": 0.7}, "b": {"ndcg@10": 1.0}, "c": {"ndcg@10": 0.1}, "d": {"ndcg@10": 0.3}}
    assert compare_per_query(base, other) == {"wins": 2, "losses": 1, "ties": 1}
    with pytest.raises(ValueError, match="different queries"):
        compare_per_query(base, {"a": {"ndcg@10": 1.0}})


# --- validation -----------------------------------------------------------------------------------

CORPUS = [{"id": "d1", "text": "alpha"}, {"id": "d2", "text": "beta"}]


@pytest.mark.parametrize(
    ("corpus", "queries", "message"),
    [
        (CORPUS, [{"id": "q1", "text": "x", "relevant": ["d1", "d7"]}], "unknown document id(s) 'd7'"),
        (CORPUS, [{"id": "q1", "text": "x", "relevant": []}], "relevant list is empty"),
        (CORPUS, [{"id": "q1", "text": "x", "relevant": {"d1": 0}}], "relevant list is empty"),
        (CORPUS, [{"id": "q1", "text": "x"}], "missing \"relevant\""),
        (CORPUS, [{"id": "q1", "text": "x", "relevant": ["d1", "d1"]}], "'d1' is listed twice"),
        (CORPUS, [{"id": "q1", "text": "x", "relevant": ["d1"]}, {"id": "q1", "text": "y", "relevant": ["d2"]}],
         "Queries line 2: duplicate query id 'q1' (first on line 1)"),
        (CORPUS + [{"id": "d1", "text": "gamma"}], [{"id": "q", "text": "x", "relevant": ["d1"]}],
         "Corpus line 3: duplicate document id 'd1' (first on line 1)"),
        (CORPUS, [{"id": "q1", "text": "x", "relevant": {"d1": 1.5}}], "whole number >= 0"),
        (CORPUS, [{"id": "q1", "text": "x", "relevant": {"d1": -1}}], "whole number >= 0"),
        (CORPUS, [{"id": "q1", "text": "  ", "relevant": ["d1"]}], "non-empty \"text\""),
        ([{"id": "", "text": "a"}], [{"id": "q1", "text": "x", "relevant": ["d1"]}], "non-empty \"id\""),
        (CORPUS, [{"id": "q1", "text": "x", "relevant": "d1"}], "must be a list of document ids"),
    ],
)
def test_invalid_sets_are_refused_with_a_clear_message(corpus, queries, message):
    with pytest.raises(DatasetError) as info:
        load_labelled_set(jsonl(corpus), jsonl(queries))
    assert message in str(info.value)


def test_line_numbers_count_blank_lines_and_broken_json_is_named():
    corpus = b'{"id": "d1", "text": "a"}\n\n{"id": "d1", "text": "b"}\n'
    with pytest.raises(DatasetError, match="Corpus line 3: duplicate document id 'd1'"):
        load_labelled_set(corpus, jsonl([{"id": "q", "text": "x", "relevant": ["d1"]}]))
    with pytest.raises(DatasetError, match="Query file: Line 2 is not valid JSON"):
        load_labelled_set(jsonl(CORPUS), b'{"id": "q", "text": "x", "relevant": ["d1"]}\n{"id": "q2",\n')


def test_valid_graded_and_list_forms_parse():
    got = load_labelled_set(
        jsonl(CORPUS),
        jsonl([{"id": 1, "text": "x", "relevant": ["d1"]}, {"id": "q2", "text": "y", "relevant": {"d1": 2, "d2": 0}}]),
    )
    assert [q.relevant for q in got.queries] == [{"d1": 1}, {"d1": 2, "d2": 0}]
    assert got.queries[0].id == "1"


def test_bundled_sets_are_large_enough_and_valid():
    zh = load_bundled("IT security policy (Chinese)")
    assert len(zh.documents) >= 100 and len(zh.queries) >= 40
    assert all("\u4e00" <= q.text[0] <= "\u9fff" or q.text[0].isascii() for q in zh.queries)
    # The near-miss pair from the tuning guide: a scanner list that is not the pen-test approval.
    q1 = next(q for q in zh.queries if q.id == "q01")
    assert "vs-01" not in q1.relevant and q1.relevant["pt-01"] == 2
    # One handbook is longer than 2,048 tokens so that truncation choices change what is embedded.
    assert max(count_tokens(d.text) for d in zh.documents) > 2048
    en = load_bundled("Engineering handbook (English / mixed)")
    assert len(en.documents) >= 30 and len(en.queries) >= 20


# --- the grid -------------------------------------------------------------------------------------


def test_plan_shares_inputs_across_configurations():
    data = small_set()
    grid = make_grid([("none", ""), ("pol", "Retrieve the policy passage")], [None], [None, 32, 16], [False])
    assert len(grid) == 6
    plan = plan_grid(data, grid)
    # Documents once, queries once per instruction; dimensions cost no inputs at all.
    assert len(plan.texts) == len(data.documents) + 2 * len(data.queries)
    assert "Instruct: Retrieve the policy passage\nQuery:are backups tested" in plan.texts


def test_dimension_sweep_truncates_and_renormalises_the_full_vectors():
    data = small_set()
    fake = HashEmbedder()
    full, small = run_grid(data, make_grid([("none", "")], dimensions=[None, 8]), fake)
    assert len(fake.seen) == len(set(fake.seen)) == 9  # one embedding call, each text once
    vectors = fake.embed([d.text for d in data.documents] + [q.text for q in data.queries])
    cut = vectors[:, :8] / np.linalg.norm(vectors[:, :8], axis=1, keepdims=True)
    expected = evaluate_scores(cut[6:] @ cut[:6].T, data.doc_ids, data.queries)
    assert small.per_query.keys() == expected.keys()
    for qid, values in expected.items():
        assert small.per_query[qid] == pytest.approx(values)
    assert (full.dimensions, small.dimensions) == (48, 8)
    with pytest.raises(ValueError, match="64 dimensions requested but the model gives 48"):
        run_grid(data, [EvalConfig(dimensions=64)], fake)


def test_truncation_limits_every_input_with_the_exact_tokenizer():
    zh = load_bundled("IT security policy (Chinese)").subset(3)
    plan = plan_grid(zh, [EvalConfig(max_tokens=512), EvalConfig()])
    handbook = next(d.text for d in zh.documents if d.id == "hb-01")
    assert handbook in plan.texts  # the full-length configuration
    cut = [plan.texts[i] for i in plan.doc_rows[0]]
    assert max(count_tokens(t) for t in cut) == 512
    assert handbook.startswith(cut[[d.id for d in zh.documents].index("hb-01")])


def test_chunked_documents_score_by_their_best_chunk():
    zh = load_bundled("IT security policy (Chinese)").subset(2)
    plan = plan_grid(zh, [EvalConfig(chunked=True, chunk_tokens=200)])
    hb = [d.id for d in zh.documents].index("hb-01")
    pieces = [plan.texts[i] for i, o in zip(plan.doc_rows[0], plan.doc_owner[0], strict=True) if o == hb]
    assert len(pieces) >= 10 and all(count_tokens(p) <= 200 for p in pieces)
    scores = np.array([[0.1, 0.9, 0.3, 0.2], [0.5, 0.4, 0.0, 0.8]])
    got = max_sim(scores, np.array([0, 0, 1, 1]), 3)
    np.testing.assert_array_equal(got[:, :2], [[0.9, 0.3], [0.5, 0.8]])
    assert np.all(np.isneginf(got[:, 2]))  # a document without inputs can never rank above others


def test_rerun_through_the_cache_embeds_only_new_texts(embedding_server, tmp_path):
    data = small_set()
    # A generous timeout: these tests measure retrieval, and share two cores with other test processes.
    inner = OpenAICompatibleEmbedder(embedding_server, "multilingual-e5-small-q4", batch_size=64, timeout_s=120)
    embedder = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    first = run_grid(data, make_grid([("none", "")], dimensions=[None, 128]), embedder)
    sent: list[str] = []
    original = inner.embed
    inner.embed = lambda texts, progress=None: sent.extend(texts) or original(texts, progress)
    grid = make_grid([("none", ""), ("pol", "Retrieve the policy passage")], dimensions=[None, 128])
    second = run_grid(data, grid, embedder)
    assert sorted(sent) == sorted(format_query("Retrieve the policy passage", q.text) for q in data.queries)
    assert [r.metrics for r in second[:2]] == [r.metrics for r in first]
    assert first[0].dimensions == 384
    table = results_table(second)
    assert table[0]["baseline"] and table[0]["wins"] is None and not table[1]["baseline"]
    assert sum(table[2][k] for k in ("wins", "losses", "ties")) == len(data.queries)
    exported = json.loads(results_json(second, data, "m"))
    assert exported["results"][0]["ndcg@10"] == pytest.approx(second[0].metrics["ndcg@10"])
    assert set(exported["results"][1]["per_query"]) == {"q1", "q2", "q3"}


# --- the page's form -------------------------------------------------------------------------------


def test_form_choices_become_the_grid_with_the_custom_instruction_last():
    choices = GridChoices(
        instructions=(("(no instruction)", ""), ("Pol", "Retrieve the policy passage")),
        custom="  Find the rule  ",
        truncations=("full", "512 tokens"),
        dimensions=("full", "64"),
        documents=("chunked (max-sim over chunks)",),
        chunk_tokens=128,
    )
    grid = choices.configs()
    assert len(grid) == 3 * 2 * 2
    assert [c.instruction_name for c in grid[::4]] == ["none", "Pol", "custom"]
    assert grid[-1] == EvalConfig("Find the rule", "custom", 512, 64, True, 128)
    assert {(c.max_tokens, c.dimensions) for c in grid} == {(None, None), (None, 64), (512, None), (512, 64)}
    assert GridChoices(()).configs() == []  # no instruction chosen, none typed
    assert len(GridChoices((), custom="x").configs()) == 1


def test_grid_limits_are_refused_with_the_reason():
    data = small_set()
    with pytest.raises(GridError, match="at least one value on every axis"):
        plan_choices(data, GridChoices((("none", ""),), truncations=()))
    many = tuple((f"i{i}", f"task {i}") for i in range(9))
    with pytest.raises(GridError, match=f"54 configurations is too many for one run; choose at most {MAX_CONFIGS}"):
        plan_choices(data, GridChoices(many, dimensions=("full", "256", "128", "64", "32", "16")))
    plan = plan_choices(data, GridChoices((("none", ""),), dimensions=("full", "32")))
    assert len(plan.configs) == 2 and len(plan.texts) == len(data.documents) + len(data.queries)


def test_too_many_inputs_are_refused(monkeypatch):
    monkeypatch.setattr(form, "MAX_INPUTS", 8)
    with pytest.raises(GridError, match="This grid needs 9 distinct inputs; at most 8 per run"):
        plan_choices(small_set(), GridChoices((("none", ""),)))


def test_dimension_options_fit_the_model():
    assert dimension_options(384) == ["full", "256", "128", "64", "32"]
    assert dimension_options(1024) == ["full", "512", "256", "128", "64", "32"]
    assert dimension_options(None) == dimension_options(10**9)  # unknown size: every choice


def test_run_info_lines_and_the_skipped_configurations():
    data = small_set()
    plan = plan_grid(data, make_grid([("none", "")], dimensions=[None, 32, 64]))
    info = RunInfo.of(plan, 48, "m", new=5, seconds=2.0)
    assert info.skipped == ("none · full text · 64 d",)
    assert str(info.inputs_line) == "9 distinct inputs: 5 embedded now, 4 from the cache · 2.0 s"
    assert str(info.skipped_line).startswith("Skipped 1 configuration(s) asking for more dimensions")
    assert RunInfo("m", 3, 0, 0.1).skipped_line is None
    assert describe_set(data, "m") == "Set: small · 6 documents · 3 queries · model m"


def test_preview_query_choices_and_relevant_count():
    data = small_set()
    rows = preview_rows(data)
    assert rows[1] == {"id": "q2", "query": "who approves a penetration test", "relevant": "d2 (2), d3 (1)"}
    assert data.relevant_per_query == pytest.approx(4 / 3)
    long = LabelledSet("x", data.documents, (Query("q9", "word\n" * 40, {"d0": 1}),))
    label = query_choices(long, width=20)["q9"]
    assert label == "q9 · word word word word…" and "\n" not in label
    assert list(query_choices(data)) == ["q1", "q2", "q3"]


def test_dimension_sweep_is_seen_per_set_up():
    data, fake = small_set(), HashEmbedder()
    one_size = run_grid(data, make_grid([("none", ""), ("p", "Retrieve")], dimensions=[16]), fake)
    assert not sweeps_dimensions(one_size)  # two instructions, one size each
    two_sizes = run_grid(data, make_grid([("none", "")], dimensions=[None, 16]), fake)
    assert sweeps_dimensions(two_sizes)


# --- figures --------------------------------------------------------------------------------------


def test_figures_group_by_metric_and_by_setup_with_escaped_labels():
    import pandas as pd

    from embedlab import figures

    data = small_set()
    fake = HashEmbedder()
    grid = make_grid([("none", ""), ("<b>mine</b>", "Retrieve the policy")], dimensions=[None, 16, 8])
    table = pd.DataFrame(results_table(run_grid(data, grid, fake)))
    bars = figures.eval_metric_bars(table)
    assert len(bars.data) == 6 and all(list(t.x) == list(METRICS) for t in bars.data)
    assert bars.data[0].y[-1] == pytest.approx(table["ndcg@10"][0])
    assert "&lt;b&gt;mine&lt;/b&gt;" in bars.data[3].name and "<b>" not in bars.data[3].name
    line = figures.eval_dimension_line(table)
    assert len(line.data) == 2  # one line per instruction, three sizes each
    assert list(line.data[0].x) == [8, 16, 48] and list(line.layout.xaxis.tickvals) == [8, 16, 48]
    assert "<b>" not in line.data[1].name
