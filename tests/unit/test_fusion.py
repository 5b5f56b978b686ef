"""Hybrid fusion (embedlab.fusion) on hand-made rankings whose fused order is worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab.fusion import candidates, fuse, fused_matrix, reciprocal_rank_fusion, weighted_fusion
from embedlab.ranking import rank_order


def test_rrf_order_scores_and_provenance_by_hand():
    # dense: 10, 11, 12; bm25: 12, 10, 13 (ids stand for chunks).
    dense = [(10, 0.9), (11, 0.8), (12, 0.7)]
    bm25 = [(12, 7.0), (10, 5.0), (13, 1.0)]
    hits = reciprocal_rank_fusion(dense, bm25)
    # 10: 1/61 + 1/62; 12: 1/63 + 1/61; 11: 1/62; 13: 1/63.
    assert [h.index for h in hits] == [10, 12, 11, 13]
    assert hits[0].score == pytest.approx(1 / 61 + 1 / 62) and hits[1].score == pytest.approx(1 / 63 + 1 / 61)
    assert [(h.dense_rank, h.bm25_rank) for h in hits] == [(1, 2), (3, 1), (2, None), (None, 3)]
    assert [h.origin for h in hits] == ["both", "both", "dense", "bm25"]
    assert hits[1].dense_score == 0.7 and hits[1].bm25_score == 7.0 and hits[3].dense_score is None
    assert [h.rank for h in hits] == [1, 2, 3, 4]
    assert [h.index for h in reciprocal_rank_fusion(dense, bm25, limit=2)] == [10, 12]
    # k matters: 22 is third in dense and second in BM25. With k = 60 being in both lists wins
    # (1/63 + 1/62 > 1/61); with k = 0 a single first place wins (1 > 1/3 + 1/2).
    dense, bm25 = [(20, 0.9), (21, 0.8), (22, 0.7)], [(23, 4.0), (22, 3.0)]
    assert [h.index for h in reciprocal_rank_fusion(dense, bm25)] == [22, 20, 23, 21]
    assert [h.index for h in reciprocal_rank_fusion(dense, bm25, k=0)] == [20, 23, 22, 21]


def test_rrf_ties_go_to_the_best_rank_then_dense():
    hits = reciprocal_rank_fusion([(5, 0.3), (6, 0.2)], [(7, 9.0), (5, 1.0)])
    # 5: 1/61 + 1/62 first; then 7 (bm25 rank 1: 1/61) before 6 (dense rank 2: 1/62).
    assert [h.index for h in hits] == [5, 7, 6]
    tie = reciprocal_rank_fusion([(1, 0.5)], [(2, 3.0)])  # both 1/61: same best rank, dense first
    assert [h.index for h in tie] == [1, 2]


def test_weighted_fusion_by_hand():
    dense = [(0, 0.9), (1, 0.5), (2, 0.1)]  # normalised 1, 0.5, 0
    bm25 = [(2, 10.0), (3, 5.0)]  # normalised 1, 0
    hits = weighted_fusion(dense, bm25, alpha=0.5)
    # 0: 0.5, 2: 0 + 0.5, 1: 0.25, 3: 0. Tie of 0 and 2 (best rank 1 each): dense first.
    assert [h.index for h in hits] == [0, 2, 1, 3]
    assert [h.score for h in hits] == pytest.approx([0.5, 0.5, 0.25, 0.0])
    assert [h.index for h in weighted_fusion(dense, bm25, alpha=1.0)][:3] == [0, 1, 2]
    assert [h.index for h in weighted_fusion(dense, bm25, alpha=0.0)][:2] == [2, 0]
    # alpha 0.8: 0 -> 0.8, 1 -> 0.4, 2 -> 0.2, 3 -> 0.
    assert [h.score for h in weighted_fusion(dense, bm25, alpha=0.8)] == pytest.approx([0.8, 0.4, 0.2, 0.0])
    single = weighted_fusion([(4, 0.3)], [])  # one candidate: normalised to 1
    assert single[0].score == pytest.approx(0.5) and single[0].origin == "dense"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse("max", [], [])
    with pytest.raises(ValueError, match="alpha"):
        weighted_fusion([], [], alpha=1.5)
    with pytest.raises(ValueError, match="listed twice"):
        reciprocal_rank_fusion([(1, 0.2), (1, 0.1)], [])
    assert fuse("rrf", [], []) == []


def test_candidates_and_the_matrix_form_give_the_list_order():
    scores = np.array([0.2, 0.9, 0.9, -np.inf, 0.5])
    assert candidates(scores, depth=3) == [(1, 0.9), (2, 0.9), (4, 0.5)]  # ties by index
    assert candidates(np.array([0.0, 2.0, 0.0, 1.0]), positive_only=True) == [(1, 2.0), (3, 1.0)]
    rng = np.random.default_rng(7)
    dense = rng.uniform(-0.2, 0.9, size=(5, 30))
    bm25 = np.where(rng.random((5, 30)) < 0.4, rng.uniform(0, 12, size=(5, 30)), 0.0)
    for method in ("rrf", "weighted"):
        matrix = fused_matrix(method, dense, bm25, depth=10)
        for row in range(5):
            hits = fuse(method, candidates(dense[row], 10), candidates(bm25[row], 10, positive_only=True))
            order = rank_order(matrix)[row][: len(hits)]
            assert list(order) == [h.index for h in hits]
            assert np.isneginf(matrix[row]).sum() == 30 - len(hits)
