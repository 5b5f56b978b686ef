"""The Search page's hybrid query over a stored collection: the first query (reads the vectors and
builds the BM25 index) against the following ones (read ids, texts and metadata only, reuse the
index), and what reading the vectors on every query would cost.

Usage: python -m bench.hybrid_reads [--n 10000] [--dim 384] [--queries 20]

An embedded Chroma store in a temporary directory; generated chunks (bench.retrieval_modes) with
seeded random unit vectors (the read and index costs depend on sizes, not on meaning).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from bench.retrieval_modes import make_texts, pct, unit
from embedlab import retrieval
from embedlab.keyword import IndexCache
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client

MODEL = "bench-vectors@local"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()

    texts = make_texts(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore(open_client(path=tmp))
        spec = store.create(CollectionSpec("bench_hybrid", MODEL, args.dim))
        t = time.perf_counter()
        store.upsert(spec.name, MODEL, [f"c{i}" for i in range(args.n)], texts,
                     [{"source": f"doc{i % 50}.md", "chunk": i} for i in range(args.n)], unit(args.n, args.dim, 1))
        print(f"stored {args.n:,} chunks of {args.dim} d in {time.perf_counter() - t:.1f} s")
        queries = unit(args.queries + 1, args.dim, 2)
        cache = IndexCache()

        t = time.perf_counter()
        first = retrieval.hybrid_search(store, spec, MODEL, queries[0], "annual leave 年假", 10, cache=cache)
        print(f"first query: {(time.perf_counter() - t) * 1000:.0f} ms "
              f"(read {first.timings_ms['read']:.0f} ms, vectors + BM25 index {first.timings_ms['index']:.0f} ms)")

        later, reads = [], []
        for i in range(1, args.queries + 1):
            t = time.perf_counter()
            out = retrieval.hybrid_search(store, spec, MODEL, queries[i], f"reference {i * 37} 报销", 10, cache=cache)
            later.append(time.perf_counter() - t)
            reads.append(out.timings_ms["read"] / 1000)
            assert not out.index_built
        print(f"later queries (index reused): {pct(later)}; of which reading ids/texts/metadata: {pct(reads)}")

        full = []
        for _ in range(max(3, args.queries // 4)):
            t = time.perf_counter()
            store.get_records(spec.name, include_embeddings=True)
            full.append(time.perf_counter() - t)
        print(f"reading every record with its vector (each query before the cache): {pct(full)}")


if __name__ == "__main__":
    main()
