"""An app-like process that ingests a generated corpus into an embedded Chroma store, batch by batch.

Run as `python -m tests.support.ingest_worker --path DIR --url BASE_URL --cache FILE`; it prints
"stored N" (flushed) after each batch is written, so a test can `kill -9` it part-way and then
check what a restarted app finds. The corpus and its chunking are importable (`corpus_records`)
so the test re-ingests exactly the same chunks.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence

import numpy as np

from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.ingest import ChunkRecord, Document, chunk_documents, ingest
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client

COLLECTION = "crash_test_v1"
MODEL = "multilingual-e5-small-q4"
BATCH = 4  # chunks per embed+write step: small, so the corpus needs several store batches
MAX_TOKENS = 24

_TEAMS = ("finance", "facilities", "security", "support", "payroll", "travel")
_ITEMS = ("badge requests", "laptop returns", "expense claims", "visitor passes", "shift swaps")


def corpus() -> list[Document]:
    """Four short bilingual policy notes, written for this test; every sentence differs."""
    docs = []
    for d in range(4):
        team = _TEAMS[d % len(_TEAMS)]
        lines = []
        for s in range(3):
            item = _ITEMS[(d + s) % len(_ITEMS)]
            lines.append(f"Note {d}.{s}: the {team} team answers {item} within {s + 2} working days.")
            lines.append(f"说明 {d}.{s}：{team} 小组在 {s + 2} 个工作日内处理第 {d * 10 + s} 号申请。")
        docs.append(Document(f"policy_{d}.md", "\n\n".join(lines)))
    return docs


def corpus_records() -> list[ChunkRecord]:
    return chunk_documents(corpus(), "tokens", max_tokens=MAX_TOKENS)


class HashEmbedder:
    """A deterministic stand-in without a server: a seeded unit vector per text.

    Each call takes about as long as a Chroma write (`delay_s`), so a kill lands inside a write
    about half of the time, instead of almost always inside an embedding request.
    """

    model_id = "hash-fake-384"
    dim = 384

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def embed(self, texts: Sequence[str], progress=None) -> np.ndarray:
        """float32 (len(texts), 384), rows L2-normalised."""
        time.sleep(self.delay_s)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            rows.append(np.random.default_rng(seed).normal(size=self.dim))
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def make_embedder(url: str, cache_path: str) -> CachedEmbedder | HashEmbedder:
    """The real stand-in server through the cache (as the app does), or HashEmbedder for url "hash"."""
    if url == "hash":
        return HashEmbedder(delay_s=0.04)
    # One request at a time, like a single ingestion in the app, so batches finish in order.
    return CachedEmbedder(OpenAICompatibleEmbedder(url, MODEL, max_concurrency=1), EmbeddingCache(cache_path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", required=True, help="Chroma directory")
    parser.add_argument("--url", required=True, help="embedding server base URL (…/v1), or 'hash'")
    parser.add_argument("--cache", required=True, help="embedding cache file")
    args = parser.parse_args(argv)

    embedder = make_embedder(args.url, args.cache)
    store = ChromaStore(open_client(path=args.path))
    store.create(CollectionSpec(COLLECTION, embedder.model_id, embedder.dim))
    records = corpus_records()
    print(f"chunks {len(records)}", flush=True)

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "writing":
            print(f"stored {done}", flush=True)

    report = ingest(store, COLLECTION, embedder, records, progress=progress, batch_size=BATCH)
    print(f"done {report.summary()}", flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
