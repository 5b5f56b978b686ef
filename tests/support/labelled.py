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
