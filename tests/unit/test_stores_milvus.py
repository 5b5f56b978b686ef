"""What only the Milvus store has to get right: names, filter literals, the load after a reopen,
field sizes, Milvus Lite's flush, one process per database, and choosing it from the settings.
Everything runs on a real Milvus Lite database (test_stores.py has the shared contract)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from embedlab.config import SettingsError, load_settings, store_location
from embedlab.stores import open_store
from embedlab.stores.base import CollectionSpec, InvalidName, StoreError, StoreLocked
from embedlab.stores.chroma import ChromaStore
from embedlab.stores.milvus import MilvusStore, milvus_filter, open_milvus, quote, validate_milvus_name
from tests.support import stores

MODEL = "Qwen/Qwen3-Embedding-0.6B@http://gpu-a:30000/v1"
HOSTILE = ['a"b.md', "back\\slash.md", 'x" or source != "', "line\nbreak.md", "tab\there.md", "中文 文档.md"]


@pytest.fixture(scope="module")
def milvus(tmp_path_factory):
    with stores.milvus_lite(tmp_path_factory.mktemp("milvus") / "milvus.db") as store:
        yield store


@pytest.fixture
def store(milvus) -> MilvusStore:
    return stores.emptied(milvus)


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def spec(name: str = "hr_policy_v1", dim: int = 8) -> CollectionSpec:
    return CollectionSpec(name, MODEL, dim, "HR policy", "Given a question, retrieve 人事 passages", "手册", 0.4)


def test_names_valid_in_both_stores_pass_and_others_get_a_milvus_suggestion():
    assert validate_milvus_name(" hr_policy_v1 ") == "hr_policy_v1"
    with pytest.raises(InvalidName, match="Try 'tech_doc_v2'"):
        validate_milvus_name("tech-doc.v2")
    with pytest.raises(InvalidName, match="starting with a letter. Try 'c_2024_docs'"):
        validate_milvus_name("2024_docs")
    with pytest.raises(InvalidName, match="only letters a-z"):  # Chroma's rules hold too
        validate_milvus_name("人事制度")


def test_filters_translate_the_app_clauses_and_refuse_others():
    assert milvus_filter(None) == ""
    assert milvus_filter({"source": "a.md"}) == 'source == "a.md"'
    assert milvus_filter({"source": {"$in": ["a", "b"]}}) == 'source in ["a", "b"]'
    assert (milvus_filter({"$and": [{"source": "a"}, {"chunk": {"$in": [1, 3]}}]})
            == '(source == "a") and (chunk in [1, 3])')
    assert quote('x" or "1') == '"x\\" or \\"1"'
    for bad, message in [({"tokens": 3}, "filters on source and chunk only"),
                         ({"chunk": "3"}, "needs whole numbers"),
                         ({"chunk": True}, "needs whole numbers"),
                         ({"source": {"$in": []}}, "non-empty list"),
                         ({"source": {"$gt": "a"}}, "cannot filter 'source'")]:
        with pytest.raises(StoreError, match=message):
            milvus_filter(bad)


def test_hostile_source_names_are_literals_not_expressions(store):
    store.create(spec())
    n = len(HOSTILE)
    store.upsert("hr_policy_v1", MODEL, [f"r{i}" for i in range(n)], [f"text {i}" for i in range(n)],
                 [{"source": s, "chunk": 0} for s in HOSTILE], unit_rows(n, 8))
    assert store.sources("hr_policy_v1") == sorted(HOSTILE)
    for name in HOSTILE:
        hits = store.search("hr_policy_v1", MODEL, unit_rows(1, 8, seed=5)[0], k=n, where={"source": name})
        assert [h.source for h in hits] == [name]
    both = store.ids_where("hr_policy_v1", {"source": {"$in": HOSTILE[:2]}})
    assert sorted(both) == ["r0", "r1"]


def test_reopened_database_loads_collections_before_reading(tmp_path):
    path = tmp_path / "reopen.db"
    with stores.milvus_lite(path) as first:
        created = first.create(spec())
        vectors = unit_rows(30, 8)
        first.upsert("hr_policy_v1", MODEL, [f"r{i}" for i in range(30)], [f"t{i}" for i in range(30)],
                     [{"source": "a.md", "chunk": i} for i in range(30)], vectors)
        first.settle("hr_policy_v1")
    # A new process sees every collection released: reads must load them first.
    with stores.milvus_lite(path) as again:
        assert again.client.get_load_state("hr_policy_v1")["state"].name == "NotLoad"
        [hit] = again.search("hr_policy_v1", MODEL, vectors[7], k=1)
        assert (hit.id, hit.text, hit.metadata["chunk"]) == ("r7", "t7", 7)
        assert hit.similarity == pytest.approx(1.0, abs=1e-5)
        assert again.spec("hr_policy_v1") == created  # the spec round-trips through a restart


def test_records_too_big_for_milvus_fields_are_refused_before_writing(store):
    store.create(spec())
    vectors = unit_rows(3, 8)
    too_long = "长" * 30_000  # 90,000 bytes of UTF-8, over the 65,535 of a VARCHAR
    with pytest.raises(StoreError, match=r"Nothing was written.*record 3 \('big.md', chunk 2\) has 90,000 bytes"):
        store.upsert("hr_policy_v1", MODEL, ["a", "b", "c"], ["x", "y", too_long],
                     [{"source": "big.md", "chunk": i} for i in range(3)], vectors)
    with pytest.raises(StoreError, match="longer than 512 bytes"):
        store.upsert("hr_policy_v1", MODEL, ["x" * 600], ["x"], [{"source": "s"}], vectors[:1])
    assert store.count("hr_policy_v1") == 0


def test_metadata_round_trips_with_types_and_none_drops_a_key(store):
    store.create(spec())
    meta = {"source": "a.md", "chunk": 2, "start": 0, "end": 9, "score": 0.5, "draft": True, "note": None}
    store.upsert("hr_policy_v1", MODEL, ["a"], ["some text"], [meta], unit_rows(1, 8))
    [rec] = store.get_records("hr_policy_v1", ids=["a", "missing"])
    assert rec["metadata"] == {k: v for k, v in meta.items() if v is not None}
    assert isinstance(rec["metadata"]["draft"], bool) and isinstance(rec["metadata"]["chunk"], int)


def test_settle_flushes_milvus_lite_and_search_flushes_a_large_unsettled_write(store):
    store.create(spec(dim=16))
    n = 2_500
    vectors = unit_rows(n, 16)
    store.upsert("hr_policy_v1", MODEL, [f"r{i}" for i in range(n)], [f"t{i}" for i in range(n)],
                 [{"source": f"d{i % 7}.md", "chunk": i} for i in range(n)], vectors)
    assert store._unsealed["hr_policy_v1"] == n
    hits = store.search("hr_policy_v1", MODEL, vectors[42], k=3)  # over SETTLE_ROWS: flushed first
    assert "hr_policy_v1" not in store._unsealed
    assert hits[0].id == "r42"
    assert [h.id for h in hits] == [f"r{i}" for i in np.argsort(-(vectors @ vectors[42]))[:3]]
    store.delete_ids("hr_policy_v1", ["r42"])
    store.settle("hr_policy_v1")
    assert store.count("hr_policy_v1") == n - 1 and "hr_policy_v1" not in store._unsealed


def test_a_second_process_on_the_same_database_is_refused_with_advice(tmp_path):
    path = tmp_path / "shared.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom embedlab.stores.milvus import open_milvus\n"
         f"open_milvus({str(path)!r})\nprint('open', flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLocked, match="Another app process is using the Milvus Lite database") as info:
            open_milvus(str(path))
        assert "MILVUS_URI=http://host:19530" in str(info.value)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    deadline = time.monotonic() + 10
    while True:  # the lock goes with the process
        try:
            with stores.milvus_lite(path) as store:
                assert store.list() == []
            break
        except StoreLocked:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_an_unreachable_server_is_named_without_credentials(tmp_path):
    from tests.support.procs import free_port

    port = free_port()  # nothing listens there
    with pytest.raises(StoreError) as info:
        open_milvus(f"http://root:s3cret@127.0.0.1:{port}", token="root:s3cret", timeout_s=3)
    message = str(info.value)
    assert f"Milvus at http://127.0.0.1:{port} did not answer while it was asked to connect" in message
    assert "MILVUS_URI" in message and "s3cret" not in message


def test_settings_choose_the_store_and_never_show_the_token(tmp_path):
    settings = load_settings(env={"MILVUS_URI": "https://root:pw@milvus.example:19530", "MILVUS_TOKEN": "tok-1"},
                             secrets={})
    assert settings.store_kind == "milvus"
    assert store_location(settings) == "Milvus at https://milvus.example:19530"
    assert "tok-1" not in repr(settings) and "pw" not in repr(settings)
    local = load_settings(env={}, secrets={"MILVUS_URI": str(tmp_path / "m.db")})
    assert local.store_kind == "milvus-lite" and store_location(local) == f"Milvus Lite at {tmp_path / 'm.db'}"
    assert load_settings(env={"CHROMA_HOST": "h"}, secrets={}).store_kind == "chroma-server"
    with pytest.raises(SettingsError, match="MILVUS_URI must be a Milvus server URL"):
        load_settings(env={"MILVUS_URI": "milvus.example:19530"}, secrets={})
    opened = open_store(local)
    try:
        assert isinstance(opened, MilvusStore) and opened.list() == []
    finally:
        opened.close()
    chroma = open_store(load_settings(env={"PLAYGROUND_DATA_DIR": str(tmp_path / "data")}, secrets={}))
    assert isinstance(chroma, ChromaStore)


def test_the_app_does_not_import_pymilvus_unless_milvus_is_configured(tmp_path):
    code = ("import sys\nfrom embedlab.stores import open_store\nfrom embedlab.config import load_settings\n"
            "import embedlab.ingest, embedlab.retrieval\n"
            "open_store(load_settings(env={'CHROMA_PATH': sys.argv[1]}, secrets={}))\n"
            "print(sorted(m for m in sys.modules if m.startswith(('pymilvus', 'milvus_lite'))))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "chroma")], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_a_milvus_lite_path_in_the_environment_opens(tmp_path):
    # pymilvus reads MILVUS_URI itself on import and accepts server URLs only.
    code = ("from embedlab.config import load_settings\nfrom embedlab.stores import open_store\n"
            "store = open_store(load_settings(secrets={}))\nprint(store.where, store.list())\nstore.close()")
    env = {**os.environ, "MILVUS_URI": str(tmp_path / "env.db")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=True)
    assert out.stdout.strip() == f"Milvus Lite at {tmp_path / 'env.db'} []"
