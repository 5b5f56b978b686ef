"""Dense, BM25 and hybrid lists for the Search page over a real embedded Chroma collection, with
the collection's index built once per content."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab import retrieval
from embedlab.fusion import candidates, reciprocal_rank_fusion, weighted_fusion
from embedlab.instructions import format_query
from embedlab.keyword import BM25Index, IndexCache
from embedlab.stores.base import CollectionSpec, StoreError
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support.store_procs import Child
from tests.support.stores import emptied
from tests.support.word_embedder import HR_CHUNKS, HR_TASK, WordEmbedder

TASK = HR_TASK
CHUNKS = [*HR_CHUNKS[:-1], ("security.md", "访客在前台登记并佩戴访客证。")]  # a Chinese chunk for BM25


@pytest.fixture
def store(tmp_path) -> ChromaStore:
    return filled(ChromaStore(open_client(path=str(tmp_path / "chroma"))))


def filled(store: ChromaStore) -> ChromaStore:
    """`store` with the collection hr_policy_v1 of CHUNKS."""
    emb = WordEmbedder()
    store.create(CollectionSpec("hr_policy_v1", emb.model_id, emb.dim, "HR policy", TASK))
    texts = [t for _, t in CHUNKS]
    store.upsert("hr_policy_v1", emb.model_id, [f"c{i}" for i in range(len(CHUNKS))], texts,
                 [{"source": s, "chunk": i, "start": 0, "end": len(t)} for i, (s, t) in enumerate(CHUNKS)],
                 emb.embed(texts))
    return store


def test_three_lists_with_where_each_hit_came_from(store):
    emb, cache = WordEmbedder(), IndexCache()
    spec = store.spec("hr_policy_v1")
    query = "how many annual leave days"
    vector = emb.embed([format_query(TASK, query)])[0]
    out = retrieval.hybrid_search(store, spec, emb.model_id, vector, query, k=4, cache=cache)
    texts = [t for _, t in CHUNKS]
    dense = candidates(emb.embed(texts) @ vector)
    bm25 = candidates(BM25Index(texts).scores(query), positive_only=True)
    assert [h.id for h in out.dense] == [f"c{i}" for i, _ in dense[:4]]
    assert [h.score for h in out.dense] == pytest.approx([s for _, s in dense[:4]], abs=1e-5)
    assert [h.id for h in out.bm25] == [f"c{i}" for i, _ in bm25[:4]]
    assert out.bm25[0].id in {"c0", "c1"} and all(h.bm25_score > 0 for h in out.bm25)
    fused = reciprocal_rank_fusion(dense, bm25, limit=4)
    assert [h.id for h in out.hybrid] == [f"c{h.index}" for h in fused]
    assert [(h.dense_rank, h.bm25_rank) for h in out.hybrid] == [(h.dense_rank, h.bm25_rank) for h in fused]
    assert {h.origin for h in out.hybrid} <= {"both", "dense", "bm25"} and out.hybrid[0].origin == "both"
    # every dense hit says where BM25 put it, and the reverse
    bm25_rank = {f"c{i}": r for r, (i, _) in enumerate(bm25, start=1)}
    assert [h.bm25_rank for h in out.dense] == [bm25_rank.get(h.id) for h in out.dense]
    assert out.chunks == 7 and out.index_built and cache.builds == 1
    assert set(out.timings_ms) == {"dense", "bm25", "fusion", "read", "index"}
    table = retrieval.mode_table(out.hybrid)
    assert list(table["from"]) == [h.origin for h in out.hybrid] and list(table["rank"]) == [1, 2, 3, 4]

    again = retrieval.hybrid_search(store, spec, emb.model_id, vector, query, k=4, method="weighted", alpha=0.7,
                                    cache=cache)
    assert not again.index_built and cache.builds == 1  # same content: the index is reused
    assert [h.id for h in again.hybrid] == [f"c{h.index}" for h in weighted_fusion(dense, bm25, 0.7, limit=4)]


def test_chinese_query_source_filter_no_match_and_content_change(store):
    emb, cache = WordEmbedder(), IndexCache()
    spec = store.spec("hr_policy_v1")
    vector = emb.embed(["访客登记"])[0]
    out = retrieval.hybrid_search(store, spec, emb.model_id, vector, "访客在哪里登记", k=3, cache=cache)
    assert out.bm25[0].id == "c6"  # jieba: 访客, 登记
    filtered = retrieval.hybrid_search(store, spec, emb.model_id, vector, "taxi receipt", k=3,
                                       sources=["expenses.md"], cache=cache)
    assert {h.source for h in filtered.dense + filtered.bm25 + filtered.hybrid} == {"expenses.md"}
    nothing = retrieval.hybrid_search(store, spec, emb.model_id, vector, "zebra", k=3, cache=cache)
    assert nothing.bm25 == [] and [h.id for h in nothing.hybrid] == [h.id for h in nothing.dense]
    assert all(h.origin == "dense" for h in nothing.hybrid)
    builds = cache.builds
    store.upsert("hr_policy_v1", emb.model_id, ["c7"], ["Zebra crossings are outside the office."],
                 [{"source": "misc.md", "chunk": 0, "start": 0, "end": 10}], emb.embed(["Zebra crossings"]))
    changed = retrieval.hybrid_search(store, spec, emb.model_id, vector, "zebra", k=3, cache=cache)
    assert changed.index_built and cache.builds == builds + 1 and changed.bm25[0].id == "c7"
    with pytest.raises(StoreError):
        retrieval.hybrid_search(store, spec, emb.model_id, np.ones(8, np.float32), "x", k=3, cache=cache)
    with pytest.raises(ValueError, match="fetch them with include_embeddings=True"):
        retrieval.ChunkIndex.from_records(store.get_records("hr_policy_v1"))


# --- the collection's index: built once per content ---


class CountingStore(ChromaStore):
    """The real Chroma store, counting the reads of records: with their vectors, and all of them."""

    def __init__(self, inner: ChromaStore) -> None:
        super().__init__(inner.client)
        self.vector_reads = 0
        self.record_reads = 0

    def get_records(self, name, ids=None, where=None, include_embeddings=False):
        self.vector_reads += bool(include_embeddings)
        self.record_reads += 1
        return super().get_records(name, ids=ids, where=where, include_embeddings=include_embeddings)

    def read_vectors(self, name, where=None, progress=None):
        self.vector_reads += 1
        self.record_reads += 1
        return super().read_vectors(name, where=where, progress=progress)


def test_second_query_reuses_the_index_without_reading_vectors(store):
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
    assert counting.record_reads == 1  # the later query read the content version only
    assert len(stages) == 3  # no progress when nothing is built
    assert [h.id for h in again.hybrid] == [h.id for h in first.hybrid]
    # The index's vectors are the stored ones, row for row with the ids.
    stored = {r["id"]: r["embedding"] for r in store.get_records("hr_policy_v1", include_embeddings=True)}
    load = retrieval.collection_index(counting, "hr_policy_v1", cache=cache)
    assert not load.built and load.index.vectors[2] == pytest.approx(stored[load.index.ids[2]], abs=1e-6)


def test_an_edited_text_under_the_same_id_is_a_new_content(store):
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


def test_one_export_table_holds_the_three_lists(store):
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


# --- content changed by another process ---

_WRITER = """
import sys
import numpy as np
from embedlab.stores.chroma import ChromaStore, open_client
store = ChromaStore(open_client(host=sys.argv[1], port=int(sys.argv[2])))
vector = np.zeros((1, int(sys.argv[4])), np.float32)
vector[0, 0] = 1.0
store.upsert("hr_policy_v1", sys.argv[3], ["c9"], ["Zebra crossings are outside the office."],
             [{"source": "misc.md", "chunk": 0}], vector)
"""


def test_a_write_from_another_process_makes_the_next_query_rebuild(chroma_server):
    host, port = chroma_server
    store = filled(emptied(ChromaStore(open_client(host=host, port=port))))
    counting, emb, cache = CountingStore(store), WordEmbedder(), IndexCache()
    spec = store.spec("hr_policy_v1")
    vector = emb.embed(["zebra"])[0]
    before = retrieval.hybrid_search(counting, spec, emb.model_id, vector, "zebra", 3, cache=cache)
    again = retrieval.hybrid_search(counting, spec, emb.model_id, vector, "zebra", 3, cache=cache)
    assert before.index_built and not again.index_built and again.bm25 == [] and counting.record_reads == 1
    child = Child(["-c", _WRITER, host, str(port), emb.model_id, str(emb.dim)])
    try:
        assert child.finish(timeout_s=60) == 0, child.lines
    finally:
        child.stop()
    after = retrieval.hybrid_search(counting, spec, emb.model_id, vector, "zebra", 3, cache=cache)
    assert after.index_built and after.chunks == len(CHUNKS) + 1 and after.bm25[0].id == "c9"
