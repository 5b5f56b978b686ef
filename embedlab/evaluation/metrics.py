"""Retrieval metrics over labelled query sets: Recall@k, MRR@10, nDCG@10 as MTEB defines them.

Definitions (MTEB computes them with pytrec_eval / trec_eval; reproduced here without it):
- a document is *relevant* to a query when its grade is >= 1 (trec_eval's relevance level);
- Recall@k = relevant documents in the top k / all relevant documents of the query;
- MRR@10 = 1 / rank of the first relevant document within the top 10, else 0;
- nDCG@10 = DCG@10 / IDCG@10 with linear gains (the grade) and a log2(rank + 1) discount; the
  ideal ranking sorts every judged grade of the query (MTEB's main retrieval score).
Each metric is computed per query and averaged over queries (macro average).

Rankings are deterministic: equal scores are ordered by corpus order (a stable sort), unlike
trec_eval, which orders ties by descending document id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from embedlab.evaluation.datasets import Query
from embedlab.ranking import rank_order, reciprocal_rank

METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
MAIN_METRIC = "ndcg@10"
TIE_TOLERANCE = 1e-9  # per-query metric differences below this count as a tie


def query_metrics(ranked_ids: Sequence[str], grades: Mapping[str, int]) -> dict[str, float]:
    """MTEB's metrics for one query.

    Args:
        ranked_ids: document ids, best first (at least the top 10 when the corpus allows).
        grades: judged documents of this query: id -> grade (grade >= 1 is relevant).
    """
    relevant = {d for d, g in grades.items() if g >= 1}
    if not relevant:
        raise ValueError("a query needs at least one document with grade >= 1")
    out: dict[str, float] = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = len(relevant.intersection(ranked_ids[:k])) / len(relevant)
    out["mrr@10"] = reciprocal_rank((d in relevant for d in ranked_ids), k=10)
    dcg = sum(grades.get(d, 0) / math.log2(r + 1) for r, d in enumerate(ranked_ids[:10], start=1))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
    out["ndcg@10"] = dcg / idcg
    return out


def evaluate_scores(
    scores: np.ndarray, doc_ids: Sequence[str], queries: Sequence[Query]
) -> dict[str, dict[str, float]]:
    """Per-query metrics from a score matrix.

    Args:
        scores: (len(queries), len(doc_ids)) similarities.
    Returns:
        {query id: {metric: value}} in query order.
    """
    scores = np.asarray(scores)
    if scores.shape != (len(queries), len(doc_ids)):
        raise ValueError(f"scores have shape {scores.shape}, expected {(len(queries), len(doc_ids))}")
    top = rank_order(scores, 10)
    return {
        q.id: query_metrics([doc_ids[i] for i in top[row]], q.relevant) for row, q in enumerate(queries)
    }


def mean_metrics(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Macro average of each metric over queries."""
    if not per_query:
        raise ValueError("no queries to average")
    return {m: float(np.mean([pq[m] for pq in per_query.values()])) for m in METRICS}


def compare_per_query(
    baseline: Mapping[str, Mapping[str, float]],
    other: Mapping[str, Mapping[str, float]],
    metric: str = MAIN_METRIC,
) -> dict[str, int]:
    """Queries where `other` beats (wins), trails (losses) or equals (ties) the baseline on `metric`."""
    if set(baseline) != set(other):
        raise ValueError("the two results cover different queries")
    out = {"wins": 0, "losses": 0, "ties": 0}
    for qid, base in baseline.items():
        diff = other[qid][metric] - base[metric]
        out["wins" if diff > TIE_TOLERANCE else "losses" if diff < -TIE_TOLERANCE else "ties"] += 1
    return out
