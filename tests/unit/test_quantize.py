"""Vector precision (embedlab.quantize): int8 and binary scores against a direct numpy computation,
float rescoring of the top N, and the sizes per vector and per million vectors."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab import quantize as qz
from embedlab.ranking import rank_order


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


DOCS, QUERIES = unit_rows(300, 96, 1), unit_rows(12, 96, 2)


def test_sizes_per_vector_and_per_million():
    assert [qz.bytes_per_vector(1024, p) for p in qz.PRECISIONS] == [4096, 1024, 128]
    assert qz.bytes_per_vector(100, "binary") == 13  # 100 bits round up to 13 bytes
    assert qz.store_bytes(1024, "float32") == 4_096_000_000
    assert qz.store_bytes(1024, "binary") == 128_000_000
    assert qz.store_bytes(1024, "int8", rescore=True) == (1024 + 4096) * 1_000_000
    with pytest.raises(ValueError, match="unknown precision"):
        qz.bytes_per_vector(8, "fp16")


def test_int8_scores_equal_the_dequantised_dot_product():
    scale = np.abs(DOCS).max(axis=0) / 127  # per dimension, from the documents
    deq_d = np.clip(np.round(DOCS / scale), -127, 127) * scale
    deq_q = np.clip(np.round(QUERIES / scale), -127, 127) * scale
    expected = deq_q.astype(np.float64) @ deq_d.T.astype(np.float64)
    got = qz.scores(QUERIES, DOCS, "int8")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    codes = qz.quantize_int8(DOCS, qz.int8_scales(DOCS))
    assert codes.codes.dtype == np.int8 and codes.codes.shape == DOCS.shape
    assert np.abs(codes.codes).max() == 127  # each dimension's peak maps to +-127
    # int8 keeps the float ranking nearly intact: the same best document for every query here.
    exact = QUERIES @ DOCS.T
    assert (rank_order(got, 1) == rank_order(exact, 1)).all()
    assert np.abs(got - exact).max() < 0.02


def test_binary_scores_equal_the_cosine_of_sign_vectors():
    signs_d, signs_q = np.where(DOCS > 0, 1.0, -1.0), np.where(QUERIES > 0, 1.0, -1.0)
    expected = signs_q @ signs_d.T / DOCS.shape[1]
    np.testing.assert_allclose(qz.scores(QUERIES, DOCS, "binary"), expected, atol=1e-6)
    packed = qz.quantize_binary(DOCS)
    assert packed.dtype == np.uint8 and packed.shape == (300, 12)
    hamming = qz.hamming(qz.quantize_binary(QUERIES), packed)
    np.testing.assert_array_equal(hamming, (signs_q[:, None, :] != signs_d[None, :, :]).sum(axis=2))
    odd = unit_rows(5, 13, 3)  # a size that is not a multiple of 8: padding bits never differ
    s = np.where(odd > 0, 1.0, -1.0)
    np.testing.assert_allclose(qz.scores(odd, odd, "binary"), s @ s.T / 13, atol=1e-6)


def test_rescoring_puts_exact_scores_on_the_top_candidates():
    raw = qz.scores(QUERIES, DOCS, "binary")
    got = qz.scores(QUERIES, DOCS, "binary", rescore_top=20)
    exact = QUERIES @ DOCS.T
    top = rank_order(raw, 20)
    for row in range(len(QUERIES)):
        cand = top[row]
        np.testing.assert_allclose(got[row, cand], exact[row, cand], atol=1e-6)
        others = np.setdiff1d(np.arange(300), cand)
        assert got[row, others].max() < got[row, cand].min()  # every candidate first
        # the others keep their binary order
        assert list(rank_order(got[row:row + 1, others])[0]) == list(rank_order(raw[row:row + 1, others])[0])
        # within the candidates, the float order
        assert list(cand[rank_order(got[row:row + 1, cand])[0]]) == list(cand[rank_order(exact[row:row + 1, cand])[0]])
    # rescoring everything gives the float ranking back
    full = qz.scores(QUERIES, DOCS, "int8", rescore_top=300)
    np.testing.assert_array_equal(rank_order(full), rank_order(exact))
    np.testing.assert_allclose(qz.scores(QUERIES, DOCS, "float32"), exact)
