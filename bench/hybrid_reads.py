"""The Search page's hybrid query over a stored collection: the first query (reads the vectors and
builds the BM25 index) against the later ones, keyed by the collection's content version (after)
or, as before content versions, by reading every id, text and metadata to fingerprint the content
(before: what a collection written only by an older app version still costs), next to a dense
store search.

Usage: python -m bench.hybrid_reads [--n 10000 100000] [--dim 384] [--queries 20]

An embedded Chroma store in a temporary directory; generated chunks (bench.retrieval_modes) with
seeded random unit vectors (the read and index costs depend on sizes, not on meaning).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from bench.retrieval_modes import make_texts, pct, unit
from embedlab import retrieval
from embedlab.keyword import IndexCache
from embedlab.stores.base import CollectionSpec, raising_store_errors
from embedlab.stores.chroma import ChromaStore, open_client

MODEL = "bench-vectors@local"


@raising_store_errors
class Unversioned(ChromaStore):
    """The same store as if no write had ever given the collection a content version."""

    def content_version(self, name: str) -> str | None:
        return None


def later_queries(store: ChromaStore, spec: CollectionSpec, queries: np.ndarray) -> tuple[list[float], list[float]]:
    """(seconds per later hybrid query, seconds of it spent checking the content), index cached."""
    cache = IndexCache()
    retrieval.hybrid_search(store, spec, MODEL, queries[0], "annual leave 年假", 10, cache=cache)
    times, reads = [], []
    for i in range(1, len(queries)):
        t = time.perf_counter()
        out = retrieval.hybrid_search(store, spec, MODEL, queries[i], f"reference {i * 37} 报销", 10, cache=cache)
        times.append(time.perf_counter() - t)
        reads.append(out.timings_ms["read"] / 1000)
        assert not out.index_built
    return times, reads


def measure(n: int, dim: int, n_queries: int) -> None:
    texts = make_texts(n)
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore(open_client(path=tmp))
        spec = store.create(CollectionSpec("bench_hybrid", MODEL, dim))
        t = time.perf_counter()
        store.upsert(spec.name, MODEL, [f"c{i}" for i in range(n)], texts,
                     [{"source": f"doc{i % 50}.md", "chunk": i} for i in range(n)], unit(n, dim, 1))
        print(f"\n{n:,} chunks of {dim} d stored in {time.perf_counter() - t:.1f} s")
        queries = unit(n_queries + 1, dim, 2)

        t = time.perf_counter()
        first = retrieval.hybrid_search(store, spec, MODEL, queries[0], "annual leave 年假", 10, cache=IndexCache())
        print(f"  first query: {(time.perf_counter() - t) * 1000:.0f} ms "
              f"(version {first.timings_ms['read']:.1f} ms, vectors + BM25 index {first.timings_ms['index']:.0f} ms)")
        for label, each in (("before (fingerprint of ids, texts, metadata)", Unversioned(store.client)),
                            ("after (content version)", store)):
            times, reads = later_queries(each, spec, queries)
            print(f"  later hybrid queries, {label}: {pct(times)}; checking the content: {pct(reads)}")
        dense = []
        for q in queries[1:]:
            t = time.perf_counter()
            store.search(spec.name, MODEL, q, 10)
            dense.append(time.perf_counter() - t)
        print(f"  dense store search (top 10), for comparison: {pct(dense)}")
        full = []
        for _ in range(3):
            t = time.perf_counter()
            store.read_vectors(spec.name)
            full.append(time.perf_counter() - t)
        print(f"  reading every record with its vector (each query without a cache): {pct(full)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    for n in args.n:
        measure(n, args.dim, args.queries)


if __name__ == "__main__":
    main()
