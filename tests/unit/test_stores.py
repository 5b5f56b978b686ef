"""The store contract: guard, batching, search, context and export, run on every real store the
app supports (embedded Chroma, a Chroma server, Milvus Lite), plus each one's own details."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab import textio
from embedlab.stores.base import (
    CollectionExists,
    CollectionSpec,
    InvalidName,
    ModelMismatch,
    PartialWrite,
    StoreError,
    VectorStore,
    parse_export,
    validate_name,
)
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support import procs, stores
from tests.support.chroma_server import start_chroma_server

NAME = "Qwen/Qwen3-Embedding-0.6B"
MODEL = f"{NAME}@http://gpu-a:30000/v1"  # an embedder's model id: its name and its server


@pytest.fixture(params=stores.KINDS)
def store(request, tmp_path) -> VectorStore:
    return stores.open_store(request.param, request, tmp_path)


def is_chroma(store: VectorStore) -> bool:
    return isinstance(store, ChromaStore)


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def spec(name: str = "hr_policy_v1", dim: int = 8, model: str = MODEL) -> CollectionSpec:
    return CollectionSpec(name=name, model_id=model, dim=dim, instruction_name="HR policy",
                          instruction="Given an employee's question, retrieve HR policy passages",
                          description="Employee handbook", threshold=0.4)


def fill(store: VectorStore, name: str, n: int, dim: int = 8, sources: int = 2) -> np.ndarray:
    vectors = unit_rows(n, dim)
    ids = [f"id{i:05d}" for i in range(n)]
    texts = [f"chunk {i} 文本" for i in range(n)]
    metas = [{"source": f"doc{i % sources}.md", "chunk": i // sources, "start": 0, "end": 1} for i in range(n)]
    store.upsert(name, MODEL, ids, texts, metas, vectors)
    return vectors


# -- names (no Chroma needed) ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hr_policy_v1", "tech-doc.v2", "abc", "A1" + "x" * 61])
def test_valid_names_pass(name):
    assert validate_name(f"  {name} ") == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "Give the collection a name"),
        ("ab", "2 characters"),
        ("x" * 64, "64 characters"),
        ("人事制度", "only letters a-z"),
        ("hr policy", "' '"),
        ("_hr_policy", "start and end with a letter or digit"),
        ("hr..policy", "'..'"),
        ("192.168.1.10", "IP address"),
    ],
)
def test_invalid_names_say_why(name, reason):
    with pytest.raises(InvalidName, match=reason.replace(".", r"\.").replace("(", r"\(")):
        validate_name(name)


def test_invalid_name_suggests_a_fix():
    with pytest.raises(InvalidName, match="Try 'hr_policy_v1'"):
        validate_name("hr policy v1")


# -- collections ---------------------------------------------------------------------------------
def test_create_records_spec_and_uses_cosine(store):
    created = store.create(spec())
    assert created.created_at
    assert store.spec("hr_policy_v1") == created
    if is_chroma(store):
        config = store.client.get_collection("hr_policy_v1", embedding_function=None).configuration
        assert config["hnsw"]["space"] == "cosine"
    else:
        assert store.client.describe_index("hr_policy_v1", "vector")["metric_type"] == "COSINE"
        fields = {f["name"]: f for f in store.client.describe_collection("hr_policy_v1")["fields"]}
        assert fields["id"]["is_primary"] and fields["id"]["params"]["max_length"] == 512
    [info] = store.list()
    assert (info.name, info.count, info.spec) == ("hr_policy_v1", 0, created)


def test_invalid_or_taken_name_creates_nothing(store):
    with pytest.raises(InvalidName):
        store.create(spec(name="hr policy"))
    assert store.list() == []
    store.create(spec())
    with pytest.raises(CollectionExists, match="already exists"):
        store.create(spec(dim=16))
    assert store.spec("hr_policy_v1").dim == 8


def test_other_model_or_dimension_is_refused_and_nothing_written(store):
    store.create(spec())
    vectors = unit_rows(3, 8)
    with pytest.raises(ModelMismatch, match="built with 'Qwen/Qwen3-Embedding-0.6B'.*current model is 'bge-m3'"):
        store.upsert("hr_policy_v1", "bge-m3@http://x/v1", ["a", "b", "c"], ["x", "y", "z"], [{}] * 3, vectors)
    with pytest.raises(ModelMismatch, match="holds 8-dimensional vectors.*gives 4"):
        store.upsert("hr_policy_v1", MODEL, ["a", "b", "c"], ["x", "y", "z"], [{}] * 3, unit_rows(3, 4))
    assert store.count("hr_policy_v1") == 0
    # Same model name behind another server is the same model.
    store.upsert("hr_policy_v1", "Qwen/Qwen3-Embedding-0.6B@local", ["a"], ["x"], [{"source": "s"}], vectors[:1])
    assert store.count("hr_policy_v1") == 1
    with pytest.raises(ModelMismatch):
        store.search("hr_policy_v1", MODEL, unit_rows(1, 16)[0], k=3)


def raw_metadata(store: VectorStore, name: str) -> dict:
    """The collection's metadata as the store engine keeps it."""
    import json

    from embedlab.stores.milvus import SPEC_PROPERTY

    if is_chroma(store):
        return dict(store.client.get_collection(name).metadata)
    return json.loads(store.client.describe_collection(name)["properties"][SPEC_PROPERTY])


def write_raw_metadata(store: VectorStore, name: str, meta: dict) -> None:
    import json

    from embedlab.stores.milvus import SPEC_PROPERTY

    if is_chroma(store):
        store.client.get_collection(name).modify(metadata=meta)
    else:
        store.client.alter_collection_properties(name, properties={SPEC_PROPERTY: json.dumps(meta)})


def test_collections_keep_the_model_name_and_never_a_server_url(store):
    secret = "pw-7f3a9c"
    created = store.create(spec(model=f"{NAME}@http://user:{secret}@gpu-a:30000/v1?key={secret}"))
    stored = raw_metadata(store, "hr_policy_v1")
    assert stored["model_id"] == NAME and created.model_id == NAME
    assert not any(word in str(stored) for word in (secret, "gpu-a", "http", "@")), stored
    store.update("hr_policy_v1", threshold=0.5)
    assert raw_metadata(store, "hr_policy_v1")["model_id"] == NAME
    # Model names may hold "@" themselves (Cloudflare's "@cf/..."): only the server part is cut.
    assert store.create(spec("cf_v1", model="@cf/baai/bge-m3@https://api.example/v1")).model_id == "@cf/baai/bge-m3"


def test_collections_written_with_a_server_url_in_the_model_id_still_guard_the_model(store):
    store.create(spec())
    old = {**raw_metadata(store, "hr_policy_v1"), "model_id": "Qwen/Qwen3-Embedding-0.6B@http://user:pw@gpu-a:30000/v1"}
    write_raw_metadata(store, "hr_policy_v1", old)
    assert store.spec("hr_policy_v1").model_id == NAME  # read as the name, the URL never shown
    vectors = unit_rows(2, 8)
    # The same model from another server (or in-process) may write and query; another model may not.
    store.upsert("hr_policy_v1", f"{NAME}@http://gpu-b:30000/v1", ["a"], ["x"], [{"source": "s"}], vectors[:1])
    store.upsert("hr_policy_v1", f"{NAME}@local", ["b"], ["y"], [{"source": "s"}], vectors[1:])
    assert len(store.search("hr_policy_v1", MODEL, vectors[0], k=2)) == 2
    with pytest.raises(ModelMismatch, match="built with 'Qwen/Qwen3-Embedding-0.6B'.*current model is 'bge-m3'"):
        store.upsert("hr_policy_v1", "bge-m3@http://gpu-a:30000/v1", ["c"], ["z"], [{}], vectors[:1])
    with pytest.raises(ModelMismatch):
        store.search("hr_policy_v1", "bge-m3@local", vectors[0], k=2)
    # Legacy ids of the local model ("name@local") read as the name too.
    old["model_id"] = f"{NAME}@local"
    write_raw_metadata(store, "hr_policy_v1", old)
    assert store.spec("hr_policy_v1").model_id == NAME


def test_foreign_collection_is_listed_but_refused(store):
    if is_chroma(store):
        store.client.create_collection("made_elsewhere", embedding_function=None)
    else:
        store.client.create_collection("made_elsewhere", dimension=8)
    [info] = store.list()
    assert info.spec is None
    with pytest.raises(StoreError, match="not created by this playground"):
        store.check("made_elsewhere", MODEL, 8)


def test_update_keeps_model_and_refuses_model_change(store):
    store.create(spec())
    new = store.update("hr_policy_v1", threshold=0.62, description="Handbook 2025")
    assert store.spec("hr_policy_v1") == new
    assert (new.threshold, new.description, new.model_id, new.dim) == (0.62, "Handbook 2025", NAME, 8)
    with pytest.raises(StoreError, match="cannot be changed: dim"):
        store.update("hr_policy_v1", dim=16)
    with pytest.raises(StoreError, match="between 0 and 1"):
        store.update("hr_policy_v1", threshold=1.5)


def test_delete(store):
    store.create(spec())
    store.delete("hr_policy_v1")
    assert store.list() == []


# -- writes ------------------------------------------------------------------------------------------
def test_batches_above_the_limit_are_split(store):
    store.create(spec())
    limit = store.max_batch_size
    n = limit + 7
    vectors = unit_rows(n, 8)
    ids = [f"r{i}" for i in range(n)]
    if is_chroma(store):
        raw = store.client.get_collection("hr_policy_v1", embedding_function=None)
        with pytest.raises(Exception, match="(?i)batch size"):  # what Chroma itself does with one big batch
            raw.upsert(ids=ids, embeddings=vectors, documents=ids)
    assert store.count("hr_policy_v1") == 0
    calls = []
    written = store.upsert("hr_policy_v1", MODEL, ids, ids, [{"source": "s"}] * n, vectors,
                           progress=lambda done, total: calls.append((done, total)))
    assert written == n and store.count("hr_policy_v1") == n
    assert calls == [(limit, n), (n, n)]


def test_upsert_replaces_instead_of_duplicating(store):
    store.create(spec())
    vectors = fill(store, "hr_policy_v1", 6)
    store.upsert("hr_policy_v1", MODEL, ["id00000"], ["changed text"], [{"source": "doc0.md"}], vectors[5:6])
    assert store.count("hr_policy_v1") == 6
    [rec] = store.get_records("hr_policy_v1", ids=["id00000"], include_embeddings=True)
    assert rec["text"] == "changed text" and rec["metadata"] == {"source": "doc0.md"}
    assert np.allclose(rec["embedding"], vectors[5], atol=1e-6)


def test_failure_mid_way_keeps_what_was_written(store):
    store.create(spec())
    limit = store.max_batch_size
    n = limit + 3
    metas = [{"source": "s", "chunk": i} for i in range(n)]
    metas[-1] = {"source": {"nested": "not allowed"}}  # every store refuses this record, in batch 2
    ids = [f"r{i}" for i in range(n)]
    with pytest.raises(PartialWrite, match=f"after {limit} of {n} records were stored") as err:
        store.upsert("hr_policy_v1", MODEL, ids, ids, metas, unit_rows(n, 8))
    assert err.value.written_ids == ids[:limit]
    assert store.count("hr_policy_v1") == limit


# -- content version ---------------------------------------------------------------------------------
def second_store(kind: str, store: VectorStore, request, tmp_path) -> VectorStore:
    """Another store object (its own client) on the same database as `store`."""
    if kind == "chroma-embedded":
        return ChromaStore(open_client(path=str(tmp_path / "chroma")))
    if kind == "chroma-server":
        host, port = request.getfixturevalue("chroma_server")
        return ChromaStore(open_client(host=host, port=port))
    from embedlab.stores.milvus import open_milvus

    return open_milvus(store.uri)  # type: ignore[attr-defined] - the same Milvus Lite server thread


def test_every_write_gives_a_new_content_version_that_another_store_object_sees(store, request, tmp_path):
    store.create(spec())
    other = second_store(request.node.callspec.params["store"], store, request, tmp_path)
    try:
        versions = [store.content_version("hr_policy_v1")]
        fill(store, "hr_policy_v1", 6)
        versions.append(other.content_version("hr_policy_v1"))  # written by one object, read by the other
        other.delete_ids("hr_policy_v1", ["id00000"])
        versions.append(store.content_version("hr_policy_v1"))
        other.upsert("hr_policy_v1", MODEL, ["id00001"], ["edited"], [{"source": "doc1.md"}], unit_rows(1, 8))
        versions.append(store.content_version("hr_policy_v1"))
        with pytest.raises(PartialWrite):  # a failed write may have landed in part: a new version too
            store.upsert("hr_policy_v1", MODEL, ["x"], ["x"], [{"source": {"nested": 1}}], unit_rows(1, 8))
        versions.append(store.content_version("hr_policy_v1"))
        assert None not in versions and len(set(versions)) == len(versions), versions
        # Reads change nothing; a spec change keeps the version unique and a later write keeps the spec.
        store.search("hr_policy_v1", MODEL, unit_rows(1, 8)[0], 3)
        store.get_records("hr_policy_v1", include_embeddings=True)
        assert other.content_version("hr_policy_v1") == versions[-1]
        store.update("hr_policy_v1", threshold=0.7)
        assert store.content_version("hr_policy_v1") not in versions[:-1]
        fill(other, "hr_policy_v1", 3)
        assert store.spec("hr_policy_v1").threshold == 0.7
        assert store.content_version("hr_policy_v1") not in versions
        # A collection made again under the same name never has a version seen before.
        seen = store.content_version("hr_policy_v1")
        store.delete("hr_policy_v1")
        store.create(spec())
        assert other.content_version("hr_policy_v1") not in {seen, *versions}
    finally:
        if not is_chroma(other):
            other.client.close()  # type: ignore[attr-defined] - the server thread is the fixture's


def test_read_vectors_returns_every_record_with_its_vector_as_one_array(store):
    store.create(spec())
    vectors = fill(store, "hr_policy_v1", store.max_batch_size + 5, sources=3)
    calls: list[tuple[int, int]] = []
    read = store.read_vectors("hr_policy_v1", progress=lambda done, total: calls.append((done, total)))
    n = store.max_batch_size + 5
    assert read.vectors.dtype == np.float32 and read.vectors.shape == (n, 8) and len(read) == n
    order = [int(i[2:]) for i in read.ids]
    assert sorted(order) == list(range(n))
    np.testing.assert_allclose(read.vectors, vectors[order], atol=1e-6)
    assert read.texts == [f"chunk {i} 文本" for i in order]
    assert read.metadatas[0] == {"source": f"doc{order[0] % 3}.md", "chunk": order[0] // 3, "start": 0, "end": 1}
    assert calls[-1] == (n, n) and len(calls) >= 2
    some = store.read_vectors("hr_policy_v1", where={"source": "doc1.md"})
    assert {m["source"] for m in some.metadatas} == {"doc1.md"} and len(some) == len(range(1, n, 3))


# -- reads -------------------------------------------------------------------------------------------
def test_search_similarity_is_one_minus_cosine_distance(store):
    store.create(spec())
    vectors = fill(store, "hr_policy_v1", 40)
    query = unit_rows(1, 8, seed=9)[0]
    hits = store.search("hr_policy_v1", MODEL, query, k=5)
    expected = np.argsort(-(vectors @ query))[:5]
    assert [h.id for h in hits] == [f"id{i:05d}" for i in expected]
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert np.allclose([h.similarity for h in hits], (vectors @ query)[expected], atol=1e-4)
    assert hits[0].text == f"chunk {expected[0]} 文本"
    only = store.search("hr_policy_v1", MODEL, query, k=5, where={"source": "doc1.md"})
    assert only and {h.source for h in only} == {"doc1.md"}
    assert store.sources("hr_policy_v1") == ["doc0.md", "doc1.md"]


def test_context_joins_neighbouring_chunks_without_repeating_overlap(store):
    store.create(spec())
    doc = "Alpha section text. Beta section text. Gamma section text."
    spans = [(0, 25), (20, 45), (40, len(doc))]  # 5-character overlaps
    store.upsert("hr_policy_v1", MODEL, ["c0", "c1", "c2"], [doc[a:b] for a, b in spans],
                 [{"source": "d.md", "chunk": i, "start": a, "end": b} for i, (a, b) in enumerate(spans)],
                 unit_rows(3, 8))
    [hit] = [h for h in store.search("hr_policy_v1", MODEL, unit_rows(3, 8)[1], k=3) if h.id == "c1"]
    ctx = store.context("hr_policy_v1", hit)
    assert ctx.before + ctx.match + ctx.after == doc
    assert ctx.match == doc[20:45]


def test_export_round_trip(store):
    store.create(spec())
    fill(store, "hr_policy_v1", 12)
    data = "".join(store.export_jsonl("hr_policy_v1", include_embeddings=True)).encode("utf-8")
    rows = parse_export(textio.read_jsonl(data))
    assert len(rows) == 12 and rows[0]["text"].endswith("文本")
    store.create(spec(name="hr_policy_v2"))
    vectors = np.array([r["embedding"] for r in textio.read_jsonl(data)], dtype=np.float32)
    store.upsert("hr_policy_v2", MODEL, [r["id"] for r in rows], [r["text"] for r in rows],
                 [r["metadata"] for r in rows], vectors)
    key = lambda r: r["id"]  # noqa: E731
    assert sorted(store.get_records("hr_policy_v1"), key=key) == sorted(store.get_records("hr_policy_v2"), key=key)
    query = unit_rows(1, 8, seed=3)[0]
    assert ([h.id for h in store.search("hr_policy_v1", MODEL, query, 4)]
            == [h.id for h in store.search("hr_policy_v2", MODEL, query, 4)])
    plain = "".join(store.export_jsonl("hr_policy_v1")).encode("utf-8")
    assert "embedding" not in textio.read_jsonl(plain)[0]


def test_parse_export_names_the_bad_record():
    with pytest.raises(ValueError, match="Record 2 has no text"):
        parse_export([{"text": "ok"}, {"id": "x", "metadata": {}}])
    with pytest.raises(ValueError, match="Record 1: metadata values"):
        parse_export([{"text": "ok", "metadata": {"tags": ["a", "b"]}}])


@pytest.mark.parametrize("kind", ["chroma-server", "milvus-lite"])
def test_every_store_method_raises_the_store_error_when_the_server_is_gone(kind, tmp_path):
    if kind == "chroma-server":
        proc, host, port = start_chroma_server(tmp_path / "db", tmp_path / "chroma.log")
        try:
            store = ChromaStore(open_client(host=host, port=port))
            store.create(spec())
            fill(store, "hr_policy_v1", 4)
        finally:
            procs.stop(proc)
        expected = "Is the Chroma server running"
    else:
        from milvus_lite.server_manager import server_manager_instance

        from embedlab.stores.milvus import open_milvus

        path = tmp_path / "gone.db"
        store = open_milvus(str(path))
        store.create(spec())
        fill(store, "hr_policy_v1", 4)
        server_manager_instance.release_server(str(path))  # the database stops answering
        expected = f"Milvus Lite at {path} stopped answering"
    calls = {
        "list": lambda: store.list(),
        "count": lambda: store.count("hr_policy_v1"),
        "search": lambda: store.search("hr_policy_v1", MODEL, unit_rows(1, 8)[0], 3),
        "get_records": lambda: store.get_records("hr_policy_v1"),
        "export_jsonl": lambda: list(store.export_jsonl("hr_policy_v1")),
        "delete": lambda: store.delete("hr_policy_v1"),
    }
    for name, call in calls.items():
        with pytest.raises(StoreError, match=expected) as info:
            call()
        assert f"asked to {name.replace('_', ' ').replace('jsonl', 'the collection')} (" in str(info.value)
    if kind == "milvus-lite":
        store.close()


def test_an_unwritable_chroma_directory_is_refused_with_what_to_do(tmp_path):
    from tests.support.diskfaults import read_only
    from tests.support.store_procs import hold_store

    # A store made by another process, then the whole data directory made read-only.
    hold_store(tmp_path / "data" / "chroma").stop()
    with read_only(tmp_path / "data") as data:
        for path in (data / "chroma", data / "not-yet-made"):
            with pytest.raises(StoreError) as refused:
                open_client(path=str(path))
            message = str(refused.value)
            assert message.startswith(f"The embedded Chroma database at {path} cannot be written: writing there "
                                      "is not permitted. Chroma writes to its directory even to read")
            assert "CHROMA_PATH" in message and "CHROMA_HOST" in message
