"""Cosine matrices, rank order and reciprocal rank: the ranking primitives every page uses.

Embeddings are float32 (k, dim) with L2-normalised rows, so cosine similarity is a dot product.
`sim[i, j]` is the similarity of query i and document j.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def cosine_matrix(queries: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """sim[i, j] = cos(queries[i], documents[j]).

    Args:
        queries: (n, dim), rows L2-normalised.
        documents: (m, dim), rows L2-normalised.

    Returns:
        float64 (n, m).
    """
    q = np.asarray(queries, dtype=np.float64)
    d = np.asarray(documents, dtype=np.float64)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"shapes {q.shape} and {d.shape} cannot be compared")
    return q @ d.T



def rank_order(scores: np.ndarray, k: int | None = None) -> np.ndarray:
    """Document indices by descending score, ties broken by document order (stable sort).

    The one ranking of the app: heatmap rankings, MRR and the retrieval metrics all use it.

    Args:
        scores: (n_queries, n_docs) similarities.
        k: keep only the first k columns when set.
    Returns:
        int64 (n_queries, min(k, n_docs)) document indices, best first.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), axis=1, kind="stable")
    return order if k is None else order[:, :k]


def ranks(sim: np.ndarray) -> np.ndarray:
    """ranks[i, j] = 1-based rank of document j for query i (1 = most similar), from rank_order.

    Returns int (n, m).
    """
    order = rank_order(sim)
    out = np.empty_like(order)
    rows = np.arange(order.shape[0])[:, None]
    out[rows, order] = np.arange(1, order.shape[1] + 1)[None, :]
    return out


def reciprocal_rank(relevant_in_order: Iterable[bool], k: int | None = None) -> float:
    """1 / rank of the first relevant item in a ranking (best first), 0.0 when none is in the top k.

    The one definition of (M)RR: the Instruction Lab's MRR (no cut-off) and MRR@10 use it.
    """
    for rank, relevant in enumerate(relevant_in_order, start=1):
        if k is not None and rank > k:
            break
        if relevant:
            return 1.0 / rank
    return 0.0
