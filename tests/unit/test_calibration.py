"""Threshold calibration (embedlab.calibration) on sets with a known best cut."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from embedlab.evaluation.calibration import (
    ThresholdPoint,
    best_f1,
    calibrate,
    calibrate_config,
    for_precision,
    threshold_curve,
)
from embedlab.evaluation.datasets import Document, LabelledSet, Query, relevance_labels
from embedlab.evaluation.grid import EvalConfig, plan_grid


def test_known_best_cut_and_the_precision_target():
    rel = [0.9, 0.85, 0.8, 0.6]
    non = [0.7, 0.5, 0.4, 0.3, 0.2]
    curve = threshold_curve(rel, non)
    assert list(curve["threshold"]) == [0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    best = best_f1(curve)
    # at 0.8: P 1, R 0.75, F1 6/7; at 0.6: P 4/5, R 1, F1 8/9 (the best); at 0.7: P R 0.75.
    assert best == ThresholdPoint(0.6, 0.8, 1.0, pytest.approx(8 / 9), 5)
    assert for_precision(curve, 0.9).threshold == 0.8  # the lowest cut still at precision 1
    assert for_precision(curve, 0.8).threshold == 0.6
    assert for_precision(threshold_curve([0.5], [0.9]), 0.9) is None  # unreachable
    with pytest.raises(ValueError, match="target precision"):
        for_precision(curve, 0.0)
    with pytest.raises(ValueError, match="no relevant pairs"):
        threshold_curve([], [0.1])


def test_equal_values_are_kept_together_and_f1_ties_take_the_higher_threshold():
    curve = threshold_curve([0.7, 0.5], [0.7, 0.1])
    assert list(curve["threshold"]) == [0.7, 0.5, 0.1]
    assert list(curve["kept"]) == [2, 3, 4] and list(curve["precision"]) == pytest.approx([0.5, 2 / 3, 0.5])
    lower = threshold_curve([0.9, 0.4], [0.6])  # 0.9: P 1 R .5 F1 2/3; 0.4: P 2/3 R 1 F1 0.8
    assert best_f1(lower).threshold == 0.4
    same = threshold_curve([0.9, 0.5], [0.7, 0.6])  # two cuts with F1 2/3: 0.9 and 0.5
    assert best_f1(same).threshold == 0.9


def test_calibrate_a_matrix_with_labels():
    sim = np.array([[0.9, 0.2, 0.65], [0.3, 0.8, 0.1]])
    labels = np.array([[True, False, False], [False, True, False]])
    out = calibrate(sim, labels, target_precision=1.0)
    assert sorted(out.relevant) == [0.8, 0.9] and sorted(out.non_relevant) == [0.1, 0.2, 0.3, 0.65]
    assert out.best.threshold == 0.8 and out.best.f1 == 1.0 and out.at_precision.threshold == 0.8
    with pytest.raises(ValueError, match="differ in shape"):
        calibrate(sim, labels[:1])


class HashEmbedder:
    model_id, dim = "hash-fake", 32

    def embed(self, texts, progress=None):
        rows = [np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                .normal(size=self.dim) for t in texts]
        return np.asarray([r / np.linalg.norm(r) for r in rows], dtype=np.float32)


def test_calibrate_a_configuration_of_the_evaluation_grid():
    docs = tuple(Document(f"d{i}", t) for i, t in enumerate(["alpha", "beta", "gamma", "delta"]))
    queries = (Query("q1", "one", {"d0": 1, "d1": 0}), Query("q2", "two", {"d2": 2}))
    data = LabelledSet("tiny", docs, queries)
    configs = [EvalConfig(precision="int8", rescore=True), EvalConfig(mode="bm25")]
    plan = plan_grid(data, configs)
    vectors = HashEmbedder().embed(plan.texts)
    out = calibrate_config(plan, vectors, 0)
    q = vectors[plan.query_rows[0]]
    d = vectors[plan.doc_rows[0]]
    sim = q @ d.T  # float32 cosine, whatever the configuration's precision
    assert sorted(out.relevant) == pytest.approx(sorted([sim[0, 0], sim[1, 2]]))
    assert len(out.non_relevant) == 6  # graded 0 counts as non-relevant, like unjudged documents
    assert relevance_labels(data).tolist() == [[True, False, False, False], [False, False, True, False]]
    with pytest.raises(ValueError, match="applies to dense retrieval"):
        calibrate_config(plan, vectors, 1)
