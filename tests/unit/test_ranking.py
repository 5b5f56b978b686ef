"""The ranking primitives: cosine matrices, rank order with ties, reciprocal rank."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab.ranking import cosine_matrix, rank_order, ranks, reciprocal_rank


def unit(rows):
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_cosine_matrix_is_dot_product_of_normalised_rows():
    rng = np.random.default_rng(0)
    q, d = unit(rng.normal(size=(3, 8))), unit(rng.normal(size=(5, 8)))
    sim = cosine_matrix(q, d)
    assert sim.shape == (3, 5) and sim.dtype == np.float64
    expected = [[np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) for b in d] for a in q]
    np.testing.assert_allclose(sim, expected, atol=1e-6)
    np.testing.assert_allclose(cosine_matrix(q, q).diagonal(), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="cannot be compared"):
        cosine_matrix(q, unit(rng.normal(size=(2, 4))))


def test_ranks_and_ties_keep_document_order():
    sim = np.array([[0.1, 0.9, 0.5], [0.3, 0.3, 0.2]])
    np.testing.assert_array_equal(ranks(sim), [[3, 1, 2], [1, 2, 3]])  # tie keeps document order
    np.testing.assert_array_equal(rank_order(sim), [[1, 2, 0], [0, 1, 2]])
    np.testing.assert_array_equal(rank_order(sim, 1), [[1], [0]])


def test_reciprocal_rank_is_the_first_relevant_within_k():
    assert reciprocal_rank([False, False, True, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False, False, True], k=2) == 0.0
    assert reciprocal_rank([]) == 0.0
