"""The store under faults: a second process on one embedded path, kill -9 during ingestion,
two ingestions at once. Other app processes are real subprocesses, stopped by PID."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.ingest import Document, chunk_documents, ingest, load_domain_sample
from embedlab.stores.base import CollectionSpec, StoreLocked
from embedlab.stores.chroma import LOCK_FILE, ChromaStore, open_client
from tests.support import ingest_worker
from tests.support.store_procs import HELD_COLLECTION, Child, hold_store, try_open


# -- a second process on the same embedded path ------------------------------------------------
def test_second_process_is_refused_until_the_first_exits(tmp_path):
    path = tmp_path / "chroma"
    holder = hold_store(path)
    try:
        with pytest.raises(StoreLocked) as refused:
            open_client(path=str(path))
        message = str(refused.value)
        assert f"Another app process (PID {holder.pid}) is using the embedded Chroma database at {path}" in message
        assert f"`chroma run --path {path} --port 8000`" in message
        assert "CHROMA_HOST=localhost and CHROMA_PORT=8000" in message and "its own CHROMA_PATH" in message
        # Refusing is not sticky: the next attempt is refused again while the holder lives.
        with pytest.raises(StoreLocked):
            open_client(path=str(tmp_path / "." / "chroma"))
    finally:
        holder.stop()
    assert holder.proc.returncode is not None
    # The lock died with its process: this process now opens the store and sees the holder's data.
    store = ChromaStore(open_client(path=str(path)))
    assert store.exists(HELD_COLLECTION)
    assert (path / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_reopening_in_one_process_works_and_keeps_other_processes_out(tmp_path):
    path = tmp_path / "chroma"
    first = ChromaStore(open_client(path=str(path)))
    first.create(CollectionSpec("tech_doc_v2", "m", 4))
    # AppTest runs and cache misses re-open the same path in this process: no self-lock.
    again = ChromaStore(open_client(path=str(tmp_path / "x" / ".." / "chroma")))
    assert again.exists("tech_doc_v2")
    code, output = try_open(path)
    assert code == 3, output
    assert f"locked: Another app process (PID {os.getpid()})" in output


# -- kill -9 during ingestion, then restart -----------------------------------------------------
@pytest.mark.parametrize("kind", ["stand-in server", "hash embedder"])
def test_kill_9_during_ingestion_then_restart_finishes_it(kind, request, tmp_path):
    url = request.getfixturevalue("embedding_server") if kind == "stand-in server" else "hash"
    path, cache = tmp_path / "chroma", tmp_path / "cache.sqlite"
    records = ingest_worker.corpus_records()
    batch, total = ingest_worker.BATCH, len(records)
    assert total >= 5 * batch  # several store batches, so a kill after two lands part-way

    worker = Child(["-m", "tests.support.ingest_worker", "--path", str(path), "--url", url, "--cache", str(cache)])
    try:
        assert worker.wait_for("chunks", timeout_s=60) == f"chunks {total}"
        worker.wait_for(f"stored {2 * batch}", timeout_s=60)
        os.killpg(worker.pid, signal.SIGKILL)
        assert worker.proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        worker.stop()
    assert not any(line.startswith("done") for line in worker.lines), "the worker finished before the kill"

    # Restart: the collection opens with its spec, and holds whole batches in ingestion order.
    embedder = ingest_worker.make_embedder(url, str(cache))  # the app's cache survives the kill too
    store = ChromaStore(open_client(path=str(path)))
    spec = store.check(ingest_worker.COLLECTION, embedder.model_id, embedder.dim)
    stored = store.count(ingest_worker.COLLECTION)
    assert stored % batch == 0 and 2 * batch <= stored < total, stored
    by_id = {r.id: r for r in records}
    kept = store.get_records(ingest_worker.COLLECTION, include_embeddings=True)
    assert {r["id"] for r in kept} == {r.id for r in records[:stored]}
    expected = embedder.embed([rec["text"] for rec in kept])  # from the cache: no new request
    for rec, vector in zip(kept, expected, strict=True):
        assert rec["text"] == by_id[rec["id"]].text and rec["metadata"] == by_id[rec["id"]].metadata
        assert len(rec["embedding"]) == spec.dim
        np.testing.assert_allclose(rec["embedding"], vector, atol=1e-6)
        # The vector index agrees with the records: each one finds itself first.
        [hit] = store.search(ingest_worker.COLLECTION, embedder.model_id, vector, k=1)
        assert hit.id == rec["id"] and hit.similarity > 0.999

    again = ingest(store, ingest_worker.COLLECTION, embedder, records, batch_size=batch)
    assert again.ok, again.error
    assert (again.skipped, again.added, again.updated, again.removed) == (stored, total - stored, 0, 0)
    assert store.count(ingest_worker.COLLECTION) == total
    final = store.get_records(ingest_worker.COLLECTION, include_embeddings=True)
    assert {r["id"]: r["text"] for r in final} == {r.id: r.text for r in records}
    assert all(len(r["embedding"]) == spec.dim for r in final)


# -- two ingestions at once ---------------------------------------------------------------------
def test_two_concurrent_ingestions_into_two_collections(embedding_server, tmp_path):
    embedder = CachedEmbedder(OpenAICompatibleEmbedder(embedding_server, ingest_worker.MODEL),
                              EmbeddingCache(tmp_path / "cache.sqlite"))
    store = ChromaStore(open_client(path=str(tmp_path / "chroma")))
    jobs = {
        "tech_doc_v2": ingest_worker.corpus_records(),
        "hr_policy_v1": chunk_documents(load_domain_sample("hr_policy").documents[:4], "recursive", max_tokens=64),
    }
    for name in jobs:
        store.create(CollectionSpec(name, embedder.model_id, embedder.dim))
    assert all(len(recs) >= 12 for recs in jobs.values())

    # Both ingestions hold at their first write until the other has written too, so they are
    # certainly in flight at the same time rather than one after the other.
    both_writing = threading.Barrier(2, timeout=60)
    events: list[tuple[str, int]] = []

    def run(name: str):
        def progress(stage: str, done: int, total: int) -> None:
            if stage == "writing":
                events.append((name, done))
                if done == 4:
                    both_writing.wait()

        return ingest(store, name, embedder, jobs[name], progress=progress, batch_size=4)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run, name) for name in jobs}
        reports = {name: fut.result(timeout=120) for name, fut in futures.items()}
    elapsed = time.perf_counter() - start

    firsts = [events.index((name, 4)) for name in jobs]
    lasts = [max(i for i, (n, _) in enumerate(events) if n == name) for name in jobs]
    assert max(firsts) < min(lasts), events  # each wrote its first batch before the other finished
    for name, recs in jobs.items():
        report = reports[name]
        assert report.ok, report.error
        assert (report.added, report.skipped, report.chunks) == (len(recs), 0, len(recs))
        assert store.count(name) == len(recs)
        stored = {r["id"]: r["text"] for r in store.get_records(name)}
        assert stored == {r.id: r.text for r in recs}  # nothing of the other ingestion leaked in
    assert elapsed < 60


def test_documents_of_two_collections_are_not_confused_by_shared_sources(embedding_server, tmp_path):
    """The same file ingested into two collections at once: ids collide by design, rows must not."""
    embedder = CachedEmbedder(OpenAICompatibleEmbedder(embedding_server, ingest_worker.MODEL),
                              EmbeddingCache(tmp_path / "cache.sqlite"))
    store = ChromaStore(open_client(path=str(tmp_path / "chroma")))
    records = chunk_documents([Document("shared.md", ingest_worker.corpus()[0].text)], "tokens", 24)
    for name in ("team_a_v1", "team_b_v1"):
        store.create(CollectionSpec(name, embedder.model_id, embedder.dim))
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda n: ingest(store, n, embedder, records, batch_size=2),
                                ("team_a_v1", "team_b_v1")))
    for name, report in zip(("team_a_v1", "team_b_v1"), reports, strict=True):
        assert report.ok and report.added == len(records), report.error
        assert store.count(name) == len(records)


def test_a_reimported_store_module_does_not_lock_out_its_own_process(tmp_path):
    """Streamlit's file watcher drops changed modules from sys.modules and imports them afresh;
    the old module's lock is still held by this process and must not refuse the new one."""
    path = tmp_path / "chroma"
    open_client(path=str(path))
    old = sys.modules.pop("embedlab.stores.chroma")
    try:
        fresh = importlib.import_module("embedlab.stores.chroma")
        assert fresh is not old and not fresh._held_locks
        assert fresh.open_client(path=str(path)) is not None
    finally:
        sys.modules["embedlab.stores.chroma"] = old  # the rest of the suite uses the original classes
    code, output = try_open(path)
    assert code == 3, output
