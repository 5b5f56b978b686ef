"""A deterministic stand-in model for retrieval tests: a text's vector is the normalised sum of
seeded random vectors of its words, so texts sharing words are similar."""

from __future__ import annotations

import hashlib
import re

import numpy as np


class WordEmbedder:
    """Embeds like a model (the Embedder protocol) and records every call in `calls`."""

    model_id = "word-vectors@test"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts, progress=None) -> np.ndarray:
        """float32 (len(texts), 64), rows L2-normalised."""
        self.calls.append(list(texts))
        rows = np.zeros((len(texts), self.dim))
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                rows[i] += np.random.default_rng(seed).normal(size=self.dim)
        if progress:
            progress(len(texts), len(texts))
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
