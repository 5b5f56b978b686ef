"""The evaluation grid's retrieval-mode and precision axes, BM25 without embeddings, the per-query
comparison of two configurations, and sizes in the results table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from embedlab import figures, fusion, quantize
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.evaluation.datasets import LabelledSet, load_bundled
from embedlab.evaluation.form import GridChoices
from embedlab.evaluation.grid import MODES, EvalConfig, make_grid, plan_grid, run_grid, score_grid
from embedlab.evaluation.metrics import evaluate_scores
from embedlab.evaluation.report import (
    compare_ranks,
    rank_change_counts,
    rank_change_table,
    results_json,
    results_table,
)
from embedlab.keyword import BM25Index, IndexCache
from embedlab.ranking import rank_order
from tests.support.labelled import HashEmbedder, small_set


def same_metrics(got: dict, expected: dict) -> bool:
    return got.keys() == expected.keys() and all(got[q] == pytest.approx(expected[q]) for q in expected)


def test_modes_and_precisions_make_a_canonical_grid():
    grid = make_grid([("none", ""), ("pol", "Retrieve the policy")], dimensions=[None, 16],
                        modes=["dense", "bm25", "hybrid-rrf"], precisions=[("float32", True), ("int8", True)])
    bm25 = [c for c in grid if c.mode == "bm25"]
    assert len(bm25) == 1 and bm25[0] == EvalConfig(mode="bm25")  # one BM25 set-up, whatever the instruction
    assert len(grid) == 2 * 2 * 2 + 1 + 2 * 2 * 2
    assert EvalConfig(precision="float32", rescore=True).canonical().rescore is False
    labels = [c.label for c in grid]
    assert len(set(labels)) == len(labels)
    assert "BM25 · full text" in labels and "pol · full text · 16 d · int8 + rescore 100" in labels
    assert "hybrid RRF k=60 · none · full text · full dim" in labels
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        EvalConfig(mode="sparse")
    choices = GridChoices((("none", ""),), modes=("dense", "BM25"),
                             precisions=("float32", "binary + float rescore top 100"))
    assert [(c.mode, c.precision, c.rescore) for c in choices.configs()] == [
        ("dense", "float32", False), ("dense", "binary", True), ("bm25", "float32", False)]


def test_bm25_configuration_embeds_nothing_and_ranks_like_the_index():
    data, fake = small_set(unmatched_query=True), HashEmbedder()
    cache = IndexCache()
    plan = plan_grid(data, [EvalConfig(mode="bm25", chunked=True, chunk_tokens=64)])
    assert plan.texts == []
    [res] = score_grid(plan, np.zeros((0, 0), np.float32), cache=cache)
    [again] = run_grid(data, [EvalConfig(mode="bm25", chunked=True, chunk_tokens=64)], fake)
    assert fake.seen == [] and again.metrics == res.metrics  # no embedding request at all
    index = BM25Index([d.text for d in data.documents])
    scores = np.stack([index.scores(q.text) for q in data.queries])
    expected = evaluate_scores(np.where(scores > 0, scores, -np.inf), data.doc_ids, data.queries)
    assert same_metrics(res.per_query, expected)
    assert res.top_ids["q1"][0] == "d0" and res.first_relevant["q1"] == 1
    assert res.first_relevant["q4"] is None  # shares no term: not retrieved
    assert res.dimensions == 0 and res.bytes_per_vector is None


def test_precision_and_hybrid_scores_follow_their_definitions():
    data, fake = small_set(unmatched_query=True), HashEmbedder()
    configs = [EvalConfig(), EvalConfig(precision="int8"), EvalConfig(precision="binary", dimensions=16),
               EvalConfig(mode="hybrid-rrf"), EvalConfig(mode="hybrid-weighted"), EvalConfig(mode="bm25")]
    cache = IndexCache()
    plan = plan_grid(data, configs)
    vectors = fake.embed(plan.texts)
    results = score_grid(plan, vectors, cache=cache)
    assert cache.builds == 1  # one BM25 index for the three configurations that need it
    q, d = vectors[plan.query_rows[0]], vectors[plan.doc_rows[0]]
    dense = q @ d.T
    assert same_metrics(results[0].per_query, evaluate_scores(dense, data.doc_ids, data.queries))
    scale = np.abs(d).max(axis=0) / 127
    int8 = (np.clip(np.round(q / scale), -127, 127) * scale) @ (np.clip(np.round(d / scale), -127, 127) * scale).T
    assert same_metrics(results[1].per_query, evaluate_scores(int8, data.doc_ids, data.queries))
    q16 = q[:, :16] / np.linalg.norm(q[:, :16], axis=1, keepdims=True)
    d16 = d[:, :16] / np.linalg.norm(d[:, :16], axis=1, keepdims=True)
    binary = np.where(q16 > 0, 1, -1) @ np.where(d16 > 0, 1, -1).T / 16
    assert same_metrics(results[2].per_query, evaluate_scores(binary, data.doc_ids, data.queries))
    bm25 = np.stack([BM25Index([x.text for x in data.documents]).scores(x.text) for x in data.queries])
    for res, method in ((results[3], "rrf"), (results[4], "weighted")):
        for row, query in enumerate(data.queries):
            hits = fusion.fuse(method, fusion.candidates(dense[row]), fusion.candidates(bm25[row], positive_only=True))
            assert res.top_ids[query.id] == [data.doc_ids[h.index] for h in hits][:10]
    # sizes beside the scores
    table = results_table(results)
    assert [r["mode"] for r in table] == ["dense", "dense", "dense", "hybrid-rrf", "hybrid-weighted", "bm25"]
    assert [r["precision"] for r in table] == ["float32", "int8", "binary", "float32", "float32", "n/a"]
    assert [r["bytes per vector"] for r in table] == [192, 48, 2, 192, 192, None]
    assert table[0]["1M vectors (GB)"] == pytest.approx(0.192) and table[5]["1M vectors (GB)"] is None
    exported = json.loads(results_json(results, data, "m"))
    assert exported["results"][1]["config"]["precision"] == "int8"
    assert exported["results"][1]["bytes_per_vector"] == 48
    # the dimension chart leaves BM25 out and splits lines by mode and precision
    fig = figures.eval_dimension_line(pd.DataFrame(table))
    assert len(fig.data) == 5 and all(0 not in list(t.x) for t in fig.data)


def test_per_query_comparison_of_two_configurations():
    data, fake = small_set(unmatched_query=True), HashEmbedder()
    dense, bm25 = run_grid(data, [EvalConfig(), EvalConfig(mode="bm25")], fake)
    changes = compare_ranks(dense, bm25, data, k=4)
    plan = plan_grid(data, [EvalConfig()])
    vectors = fake.embed(plan.texts)
    order = rank_order(vectors[plan.query_rows[0]] @ vectors[plan.doc_rows[0]].T)
    by_id = {c.query_id: c for c in changes}
    for row, query in enumerate(data.queries):
        first = next(r for r, j in enumerate(order[row], start=1) if query.relevant.get(data.doc_ids[j], 0) >= 1)
        assert by_id[query.id].rank_a == (first if first <= 4 else None)
        assert by_id[query.id].rank_b == (bm25.first_relevant[query.id] if (bm25.first_relevant[query.id] or 99) <= 4
                                           else None)
    assert [c.change for c in changes] == sorted((c.change for c in changes), reverse=True)
    for c in changes:
        a, b = c.rank_a or 5, c.rank_b or 5
        assert c.change == a - b and c.label == ("fixed" if a > b else "broke" if a < b else "same")
    assert by_id["q4"].rank_b is None
    table = rank_change_table(changes, k=4)
    assert {r["rank B"] for r in table if r["query id"] == "q4"} == {">4"}
    assert sum(rank_change_counts(changes).values()) == 4
    fig = figures.rank_change_dumbbell(table, "dense <b>", "BM25", k=4)
    assert len(fig.data) == 4 + 2 and "&lt;b&gt;" in fig.data[-2].name
    with pytest.raises(ValueError, match="different queries"):
        compare_ranks(dense, run_grid(LabelledSet("x", data.documents, data.queries[:2]),
                                            [EvalConfig()], fake)[0], data)


def test_calibration_figures_have_the_groups_and_thresholds():
    from embedlab.evaluation.calibration import calibrate

    out = calibrate(np.array([[0.9, 0.3], [0.2, 0.7]]), np.array([[True, False], [False, True]]), 1.0)
    fig = figures.similarity_distributions(out.relevant, out.non_relevant,
                                           {"best F1": out.best.threshold, "precision 1.0": out.at_precision.threshold})
    assert [t.name for t in fig.data] == ["relevant (2 pairs)", "non-relevant (2 pairs)"]
    assert len(fig.layout.shapes) == 2
    curve = figures.threshold_metrics(out.curve, {"best F1": out.best.threshold})
    assert [t.name for t in curve.data] == ["precision", "recall", "F1"] and len(curve.layout.shapes) == 1


def test_modes_on_the_bundled_chinese_set_with_a_real_model(embedding_server, tmp_path):
    """The stand-in model (multilingual e5-small) on the bundled IT-policy set: every mode and
    precision gives real, different per-query results; BM25 with jieba finds relevant documents."""
    data = load_bundled("IT security policy (Chinese)")
    # A generous timeout: these tests measure retrieval, and share two cores with other test processes.
    inner = OpenAICompatibleEmbedder(embedding_server, "multilingual-e5-small-q4", batch_size=64, timeout_s=120)
    embedder = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    grid = make_grid([("none", "")], modes=list(MODES),
                        precisions=[("float32", False), ("binary", False), ("binary", True)])
    results = {(r.config.mode, r.config.precision_label): r for r in run_grid(data, grid, embedder)}
    assert len(results) == 3 * 3 + 1
    bm25 = results[("bm25", "")]
    assert bm25.metrics["ndcg@10"] > 0.4 and bm25.metrics["recall@10"] > 0.5
    dense = results[("dense", "float32")]
    assert dense.metrics["ndcg@10"] > 0.4
    # binary loses some quality; rescoring the top 100 in float32 recovers the float ranking's top 10
    assert results[("dense", "binary + rescore 100")].metrics == pytest.approx(dense.metrics)
    assert results[("dense", "binary")].metrics["ndcg@10"] <= dense.metrics["ndcg@10"] + 0.02
    changes = compare_ranks(dense, bm25, data)
    counts = rank_change_counts(changes)
    assert counts["fixed"] > 0 and counts["broke"] > 0  # each mode wins some queries
    assert results[("hybrid-rrf", "float32")].metrics["ndcg@10"] >= min(dense.metrics["ndcg@10"],
                                                                         bm25.metrics["ndcg@10"])
    assert quantize.bytes_per_vector(384, "binary") == results[("dense", "binary")].bytes_per_vector == 48
