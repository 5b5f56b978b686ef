"""The Search page's hybrid index of a collection: vectors read once per content, not once per query."""

from __future__ import annotations

import pytest

from embedlab import retrieval
from embedlab.keyword import IndexCache
from embedlab.store import Store
from tests.unit.test_hybrid_search import CHUNKS, WordEmbedder, store  # noqa: F401 - the fixture


class CountingStore(Store):
    """The real Chroma store, counting the reads that fetch vectors."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner.client)
        self.vector_reads = 0

    def get_records(self, name, ids=None, where=None, include_embeddings=False):
        self.vector_reads += bool(include_embeddings)
        return super().get_records(name, ids=ids, where=where, include_embeddings=include_embeddings)


def test_second_query_reuses_the_index_without_reading_vectors(store):  # noqa: F811
    counting, emb, cache = CountingStore(store), WordEmbedder(), IndexCache()
    spec = counting.spec("hr_policy_v1")
    stages = []
    vector = emb.embed(["annual leave"])[0]
    first = retrieval.hybrid_search(counting, spec, emb.model_id, vector, "annual leave", 3, cache=cache,
                                    progress=lambda stage, done, total: stages.append((done, total)))
    assert first.index_built and counting.vector_reads == 1 and first.timings_ms["index"] > 0
    assert stages == [(0, 2), (1, 2), (2, 2)]
    again = retrieval.hybrid_search(counting, spec, emb.model_id, vector, "annual leave", 3, cache=cache,
                                    progress=lambda *a: stages.append(a))
    assert not again.index_built and counting.vector_reads == 1 and again.timings_ms["index"] == 0
    assert len(stages) == 3  # no progress when nothing is built
    assert [h.id for h in again.hybrid] == [h.id for h in first.hybrid]
    # The index's vectors are the stored ones, row for row with the ids.
    stored = {r["id"]: r["embedding"] for r in store.get_records("hr_policy_v1", include_embeddings=True)}
    load = retrieval.collection_index(counting, "hr_policy_v1", cache=cache)
    assert not load.built and load.index.vectors[2] == pytest.approx(stored[load.index.ids[2]], abs=1e-6)


def test_an_edited_text_under_the_same_id_is_a_new_content(store):  # noqa: F811
    # An imported export keeps its own ids: the same id may come back with another text.
    emb, cache = WordEmbedder(), IndexCache()
    spec = store.spec("hr_policy_v1")
    vector = emb.embed(["zebra"])[0]
    before = retrieval.hybrid_search(store, spec, emb.model_id, vector, "zebra", 3, cache=cache)
    assert before.bm25 == []
    text = "Zebra crossings are painted outside the office."
    store.upsert("hr_policy_v1", emb.model_id, ["c0"], [text], [{"source": CHUNKS[0][0], "chunk": 0}],
                 emb.embed([text]))
    after = retrieval.hybrid_search(store, spec, emb.model_id, vector, "zebra", 3, cache=cache)
    assert after.index_built and cache.builds == 2 and after.bm25[0].id == "c0" and after.bm25[0].text == text


def test_one_export_table_holds_the_three_lists(store):  # noqa: F811
    emb = WordEmbedder()
    vector = emb.embed(["taxi receipt"])[0]
    out = retrieval.hybrid_search(store, store.spec("hr_policy_v1"), emb.model_id, vector, "taxi receipt", 2,
                                  cache=IndexCache())
    table = retrieval.mode_lists_table(out)
    assert list(table["list"]) == ["dense", "dense", "bm25", "hybrid rrf", "hybrid rrf"]  # one BM25 match
    assert list(table.columns[:4]) == ["list", "rank", "score", "from"]
    assert list(table[table["list"] == "bm25"]["text"]) == [out.bm25[0].text]
    empty = retrieval.ModeLists("q", "rrf", [], [], [], 0)
    assert list(retrieval.mode_lists_table(empty).columns) == list(table.columns) and retrieval.mode_lists_table(empty).empty
