"""With and without the collection's instruction on the queries people judged on the Judge page:
nDCG@k of both rankings over the judged queries, with a paired test (Search's comparison verdict)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from embedlab.backends import Embedder
from embedlab.instructions import format_query
from embedlab.judge_metrics import query_scores
from embedlab.judgments import chunk_key
from embedlab.messages import N_, Message
from embedlab.retrieval import source_filter
from embedlab.significance import PairedTest, paired_test
from embedlab.stores.base import CollectionSpec, VectorStore


@dataclass(frozen=True)
class JudgedComparison:
    """nDCG@k with and without the instruction over a collection's judged queries.

    test: the paired test of the per-query nDCG@k, a = without the instruction, b = with it;
    coverage: the share of both top k lists that has a grade (unjudged chunks count as not
    relevant, so below 1 the scores are lower bounds).
    """

    k: int
    test: PairedTest
    coverage: float


def judged_instruction_comparison(store: VectorStore, spec: CollectionSpec, embedder: Embedder,
                                  grades: Mapping[tuple[str, str], int], k: int, *,
                                  sources: Sequence[str] = ()) -> JudgedComparison | None:
    """Score the top `k` with and without the collection's instruction on every judged query.

    Args:
        grades: (query text, chunk key) -> grade 0-2, as judgments.select_grades gives them
            (chunk keys are judgments.chunk_key of the chunk text).
    Returns None when no query of the collection is judged.
    Raises:
        EmbeddingError, StoreError: as run_query.
    """
    by_query: dict[str, dict[str, int]] = {}
    for (query, chunk), grade in grades.items():
        by_query.setdefault(query, {})[chunk] = grade
    queries = sorted(by_query)
    if not queries:
        return None
    texts = [format_query(spec.instruction, q) for q in queries] + queries
    vectors = embedder.embed(texts)  # (2 * len(queries), dim): with the instruction, then without
    where = source_filter(sources)
    scores: dict[str, list[float]] = {"with": [], "without": []}
    judged = retrieved = 0
    for i, query in enumerate(queries):
        for side, row in (("with", i), ("without", len(queries) + i)):
            keys = [chunk_key(h.text) for h in store.search(spec.name, embedder.model_id, vectors[row], k, where)]
            scores[side].append(query_scores(keys, by_query[query], k)["ndcg"])
            judged += sum(key in by_query[query] for key in keys)
            retrieved += len(keys)
    test = paired_test(scores["without"], scores["with"])
    return JudgedComparison(k, test, judged / retrieved if retrieved else 0.0)


def judged_sentence(found: JudgedComparison) -> Message:
    """One sentence on nDCG@k with and without the instruction, with its interval and test."""
    t = found.test
    if t.n < 2 or t.p_value is None or t.ci_low is None or t.ci_high is None:
        return Message(N_("Only {n} query of this collection is judged: judge at least two on the Judge page for a "
                          "verdict with a confidence interval."), {"n": t.n})
    params = {"n": t.n, "k": found.k, "a": t.mean_a, "b": t.mean_b, "diff": t.diff, "lo": t.ci_low,
              "hi": t.ci_high, "p": t.p_value}
    if t.significant and t.diff > 0:
        return Message(N_("Over the {n} judged queries of this collection, the instruction raises nDCG@{k} from "
                          "{a:.3f} to {b:.3f} ({diff:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}, paired permutation test "
                          "p = {p:.3g}): significantly better with it at the 0.05 level."), params)
    if t.significant and t.diff < 0:
        return Message(N_("Over the {n} judged queries of this collection, the instruction lowers nDCG@{k} from "
                          "{a:.3f} to {b:.3f} ({diff:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}, paired permutation test "
                          "p = {p:.3g}): significantly worse with it at the 0.05 level."), params)
    return Message(N_("Over the {n} judged queries of this collection, nDCG@{k} is {b:.3f} with the instruction and "
                      "{a:.3f} without ({diff:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}, paired permutation test "
                      "p = {p:.3g}): no significant difference."), params)
