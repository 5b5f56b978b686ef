"""A small hand-made labelled set and a deterministic fake embedder for evaluation tests."""

from __future__ import annotations

import hashlib

import numpy as np

from embedlab.evaluation.datasets import Document, LabelledSet, Query


class HashEmbedder:
    """Deterministic fake: each distinct text gets a fixed random unit vector; records what it embeds."""

    model_id = "hash-fake"
    dim = 48

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts, progress=None) -> np.ndarray:
        """float32 (len(texts), 48), rows L2-normalised."""
        self.seen.extend(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=self.dim)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


def small_set(unmatched_query: bool = False) -> LabelledSet:
    """Six IT-policy documents and three graded queries; `unmatched_query` adds "zebra", which
    shares no word with any document (BM25 retrieves nothing for it)."""
    docs = tuple(Document(f"d{i}", text) for i, text in enumerate(
        ["Password length is at least twelve characters.", "VPN sessions end after thirty idle minutes.",
         "Penetration tests need written approval from security.", "Vulnerability scanners approved for use.",
         "Backups run every night and are tested quarterly.", "Visitors sign in at reception."]))
    queries = (
        Query("q1", "how long must a password be", {"d0": 1}),
        Query("q2", "who approves a penetration test", {"d2": 2, "d3": 1}),
        Query("q3", "are backups tested", {"d4": 1}),
    ) + ((Query("q4", "zebra", {"d5": 1}),) if unmatched_query else ())
    return LabelledSet("small", docs, queries)


HANDBOOK = "Engineering handbook (English / mixed)"  # a bundled labelled set
HANDBOOK_TASK = "Given an engineer's question, retrieve handbook passages that answer it"


def fill_with_set(data_dir: str, name: str, base_url: str, dataset: str = HANDBOOK, task: str = HANDBOOK_TASK,
                  model: str = "multilingual-e5-small-q4") -> None:
    """A collection `name` in the embedded Chroma of the data directory `data_dir` holding each
    document of the bundled set `dataset` as one chunk whose source is the document's id (as Search
    names the lines of an uploaded JSONL corpus), embedded by the server at `base_url`, with `task`
    as the instruction of its queries."""
    from embedlab.backends import OpenAICompatibleEmbedder
    from embedlab.evaluation.datasets import load_bundled
    from embedlab.stores.base import CollectionSpec
    from embedlab.stores.chroma import ChromaStore, open_client

    data = load_bundled(dataset)
    vectors = OpenAICompatibleEmbedder(base_url, model).embed([d.text for d in data.documents])
    store = ChromaStore(open_client(path=f"{data_dir}/chroma"))
    store.create(CollectionSpec(name, model, vectors.shape[1], "handbook", task))
    store.upsert(name, model, [f"{d.id}#0" for d in data.documents], [d.text for d in data.documents],
                 [{"source": d.id, "chunk": 0} for d in data.documents], vectors)
    store.close()
