"""Hybrid retrieval: fusing a dense (embedding) ranking with a BM25 ranking.

Both methods take two candidate lists, each best first as (item index, score) pairs: the dense
top `depth` and the BM25 matches (texts sharing at least one term with the query) top `depth`.
An item may be in one list, in both, or (outside the candidates) in neither, when it is not a hit.

- Reciprocal-rank fusion (Cormack et al. 2009): fused = sum over the lists that hold the item of
  1 / (k + rank), rank 1-based, k = 60. Only ranks matter, not the scores' scales.
- Weighted score fusion: each list's scores are min-max normalised over that list's candidates
  (best = 1, worst = 0; a list whose scores are all equal gives 1 to each), an item missing from a
  list gets 0 there, and fused = alpha * dense + (1 - alpha) * bm25.

Equal fused scores are ordered by the item's best rank in either list, then dense before BM25,
then by item index, so every fused ranking is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embedlab.ranking import rank_order

RRF_K = 60
DEFAULT_ALPHA = 0.5  # weight of the dense side in weighted fusion
FUSION_DEPTH = 100  # candidates taken from each list before fusing
METHODS = ("rrf", "weighted")

Ranked = Sequence[tuple[int, float]]  # (item index, score), best first


@dataclass(frozen=True)
class FusedHit:
    """One fused result and where it came from.

    index: the item (chunk or document) index; rank: 1-based fused rank; score: the fused score;
    dense_rank / bm25_rank: 1-based rank in each candidate list, None when not in it;
    dense_score / bm25_score: the raw score in each list (cosine similarity, BM25), None when absent.
    """

    index: int
    rank: int
    score: float
    dense_rank: int | None
    bm25_rank: int | None
    dense_score: float | None
    bm25_score: float | None

    @property
    def origin(self) -> str:
        """"both", "dense" or "bm25": which candidate lists held this hit."""
        if self.dense_rank is not None and self.bm25_rank is not None:
            return "both"
        return "dense" if self.dense_rank is not None else "bm25"


def _positions(ranked: Ranked) -> dict[int, tuple[int, float]]:
    out: dict[int, tuple[int, float]] = {}
    for rank, (index, score) in enumerate(ranked, start=1):
        if int(index) in out:
            raise ValueError(f"item {index} is listed twice in one ranking")
        out[int(index)] = (rank, float(score))
    return out


def _assemble(dense: Ranked, bm25: Ranked, fused: dict[int, float], limit: int | None) -> list[FusedHit]:
    d, b = _positions(dense), _positions(bm25)
    inf = float("inf")

    def order(index: int) -> tuple:
        dr, br = d.get(index, (inf, 0))[0], b.get(index, (inf, 0))[0]
        return (-fused[index], min(dr, br), 0 if dr <= br else 1, index)

    items = sorted(fused, key=order)[:limit]
    return [
        FusedHit(i, r, fused[i], d[i][0] if i in d else None, b[i][0] if i in b else None,
                 d[i][1] if i in d else None, b[i][1] if i in b else None)
        for r, i in enumerate(items, start=1)
    ]


def reciprocal_rank_fusion(dense: Ranked, bm25: Ranked, k: int = RRF_K, limit: int | None = None) -> list[FusedHit]:
    """RRF of two candidate lists (see the module docstring); the best `limit` (all when None)."""
    if k < 0:
        raise ValueError("k must be >= 0")
    fused: dict[int, float] = {}
    for ranked in (dense, bm25):
        for rank, (index, _score) in enumerate(ranked, start=1):
            fused[int(index)] = fused.get(int(index), 0.0) + 1.0 / (k + rank)
    return _assemble(dense, bm25, fused, limit)


def _min_max(ranked: Ranked) -> dict[int, float]:
    if not ranked:
        return {}
    scores = np.asarray([s for _, s in ranked], dtype=np.float64)
    lo, hi = scores.min(), scores.max()
    span = hi - lo
    return {int(i): (float((s - lo) / span) if span > 0 else 1.0) for (i, _), s in zip(ranked, scores, strict=True)}


def weighted_fusion(dense: Ranked, bm25: Ranked, alpha: float = DEFAULT_ALPHA,
                    limit: int | None = None) -> list[FusedHit]:
    """Weighted fusion of min-max normalised scores (see the module docstring); alpha weighs dense."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1")
    nd, nb = _min_max(dense), _min_max(bm25)
    fused = {i: alpha * nd.get(i, 0.0) + (1 - alpha) * nb.get(i, 0.0) for i in {*nd, *nb}}
    return _assemble(dense, bm25, fused, limit)


def fuse(method: str, dense: Ranked, bm25: Ranked, *, k: int = RRF_K, alpha: float = DEFAULT_ALPHA,
         limit: int | None = None) -> list[FusedHit]:
    """`reciprocal_rank_fusion` ("rrf") or `weighted_fusion` ("weighted") by name."""
    if method == "rrf":
        return reciprocal_rank_fusion(dense, bm25, k, limit)
    if method == "weighted":
        return weighted_fusion(dense, bm25, alpha, limit)
    raise ValueError(f"unknown fusion method {method!r}; choose from {', '.join(METHODS)}")


def candidates(scores: np.ndarray, depth: int | None = FUSION_DEPTH, positive_only: bool = False) -> list[tuple[int, float]]:
    """The top `depth` (index, score) of one score vector, best first (rank_order ties).

    Args:
        scores: (n,) scores of every item for one query.
        positive_only: keep only scores > 0 (BM25: an item sharing no term is not a match).
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = rank_order(scores[None, :])[0]
    keep = scores[order] > 0 if positive_only else np.isfinite(scores[order])
    order = order[keep]
    if depth is not None:
        order = order[:depth]
    return [(int(i), float(scores[i])) for i in order]


def fused_matrix(method: str, dense: np.ndarray, bm25: np.ndarray, *, depth: int | None = FUSION_DEPTH,
                 k: int = RRF_K, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Per query, the fused ranking as scores that `rank_order` sorts into exactly that order.

    Args:
        dense: (n_queries, n_items) similarities; bm25: (n_queries, n_items) BM25 scores (0 = no match).
    Returns:
        float64 (n_queries, n_items): the fused hits get n_items - (fused rank - 1) (> 0, decreasing);
        items in neither candidate list get -inf (not retrieved).
    """
    dense, bm25 = np.asarray(dense), np.asarray(bm25)
    if dense.shape != bm25.shape:
        raise ValueError(f"dense scores {dense.shape} and BM25 scores {bm25.shape} differ in shape")
    out = np.full(dense.shape, -np.inf)
    n = dense.shape[1]
    for row in range(dense.shape[0]):
        hits = fuse(method, candidates(dense[row], depth), candidates(bm25[row], depth, positive_only=True),
                    k=k, alpha=alpha)
        for hit in hits:
            out[row, hit.index] = n - (hit.rank - 1)
    return out
