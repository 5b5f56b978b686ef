"""Retrieval for the Search page against a real embedded Chroma: the query formatted with the
collection's instruction, ranking by cosine similarity, the no-instruction comparison, the source
filter, the rerank stage (its failure kept, not raised) and the tables built from an outcome."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab import judged_search, retrieval
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.instructions import format_query
from embedlab.judge_metrics import query_scores
from embedlab.judgments import chunk_key
from embedlab.rerank import RerankClient, RerankedHit
from embedlab.retrieval import QueryOutcome, run_query, source_filter
from embedlab.stores.base import (
    CALIBRATED,
    SET_BY_HAND,
    UNCALIBRATED,
    CollectionInfo,
    CollectionSpec,
    Hit,
    StoreError,
)
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support.rerank_server import RerankServer
from tests.support.word_embedder import HR_CHUNKS, HR_TASK, WordEmbedder

TASK, CHUNKS = HR_TASK, HR_CHUNKS


@pytest.fixture
def embedder() -> WordEmbedder:
    return WordEmbedder()


@pytest.fixture
def store(tmp_path, embedder) -> ChromaStore:
    store = ChromaStore(open_client(path=str(tmp_path / "chroma")))
    for name, task in (("hr_policy_v1", TASK), ("plain_v1", "")):
        store.create(CollectionSpec(name, embedder.model_id, embedder.dim, "HR policy" if task else "", task,
                                    threshold=0.3))
        texts = [t for _, t in CHUNKS]
        store.upsert(name, embedder.model_id, [f"c{i}" for i in range(len(CHUNKS))], texts,
                     [{"source": s, "chunk": i, "start": 0, "end": len(t)} for i, (s, t) in enumerate(CHUNKS)],
                     embedder.embed(texts))
    embedder.calls.clear()
    return store


def expected_order(embedder: WordEmbedder, text: str, allowed: set[str] | None = None) -> list[str]:
    """Chunk texts ranked by cosine similarity (dot product of unit vectors) to `text`."""
    docs = [t for s, t in CHUNKS if allowed is None or s in allowed]
    sims = embedder.embed(docs) @ embedder.embed([text])[0]
    return [docs[i] for i in np.argsort(-sims, kind="stable")]


def test_the_query_is_formatted_with_the_collection_instruction_and_ranked_by_cosine(store, embedder):
    spec = store.spec("hr_policy_v1")
    out = run_query(store, spec, embedder, "carry over unused annual leave", k=3)
    assert out.sent == format_query(TASK, "carry over unused annual leave") != out.query
    assert out.sent.startswith("Instruct: " + TASK)
    assert embedder.calls == [[out.sent]]  # one text: no comparison asked for
    ranking = expected_order(embedder, out.sent)
    assert [h.text for h in out.hits] == ranking[:3]
    assert [h.rank for h in out.hits] == [1, 2, 3]
    assert [h.similarity for h in out.hits] == sorted((h.similarity for h in out.hits), reverse=True)
    assert out.fetched == 3 and out.plain_hits is None and out.reranked is None
    assert (out.collection, out.threshold, out.instruction_name) == ("hr_policy_v1", 0.3, "HR policy")
    assert out.shown_threshold is None  # the collection's threshold is not calibrated
    assert set(out.timings_ms) == {"embed", "search", "rerank"} and out.timings_ms["rerank"] is None
    assert out.timings_ms["embed"] >= 0 and out.timings_ms["search"] > 0
    assert out.embed_cached is False  # a bare model has no cache to answer from


def test_compare_embeds_both_texts_in_one_call_and_ranks_the_bare_query(store, embedder):
    out = run_query(store, store.spec("hr_policy_v1"), embedder, "taxi receipt after working late", k=4,
                    compare=True)
    assert embedder.calls == [[out.sent, "taxi receipt after working late"]]
    assert [h.text for h in out.plain_hits] == expected_order(embedder, "taxi receipt after working late")[:4]
    with_table, without_table = retrieval.comparison_tables(out)
    plain_rank = {h.id: h.rank for h in out.plain_hits}
    assert list(with_table["rank without"]) == [plain_rank.get(h.id) for h in out.hits]
    assert list(without_table["rank with"]) == [{h.id: h.rank for h in out.hits}.get(h.id) for h in out.plain_hits]
    moves = retrieval.instruction_moves(out)
    assert len(moves) == len({h.id for h in [*out.hits, *out.plain_hits]})
    assert all(without is not None or with_ is not None for _, without, with_ in moves)


def test_without_an_instruction_the_comparison_is_the_same_ranking(store, embedder):
    out = run_query(store, store.spec("plain_v1"), embedder, "hotel costs", k=2, compare=True)
    assert out.sent == "hotel costs" and embedder.calls == [["hotel costs"]]
    assert out.plain_hits == out.hits


def test_the_source_filter_keeps_only_those_documents(store, embedder):
    assert source_filter([]) is None
    assert source_filter(["a.md"]) == {"source": "a.md"}
    assert source_filter(["a.md", "b.md"]) == {"source": {"$in": ["a.md", "b.md"]}}
    out = run_query(store, store.spec("hr_policy_v1"), embedder, "annual leave", k=5,
                    sources=["expenses.md", "security.md"])
    assert {h.source for h in out.hits} == {"expenses.md", "security.md"} and len(out.hits) == 4
    assert [h.text for h in out.hits] == expected_order(embedder, out.sent, {"expenses.md", "security.md"})


def test_rerank_reads_the_bare_question_over_top_n_candidates(store, embedder):
    server = RerankServer()
    try:
        client = RerankClient(server.url + "/v1", "Qwen/Qwen3-Reranker-0.6B")
        out = run_query(store, store.spec("hr_policy_v1"), embedder, "visitors badge front desk", k=2,
                        reranker=client, fetch_n=5)
        [req] = server.requests
        assert req["query"] == "visitors badge front desk" and req["top_n"] == 2
        assert req["documents"] == expected_order(embedder, out.sent)[:5]  # the top N by embedding
        assert out.fetched == 5 and len(out.hits) == 2
        assert [r.rank for r in out.reranked] == [1, 2]
        assert out.reranked[0].hit.text == "Visitors sign in at the front desk and wear a badge."
        assert out.rerank_error is None and out.timings_ms["rerank"] > 0
        table = retrieval.rerank_table(out.reranked, out.threshold)
        assert list(table["rank"]) == [1, 2] and table["rerank score"].is_monotonic_decreasing
        assert list(table["embedding rank"]) == [r.hit.rank for r in out.reranked]

        server.status = 500  # a failing reranker is reported in the outcome; the hits stay
        failed = run_query(store, store.spec("hr_policy_v1"), embedder, "visitors badge", k=2, reranker=client)
        assert "HTTP 500" in str(failed.rerank_error) and failed.reranked is None and len(failed.hits) == 2
    finally:
        server.close()


def test_store_failures_raise_the_store_error(store, embedder):
    spec = store.spec("hr_policy_v1")
    store.delete("hr_policy_v1")
    with pytest.raises(StoreError, match="no collection 'hr_policy_v1'"):
        run_query(store, spec, embedder, "annual leave", k=3)

    class Wider(WordEmbedder):
        dim = 32

    with pytest.raises(StoreError, match="holds 64-dimensional vectors"):
        run_query(store, store.spec("plain_v1"), Wider(), "annual leave", k=3)


def test_a_query_answered_from_the_cache_says_so(store, embedder, tmp_path):
    cached = CachedEmbedder(embedder, EmbeddingCache(tmp_path / "cache.sqlite"))
    first = run_query(store, store.spec("hr_policy_v1"), cached, "parental leave weeks", k=2)
    again = run_query(store, store.spec("hr_policy_v1"), cached, "parental leave weeks", k=2)
    assert (first.embed_cached, again.embed_cached) == (False, True)
    assert len(embedder.calls) == 1 and [h.id for h in again.hits] == [h.id for h in first.hits]


def hit(rank: int, similarity: float, text: str = "t", source: str = "a.md") -> Hit:
    return Hit(f"id{rank}", text, {"source": source, "chunk": rank - 1}, similarity, rank)


def test_result_tables_mark_the_threshold_and_keep_text_on_one_short_line():
    long_text = "first line\n\n" + "word " * 60
    out = QueryOutcome("kb_v1", "q", "q", 0.5, "", [hit(1, 0.8, long_text), hit(2, 0.5), hit(3, 0.2)],
                       threshold_applies=True)
    table = retrieval.hits_table(out.hits, out.shown_threshold)
    assert list(table.columns) == ["rank", "similarity", "above threshold", "source", "chunk", "text"]
    assert list(table["above threshold"]) == ["yes", "yes", "no"] and out.below_threshold == 1
    assert "\n" not in table.loc[0, "text"] and len(table.loc[0, "text"]) == retrieval.TEXT_CHARS
    assert table.loc[0, "text"].startswith("first line word") and table.loc[0, "text"].endswith("…")
    reranked = [RerankedHit(out.hits[2], 1, 0.9), RerankedHit(out.hits[0], 2, 0.4)]
    assert list(retrieval.rerank_table(reranked, 0.5)["move"]) == ["↑2", "↓1"]
    assert retrieval.rerank_moves(reranked)[0][1:] == (3, 1)
    assert retrieval.bar_labels(out.hits[:2]) == ["#1 a.md", "#2 a.md"]


def test_an_uncalibrated_threshold_marks_nothing():
    out = QueryOutcome("kb_v1", "q", "q", 0.5, "", [hit(1, 0.8), hit(2, 0.3)])  # threshold not calibrated
    assert out.shown_threshold is None and out.below_threshold == 0
    assert "above threshold" not in retrieval.hits_table(out.hits, out.shown_threshold).columns
    reranked = [RerankedHit(out.hits[1], 1, 0.9)]
    assert "above threshold" not in retrieval.rerank_table(reranked, out.shown_threshold).columns
    calibrated = QueryOutcome("kb_v1", "q", "q", 0.5, "", out.hits, threshold_applies=True)
    assert calibrated.shown_threshold == 0.5 and calibrated.below_threshold == 1


def test_the_outcome_follows_where_the_collection_threshold_came_from(store, embedder):
    assert not store.spec("hr_policy_v1").threshold_applies  # a new collection is uncalibrated
    assert run_query(store, store.spec("hr_policy_v1"), embedder, "annual leave", k=2).shown_threshold is None
    spec = store.update("hr_policy_v1", threshold=0.42, threshold_source=CALIBRATED, threshold_note="best F1")
    again = store.spec("hr_policy_v1")  # read back from the collection's metadata
    assert spec == again and (again.threshold, again.threshold_source, again.threshold_note) == (
        0.42, CALIBRATED, "best F1")
    assert run_query(store, again, embedder, "annual leave", k=2).shown_threshold == 0.42
    store.update("hr_policy_v1", threshold_source=SET_BY_HAND, threshold_note="")
    assert store.spec("hr_policy_v1").threshold_applies
    # Metadata written before the source was recorded reads as uncalibrated; unknown sources are refused.
    meta = {k: v for k, v in again.to_metadata().items() if not k.startswith("threshold_")}
    assert CollectionSpec.from_metadata("hr_policy_v1", meta).threshold_source == UNCALIBRATED
    with pytest.raises(ValueError, match="threshold source"):
        CollectionSpec("x_v1", "m", 8, threshold_source="guessed")


def test_the_shift_sentence_says_what_changed_and_never_which_is_better():
    hits = [hit(1, 0.9), hit(2, 0.8), hit(3, 0.7)]
    plain = [Hit("id2", "t", {}, 0.85, 1), Hit("id1", "t", {}, 0.75, 2), Hit("other", "t", {}, 0.6, 3)]
    out = QueryOutcome("kb_v1", "q", "Instruct: x\nQuery:q", 0.5, "x", hits, plain)
    shift = retrieval.instruction_shift(out)
    # id3 is new with the instruction; id1 and id2 are in both lists at other ranks; the first differs.
    assert (shift.k, shift.new, shift.moved, shift.same_first) == (3, 1, 2, False)
    assert shift.mean_with == pytest.approx(0.8) and shift.shift == pytest.approx(0.8 - 0.7333333)
    sentence = str(retrieval.shift_sentence(shift))
    assert "1 of the top 3 results are new and 2 of the others change rank, the first result changes" in sentence
    assert "+0.067 (0.800 with, 0.733 without)" in sentence and "not which one is better" in sentence
    assert "better" not in sentence.replace("not which one is better", "")
    same = QueryOutcome("kb_v1", "q", "q2", 0.5, "x", hits, hits)
    assert str(retrieval.shift_sentence(retrieval.instruction_shift(same))).startswith(
        "The instruction leaves the top 3 as it is (same results in the same order) and shifts the mean "
        "similarity by +0.000")
    assert retrieval.instruction_shift(QueryOutcome("kb_v1", "q", "q", 0.5, "", hits)) is None


def test_the_judged_verdict_scores_both_rankings_on_every_judged_query(store, embedder):
    spec = store.spec("hr_policy_v1")
    relevant = {"annual leave days": 0, "taxi fares late": 3, "visitors badge": 6, "laptop screen lock": 5}
    grades = {(q, chunk_key(CHUNKS[i][1])): 2 for q, i in relevant.items()}
    grades[("annual leave days", chunk_key(CHUNKS[5][1]))] = 0  # a judged non-relevant chunk
    found = judged_search.judged_instruction_comparison(store, spec, embedder, grades, k=3)
    queries = sorted(relevant)
    assert embedder.calls == [[format_query(TASK, q) for q in queries] + queries]
    # The same figures from the rankings directly: nDCG@3 of each query with and without the instruction.
    expected = {}
    for side, text in (("with", lambda q: format_query(TASK, q)), ("without", lambda q: q)):
        expected[side] = [query_scores([chunk_key(t) for t in expected_order(embedder, text(q))[:3]],
                                       {chunk_key(CHUNKS[relevant[q]][1]): 2, **(
                                           {chunk_key(CHUNKS[5][1]): 0} if q == "annual leave days" else {})},
                                       3)["ndcg"] for q in queries]
    test = found.test
    assert test.n == 4 and found.k == 3
    assert test.mean_b == pytest.approx(np.mean(expected["with"])) and test.mean_a == pytest.approx(
        np.mean(expected["without"]))
    assert 0 < found.coverage < 1  # most retrieved chunks are unjudged
    sentence = str(judged_search.judged_sentence(found))
    assert sentence.startswith("Over the 4 judged queries of this collection") and "95% CI" in sentence
    assert f"p = {test.p_value:.3g}" in sentence
    single = judged_search.judged_instruction_comparison(store, spec, embedder, dict(list(grades.items())[:1]), k=3)
    assert str(judged_search.judged_sentence(single)).startswith("Only 1 query of this collection is judged")
    assert judged_search.judged_instruction_comparison(store, spec, embedder, {}, k=3) is None


def test_collections_table_says_which_collections_the_current_model_can_use():
    mine = CollectionSpec("hr_v1", "m@http://a/v1", 384, "HR policy", TASK, "handbook", 0.4, threshold_source=SET_BY_HAND)
    infos = [
        CollectionInfo("hr_v1", 14, mine),
        CollectionInfo("old_v1", 3, CollectionSpec("old_v1", "bge-m3@http://b/v1", 1024)),
        CollectionInfo("foreign", 9, None),
    ]
    table = retrieval.collections_table(infos, "m@http://elsewhere/v1", 384)  # same model, other server
    assert list(table["usable now"].map(str)) == ["yes", "no: bge-m3 / 1024 d", "no: not made by this playground"]
    assert list(table["instruction"]) == ["HR policy", "(none)", ""]
    assert table.loc[0, "model"] == "m" and table.loc[0, "chunks"] == 14 and table.loc[0, "threshold"] == 0.4
    assert table.loc[1, "threshold"] is None or np.isnan(table.loc[1, "threshold"])  # uncalibrated: no value
    assert list(table["threshold from"]) == [SET_BY_HAND, UNCALIBRATED, ""]
    unknown = retrieval.collections_table(infos, "m@http://a/v1", None)  # the model did not answer
    assert list(unknown["usable now"].map(str)) == ["?", "?", "no: not made by this playground"]
